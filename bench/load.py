"""The one load generator every system in ``bench.compare`` is driven with, and its summary statistics.

A *sender* runs one request and reports when its first token and its last byte arrived; ``drive`` keeps
``concurrency`` of them in flight until all requests are done.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI

from bench.workload import KINDS, ImageKind


@dataclass(frozen=True)
class Sample:
    ttft: float  # seconds from sending to the first content token
    latency: float  # seconds from sending to the end of the answer
    completion_tokens: int
    prompt_tokens: int
    cached_tokens: int = 0
    answer: str = ""


Sender = Callable[[int], Awaitable[Sample]]  # request index → its sample
# (image kind, image index, the first answer for a follow-up turn or None) → (sample, answer text)
Asker = Callable[[ImageKind, int, str | None], Awaitable[tuple[Sample, str]]]


async def drive(send: Sender, requests: int, concurrency: int) -> tuple[list[Sample], float]:
    """Run ``requests`` requests, ``concurrency`` at a time; returns the samples and the wall time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)
    samples: dict[int, Sample] = {}

    async def worker() -> None:
        while not queue.empty():
            index = queue.get_nowait()
            samples[index] = await send(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [samples[index] for index in range(requests)], time.perf_counter() - started


async def streamed_turn(client: AsyncOpenAI, model: str, messages: list[dict[str, Any]], max_tokens: int) -> Sample:
    """One greedy chat turn, streamed through the official client and timed as a user feels it."""
    started, first, text, usage = time.perf_counter(), None, [], None
    stream = await client.chat.completions.create(
        model=model,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter()
            text.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    ended = time.perf_counter()
    assert usage is not None, "the server sent no usage"
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details else 0
    return Sample(
        (first or ended) - started, ended - started, usage.completion_tokens, usage.prompt_tokens, cached, "".join(text)
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summarize(samples: list[Sample], wall: float) -> dict[str, Any]:
    ttfts = [sample.ttft for sample in samples]
    latencies = [sample.latency for sample in samples]
    output_tokens = sum(sample.completion_tokens for sample in samples)
    return {
        "requests": len(samples),
        "wall_s": round(wall, 3),
        "req_per_s": round(len(samples) / wall, 3),
        "output_tok_per_s": round(output_tokens / wall, 1),
        "completion_tokens": output_tokens,
        "prompt_tokens_mean": round(statistics.fmean(sample.prompt_tokens for sample in samples), 1),
        "ttft_p50_ms": round(percentile(ttfts, 0.5) * 1000, 1),
        "ttft_p95_ms": round(percentile(ttfts, 0.95) * 1000, 1),
        "latency_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "latency_p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        # Same requests, greedy: systems that did the same work have the same digest.
        "answers_sha256": hashlib.sha256("\x00".join(sample.answer for sample in samples).encode()).hexdigest()[:16],
    }


async def run_plan(plan: dict[str, Any], ask: Asker) -> dict[str, Any]:
    """Warm-up, the measured cells, then first turn vs follow-up; ``ask(kind, index, answer)`` sends one turn.

    Shared with the HTTP systems, so every system gets exactly the same sequence."""

    def first_turn(kind: ImageKind, offset: int) -> Sender:
        async def send(index: int) -> Sample:
            return (await ask(kind, offset + index))[0]

        return send

    for name in plan["kinds"]:
        await drive(first_turn(KINDS[name], 10_000), plan["warmup"], min(4, plan["warmup"]))
    cells = []
    for offset, cell in enumerate(plan["cells"]):
        samples, wall = await drive(
            first_turn(KINDS[cell["kind"]], offset * 1000), cell["requests"], cell["concurrency"]
        )
        cells.append({**cell, **summarize(samples, wall)})
    firsts, follow_ups = [], []
    for index in range(plan["follow_ups"]):
        first, answer = await ask(KINDS["screenshot"], 20_000 + index, None)
        second, _ = await ask(KINDS["screenshot"], 20_000 + index, answer)
        firsts.append(first)
        follow_ups.append(second)
    return {"cells": cells, "follow_up": follow_up_summary(firsts, follow_ups)}


def follow_up_summary(firsts: list[Sample], follow_ups: list[Sample]) -> dict[str, Any]:
    if not firsts:
        return {}
    first_ms = sorted(sample.ttft for sample in firsts)[len(firsts) // 2] * 1000
    follow_ms = sorted(sample.ttft for sample in follow_ups)[len(follow_ups) // 2] * 1000
    prompt = sum(sample.prompt_tokens for sample in follow_ups)
    return {
        "turns": len(firsts),
        "first_ttft_p50_ms": round(first_ms, 1),
        "follow_up_ttft_p50_ms": round(follow_ms, 1),
        "ttft_ratio": round(follow_ms / first_ms, 3),
        "follow_up_cache_hit_rate": round(sum(sample.cached_tokens for sample in follow_ups) / max(prompt, 1), 3),
    }
