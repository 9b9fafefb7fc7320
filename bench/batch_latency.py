"""Interactive latency while a batch runs: time to first token with and without a Batch API job in the engine.

    python -m bench.batch_latency [--model DIR] [--batch-concurrency 8,32] [--interactive 40] [--json out.json]

For each ``--batch-concurrency`` it starts ``ocr-gateway serve`` on 127.0.0.1 and measures streamed
interactive requests (one image each) alone, then while a large batch is in progress, then alone again after
cancelling the batch. Reports TTFT p50/p95 for both and the batch's own throughput meanwhile. Without
``--model`` it uses the tiny random checkpoint (then the numbers show scheduling and gateway overhead, not a
GPU's compute).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from bench.load import streamed_turn
from tests.images import image_part, make_image
from tests.servers import TINY_ENGINE_ARGS, start_gateway, stop_gateway

MODEL = "bench"


def _messages(seed: int) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [image_part(make_image(256, 256, seed=seed)), {"type": "text", "text": "Extract the text."}],
        }
    ]


async def ttft(client: AsyncOpenAI, seed: int, max_tokens: int) -> float:
    return (await streamed_turn(client, MODEL, _messages(seed), max_tokens)).ttft * 1e3


async def interactive(client: AsyncOpenAI, requests: int, concurrency: int, max_tokens: int) -> list[float]:
    gate = asyncio.Semaphore(concurrency)

    async def one(seed: int) -> float:
        async with gate:
            return await ttft(client, 5000 + seed, max_tokens)

    return list(await asyncio.gather(*(one(seed) for seed in range(requests))))


def summary(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "ttft_p50_ms": statistics.median(times),
        "ttft_p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "requests": len(times),
    }


def batch_file(requests: int, max_tokens: int) -> bytes:
    lines = [
        {
            "custom_id": f"bulk-{n}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": _messages(n), "max_tokens": max_tokens, "temperature": 0},
        }
        for n in range(requests)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


async def measure(base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600) as client:
        await interactive(client, 20, args.clients, args.max_tokens)  # warm-up
        alone = await interactive(client, args.interactive, args.clients, args.max_tokens)
        uploaded = await client.files.create(
            file=("bulk.jsonl", io.BytesIO(batch_file(args.batch_requests, args.batch_max_tokens))), purpose="batch"
        )
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        while (current := await client.batches.retrieve(batch.id)).request_counts is None or (
            current.request_counts.completed < 8
        ):
            await asyncio.sleep(0.2)
        started, done_before = time.perf_counter(), current.request_counts.completed
        during = summary(await interactive(client, args.interactive, args.clients, args.max_tokens))
        current = await client.batches.retrieve(batch.id)
        assert current.request_counts is not None and current.status == "in_progress", "the batch ran out"
        elapsed = time.perf_counter() - started
        during["batch_requests_per_s"] = (current.request_counts.completed - done_before) / elapsed
        await client.batches.cancel(batch.id)
        while (await client.batches.retrieve(batch.id)).status != "cancelled":
            await asyncio.sleep(0.2)
        # Alone is measured before and after the batch, so drift on a shared machine weighs on both sides.
        alone += await interactive(client, args.interactive, args.clients, args.max_tokens)
        return {"alone": summary(alone), "with_batch": during}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--batch-concurrency", default="8", help="comma-separated values, one gateway each")
    parser.add_argument("--interactive", type=int, default=200, help="interactive requests per measurement")
    parser.add_argument("--clients", type=int, default=2, help="interactive requests in flight at once")
    parser.add_argument("--max-tokens", type=int, default=16, help="of each interactive request")
    parser.add_argument("--batch-requests", type=int, default=2000)
    parser.add_argument("--batch-max-tokens", type=int, default=64)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    if args.model is None:
        from tests.tiny_checkpoint import build

        args.model = build(workdir / "tiny")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    results: dict[str, Any] = {}
    for share in args.batch_concurrency.split(","):
        process, root_url = start_gateway(
            str(args.model),
            workdir / f"server-{share}.log",
            *TINY_ENGINE_ARGS,
            "--kv-cache-gb",
            "2",
            "--batch-concurrency",
            share,
            served_name=MODEL,
            timeout=600,
        )
        try:
            results[share] = asyncio.run(measure(f"{root_url}/v1", args))
        finally:
            stop_gateway(process)
    print("| --batch-concurrency | TTFT p50 alone | p95 alone | TTFT p50 with batch | p95 with batch | batch req/s |")
    print("|---|---|---|---|---|---|")
    for share, result in results.items():
        alone, during = result["alone"], result["with_batch"]
        print(
            f"| {share} | {alone['ttft_p50_ms']:.0f} ms | {alone['ttft_p95_ms']:.0f} ms "
            f"| {during['ttft_p50_ms']:.0f} ms | {during['ttft_p95_ms']:.0f} ms "
            f"| {during['batch_requests_per_s']:.1f} |"
        )
    print(json.dumps(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
