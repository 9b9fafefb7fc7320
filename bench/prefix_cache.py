"""Prefix caching on vs off, measured on two workloads in one run.

    python -m bench.prefix_cache [--model DIR] [--requests 24] [--concurrency 4] [--json out.json]

1. single-shot OCR of distinct images (what vLLM's HunyuanOCR recipe optimises for: it turns caching off);
2. three-turn conversations about one image, as chat UIs send them (the whole history, image included, again
   on every turn).
For each setting it starts ``ocr-gateway serve`` on 127.0.0.1, drives it with the openai client and reports
requests/s, time to first token per turn, and the prompt tokens served from the cache. Without ``--model``
it builds the tiny random checkpoint (compute is negligible there, so the numbers show the cache's own
overhead and savings in the engine, not a GPU's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from bench.load import streamed_turn
from tests.images import image_part, make_image
from tests.servers import TINY_ENGINE_ARGS, start_gateway, stop_gateway

PAGES_PER_REQUEST = 3  # several KV-cache blocks of image tokens per prompt


def start_server(model: Path, caching: bool, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    switch = "--enable-prefix-caching" if caching else "--no-enable-prefix-caching"
    process, root_url = start_gateway(
        str(model),
        log,
        *TINY_ENGINE_ARGS,
        "--kv-cache-gb",
        "2",
        switch,
        served_name="bench",
        timeout=600,
    )
    return process, f"{root_url}/v1"


def pages(seed: int) -> list[dict[str, Any]]:
    return [image_part(make_image(256, 256, seed=seed * 10 + page)) for page in range(PAGES_PER_REQUEST)]


async def single_shot(client: AsyncOpenAI, requests: int, concurrency: int) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)

    async def one(seed: int) -> float:
        async with gate:
            content = [*pages(1000 + seed), {"type": "text", "text": "Extract all text in this image."}]
            return (await streamed_turn(client, "bench", [{"role": "user", "content": content}], 16)).ttft

    started = time.perf_counter()
    ttfts = await asyncio.gather(*(one(seed) for seed in range(requests)))
    return {"requests_per_s": requests / (time.perf_counter() - started), "ttft_p50_ms": statistics.median(ttfts) * 1e3}


async def conversations(client: AsyncOpenAI, count: int, concurrency: int) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)
    follow_ups = ["Now translate it into English.", "Give me the total as JSON with the field total."]

    async def one(seed: int) -> list[tuple[float, int]]:
        async with gate:
            messages = [{"role": "user", "content": [*pages(seed), {"type": "text", "text": "Extract all text."}]}]
            turns = []
            for follow_up in [None, *follow_ups]:
                if follow_up:
                    messages += [{"role": "user", "content": follow_up}]
                turn = await streamed_turn(client, "bench", messages, 16)
                turns.append((turn.ttft, turn.cached_tokens))
                messages += [{"role": "assistant", "content": turn.answer}]
            return turns

    started = time.perf_counter()
    results = await asyncio.gather(*(one(seed) for seed in range(count)))
    elapsed = time.perf_counter() - started
    first = [turns[0][0] for turns in results]
    later = [ttft for turns in results for ttft, _ in turns[1:]]
    return {
        "turns_per_s": 3 * count / elapsed,
        "first_turn_ttft_p50_ms": statistics.median(first) * 1e3,
        "follow_up_ttft_p50_ms": statistics.median(later) * 1e3,
        "follow_up_over_first_ttft": statistics.median(later) / statistics.median(first),
        "follow_up_cached_tokens_mean": statistics.mean(cached for turns in results for _, cached in turns[1:]),
    }


async def measure(base_url: str, requests: int, concurrency: int) -> dict[str, Any]:
    async with AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600) as client:
        await single_shot(client, 2, 2)  # warm-up
        return {
            "single_shot": await single_shot(client, requests, concurrency),
            "conversation": await conversations(client, max(requests // 3, 2), concurrency),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-prefix-"))
    if args.model is None:
        from tests.tiny_checkpoint import build

        args.model = build(workdir / "tiny")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    results: dict[str, Any] = {}
    for caching in (True, False):
        process, base_url = start_server(args.model, caching, workdir / f"server-{caching}.log")
        try:
            results["on" if caching else "off"] = asyncio.run(measure(base_url, args.requests, args.concurrency))
        finally:
            stop_gateway(process)
    print("| workload | metric | caching on | caching off |")
    print("|---|---|---|---|")
    for workload in ("single_shot", "conversation"):
        for metric, on_value in results["on"][workload].items():
            print(f"| {workload} | {metric} | {on_value:.3f} | {results['off'][workload][metric]:.3f} |")
    print(json.dumps(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
