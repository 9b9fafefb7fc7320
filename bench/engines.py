"""Decode throughput of the engines themselves, side by side: vLLM vs transformers ``generate``.

    python -m bench.engines [--model DIR] [--engines vllm transformers] [--concurrency 1 8]
                            [--requests 64] [--max-tokens 64] [--json out.json]

Each engine is created in this process exactly as ``ocr-gateway serve --engine NAME`` creates it
(``gateway.engines.create_engine``) and fed the same greedy one-image OCR requests, ``--concurrency`` at a
time; no HTTP. Reports completion tokens/s and requests/s per engine and concurrency. Without ``--model`` it
builds the tiny random checkpoint: there the model's compute is negligible, so the numbers measure each
engine's own per-step and scheduling overhead, not a GPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

from adapters.engine import Engine, EngineRequest, SamplingOptions, Turn
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.cli.engines import create_engine
from gateway.config import EngineSettings, Settings
from tests.images import make_image


def engine_settings(model: Path, torch_threads: int) -> EngineSettings:
    """The tiny checkpoint's serving flags (tests/servers.py TINY_ENGINE_ARGS), small KV cache, no compile."""
    return EngineSettings(
        model=str(model),
        dtype="float32",
        max_model_len=8192,
        enforce_eager=True,
        kv_cache_gb=1,
        torch_threads=torch_threads,
    )


def ocr_requests(prompts: HunyuanPromptBuilder, count: int, max_tokens: int) -> list[EngineRequest]:
    budget = prompts.image_budget()
    requests = []
    for index in range(count):
        image = make_image(200 + index % 5 * 11, 180, seed=index)
        prompt = prompts.build([Turn("user", [image.resize(budget.target_size(*image.size)), "Extract the text."])])
        sampling = SamplingOptions(max_tokens=max_tokens, temperature=0.0, stop_token_ids=prompts.stop_token_ids)
        requests.append(EngineRequest(f"bench-{index}", prompt.text, prompt.images, sampling))
    return requests


async def drive(engine: Engine, requests: list[EngineRequest], concurrency: int) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)

    async def one(request: EngineRequest) -> int:
        async with gate, aclosing(engine.generate(request)) as outputs:
            return sum([delta.num_tokens async for output in outputs for delta in output.choices])

    started = time.perf_counter()
    tokens = sum(await asyncio.gather(*(one(request) for request in requests)))
    seconds = time.perf_counter() - started
    return {"tokens_per_s": tokens / seconds, "requests_per_s": len(requests) / seconds, "tokens": tokens}


async def bench_engine(name: str, settings: EngineSettings, args: argparse.Namespace) -> dict[str, Any]:
    engine, prompts = create_engine(Settings(engine=settings, engine_kind=name))
    await engine.start()
    try:
        requests = ocr_requests(prompts, args.requests, args.max_tokens)
        await drive(engine, requests[:2], 2)  # warm-up
        return {str(c): await drive(engine, requests, c) for c in args.concurrency}
    finally:
        await engine.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="checkpoint folder (default: build the tiny checkpoint)")
    parser.add_argument("--engines", nargs="+", default=["vllm", "transformers"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--torch-threads", type=int, default=1, help="transformers engine threads per op")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model
        if model is None:
            from tests.tiny_checkpoint import build

            model = build(Path(scratch) / "tiny")
        settings = engine_settings(model, args.torch_threads)
        results = {name: asyncio.run(bench_engine(name, settings, args)) for name in args.engines}
    print(f"{'engine':<14}{'concurrency':>12}{'tokens/s':>12}{'requests/s':>12}")
    for name, by_concurrency in results.items():
        for concurrency, numbers in by_concurrency.items():
            print(f"{name:<14}{concurrency:>12}{numbers['tokens_per_s']:>12.0f}{numbers['requests_per_s']:>12.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
