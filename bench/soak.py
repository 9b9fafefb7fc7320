"""Soak test: many concurrent clients, mixed valid and invalid requests, for a bounded time.

    python -m bench.soak [--clients 64] [--duration 300] [--base-url URL --pid PID] [--json out.json]

Without ``--base-url`` it starts ``ocr-gateway serve`` on the tiny checkpoint (127.0.0.1 only). Each client
loops until the deadline over: OCR requests (JSON and streamed), streams it abandons after two chunks, and
invalid requests (broken image, unknown model, empty messages). Reported: completed, rejected (429),
refused-as-invalid (4xx, expected), failed (5xx, transport errors, or a valid request not answered), latency
percentiles of valid requests, and the server's RSS (all its processes) at start and end. Target: 0 failed,
RSS growth < 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.images import data_url, image_part, make_image
from tests.servers import TINY_ENGINE_ARGS, start_gateway, stop_gateway

IMAGES = [image_part(make_image(60 + 20 * index, 200 - 10 * index, seed=index)) for index in range(8)]
KINDS = ("complete", "stream", "abandon", "bad_image", "bad_model", "empty")


def server_rss(pid: int) -> dict[str, float]:
    """RSS in MiB of the server and each of its processes (API server, engine core, worker)."""
    root = psutil.Process(pid)
    per_process = {f"{p.pid}:{p.name()}": p.memory_info().rss / 2**20 for p in [root, *root.children(recursive=True)]}
    return {"total": sum(per_process.values()), **per_process}


def body(kind: str, rng: random.Random, model: str) -> dict[str, Any]:
    content = [rng.choice(IMAGES), {"type": "text", "text": "Extract all text in this image."}]
    base = {
        "model": model,
        "max_tokens": rng.randint(4, 48),
        "temperature": 0,
        "messages": [{"role": "user", "content": content}],
    }
    if kind in ("stream", "abandon"):
        return {**base, "stream": True}
    if kind == "bad_image":
        return {
            **base,
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": data_url(b"not an image at all")}}],
                }
            ],
        }
    if kind == "bad_model":
        return {**base, "model": "no-such-model"}
    if kind == "empty":
        return {**base, "messages": []}
    return base


async def one_request(client: httpx.AsyncClient, kind: str, payload: dict[str, Any]) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        if kind in ("stream", "abandon"):
            async with client.stream("POST", "/v1/chat/completions", json=payload) as response:
                if response.status_code != 200:
                    return _outcome(kind, response.status_code), time.perf_counter() - started
                lines, done = 0, False
                async for line in response.aiter_lines():
                    lines += line.startswith("data: ")
                    done = done or line == "data: [DONE]"
                    if kind == "abandon" and lines >= 2:
                        return "abandoned", time.perf_counter() - started
                return ("completed" if done else "failed"), time.perf_counter() - started
        response = await client.post("/v1/chat/completions", json=payload)
        return _outcome(kind, response.status_code), time.perf_counter() - started
    except httpx.HTTPError:
        return "failed", time.perf_counter() - started


def _outcome(kind: str, status: int) -> str:
    if status == 429:
        return "rejected"
    if status >= 500:
        return "failed"
    valid = kind in ("complete", "stream", "abandon")
    if valid:
        return "completed" if status == 200 else "failed"
    return "invalid_refused" if 400 <= status < 500 else "failed"


async def soak(base_url: str, model: str, clients: int, duration: float, seed: int) -> dict[str, Any]:
    deadline = time.monotonic() + duration
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients + 8)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:

        async def run_client(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            while time.monotonic() < deadline:
                kind = rng.choice(KINDS)
                outcome, seconds = await one_request(client, kind, body(kind, rng, model))
                outcomes[outcome] += 1
                if outcome == "completed":
                    latencies.append(seconds)

        await asyncio.gather(*(run_client(index) for index in range(clients)))
    ordered = sorted(latencies) or [0.0]
    return {
        **{name: outcomes.get(name, 0) for name in ("completed", "abandoned", "rejected", "invalid_refused", "failed")},
        "latency_p50_ms": statistics.median(ordered) * 1e3,
        "latency_p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1e3,
        "latency_p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of the same load before RSS is taken")
    parser.add_argument("--base-url", default=None, help="a running gateway's root URL (http://127.0.0.1:PORT)")
    parser.add_argument("--pid", type=int, default=None, help="that gateway's process id, for its RSS")
    parser.add_argument("--model", default="hunyuan-ocr-tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    process = None
    if args.base_url is None:
        from tests.tiny_checkpoint import build

        workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
        checkpoint = build(workdir / "tiny")
        process, args.base_url = start_gateway(
            str(checkpoint),
            workdir / "server.log",
            *TINY_ENGINE_ARGS,
            "--kv-cache-gb",
            "2",
        )
        args.pid = process.pid
    try:
        rss_idle = server_rss(args.pid) if args.pid else {"total": 0.0}
        if args.warmup:
            asyncio.run(soak(args.base_url, args.model, args.clients, args.warmup, args.seed + 1))
        rss_start = server_rss(args.pid) if args.pid else {"total": 0.0}
        result = asyncio.run(soak(args.base_url, args.model, args.clients, args.duration, args.seed))
        rss_end = server_rss(args.pid) if args.pid else {"total": 0.0}
    finally:
        if process is not None:
            stop_gateway(process)
    growth = rss_end["total"] / rss_start["total"] - 1 if rss_start["total"] else None
    result.update(
        clients=args.clients,
        duration_s=args.duration,
        warmup_s=args.warmup,
        rss_idle_mb=rss_idle,
        rss_start_mb=rss_start,
        rss_end_mb=rss_end,
        rss_growth=growth,
    )
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
