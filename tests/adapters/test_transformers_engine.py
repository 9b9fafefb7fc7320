"""The transformers engine in-process on the tiny checkpoint: batching, cancellation, sampling options, refusals."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import aclosing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from adapters.engine import EngineRequest, SamplingOptions, Turn
from adapters.errors import PromptTooLong, RequestRejected
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from adapters.transformers_engine import TransformersEngine
from gateway.config import EngineSettings
from gateway.errors import from_engine_error
from tests.images import make_image
from tests.waiting import wait_until_async


@dataclass
class Running:
    """The engine on its own event loop (in a thread), and a way to run coroutines there."""

    engine: TransformersEngine
    prompts: HunyuanPromptBuilder
    run: Callable[[Coroutine[Any, Any, Any]], Any]

    def request(self, *parts: str | Image.Image, **sampling: Any) -> EngineRequest:
        budget = self.prompts.image_budget()
        sized = [
            part.resize(budget.target_size(*part.size)) if isinstance(part, Image.Image) else part for part in parts
        ]
        prompt = self.prompts.build([Turn("user", sized)])
        options = SamplingOptions(**{"max_tokens": 16, "temperature": 0.0, **sampling})
        options = replace(options, stop_token_ids=self.prompts.stop_token_ids)
        return EngineRequest(f"req-{time.monotonic_ns()}", prompt.text, prompt.images, options)


@pytest.fixture(scope="module")
def running(tiny_checkpoint: Path, prompts: HunyuanPromptBuilder) -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=120)

    settings = EngineSettings(model=str(tiny_checkpoint), dtype="float32", max_model_len=8192, torch_threads=1)
    engine = TransformersEngine(settings, str(tiny_checkpoint))
    run(engine.start())
    try:
        yield Running(engine, prompts, run)
    finally:
        run(engine.shutdown())
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def collect(engine: TransformersEngine, request: EngineRequest) -> tuple[tuple[str, ...], tuple[Any, ...], int]:
    """(text per choice, finish reason per choice, completion tokens)."""
    texts, reasons, tokens = [""] * request.sampling.n, [None] * request.sampling.n, 0
    async for output in engine.generate(request):
        for delta in output.choices:
            texts[delta.index] += delta.text
            reasons[delta.index] = delta.finish_reason or reasons[delta.index]
            tokens += delta.num_tokens
    return tuple(texts), tuple(reasons), tokens


async def logprobs(engine: TransformersEngine, request: EngineRequest) -> list[float]:
    """The chosen tokens' log-probabilities (ask with ``logprobs=0``)."""
    return [
        token.logprob
        async for output in engine.generate(request)
        for delta in output.choices
        for token in delta.logprobs or []
    ]


def in_one_batch(running: Running, read: Any, requests: list[EngineRequest]) -> list[Any]:
    """``read(engine, request)`` for all ``requests`` at once, sure to run as one batch (checked): they queue
    behind a long request, which is cancelled once they all wait. (A few milliseconds of batching window
    cannot promise that on a loaded machine.)"""
    engine = running.engine
    # This prompt runs to max_tokens without stopping on its own.
    long = running.request(make_image(100, 100, seed=7), "Go on.", max_tokens=4000)

    async def together() -> list[Any]:
        async with aclosing(engine.generate(long)) as outputs:
            await anext(outputs)
            results = asyncio.gather(*(read(engine, request) for request in requests))
            await wait_until_async(lambda: engine.stats().waiting >= len(requests), 60, "the requests to queue")
        await wait_until_async(
            lambda: results.done() or engine.stats().running == len(requests), 60, "the queued requests to run"
        )
        assert not results.done()  # they all ran at once, not one after another
        return list(await results)

    return list(running.run(together()))


def test_requests_that_arrive_together_share_a_batch_and_answer_as_if_alone(running: Running) -> None:
    requests = [
        running.request("What can you read?"),
        running.request(make_image(64, 200, seed=1), "Extract the text."),
        running.request(make_image(120, 90, seed=2), make_image(40, 300, seed=3), "Both pages."),
        running.request(make_image(90, 90, seed=4), "Short.", max_tokens=5),
        running.request(make_image(90, 90, seed=5), "Penalised.", repetition_penalty=1.4, frequency_penalty=0.3),
        running.request(make_image(150, 60, seed=6), "Stopped.", stop=["q", "Y", "3"]),
    ]
    alone = [running.run(collect(running.engine, request)) for request in requests]
    assert in_one_batch(running, collect, requests) == alone
    assert len({texts for texts, _, _ in alone}) == len(requests)


def test_batched_prompts_get_the_logits_they_get_alone(running: Running) -> None:
    # Regression: transformers numbered images across the batch in RoPE, shifting every prompt after the first
    # by about 0.01 — too little to change most greedy answers, enough to change some.
    requests = [
        running.request(make_image(32, 256, seed=10), "First."),
        running.request(make_image(192, 192, seed=11), make_image(64, 64, seed=12), "Second."),
        running.request("Third, no image."),
        running.request(make_image(192, 192, seed=13), "Fourth."),
    ]
    requests = [replace(request, sampling=replace(request.sampling, logprobs=0)) for request in requests]
    alone = [running.run(logprobs(running.engine, request)) for request in requests]
    for batched, single in zip(in_one_batch(running, logprobs, requests), alone, strict=True):
        assert batched == pytest.approx(single, abs=1e-4)  # padding changes float rounding, not more


def test_cancelled_request_stops_generating_and_its_batch_mate_finishes(running: Running) -> None:
    engine = running.engine
    long = running.request(make_image(100, 100, seed=7), "Go on.", max_tokens=8000)
    short = running.request(make_image(80, 120, seed=8), "Short.")
    expected = running.run(collect(engine, short))

    async def cancel_after_two_outputs() -> Any:
        async def read_two() -> None:
            async with aclosing(engine.generate(long)) as outputs:
                for _ in range(2):
                    await anext(outputs)

        results = await asyncio.gather(read_two(), collect(engine, short))
        await wait_until_async(lambda: not engine.num_unfinished_requests(), 60, "the engine to finish its batch")
        return results[1]

    # Decoding steps, not seconds, tell a row that stopped from one that ran on: one forward pass per step.
    steps: list[None] = []
    hook = engine._model.register_forward_hook(lambda *_: steps.append(None))
    try:
        answer = running.run(cancel_after_two_outputs())
    finally:
        hook.remove()
    assert answer == expected
    assert len(steps) < 100  # the short answer's 16 tokens and a few more, where the cancelled row ran on for 8,000
    assert running.run(collect(engine, short)) == expected  # and the engine keeps serving


def test_a_seed_makes_sampled_choices_reproducible(running: Running) -> None:
    request = running.request(make_image(96, 96, seed=9), "Sample.", temperature=1.0, top_p=0.9, seed=7, n=3)
    first = running.run(collect(running.engine, request))
    assert running.run(collect(running.engine, replace(request, request_id="again"))) == first
    assert len(set(first[0])) > 1  # the choices are separate samples
    assert first[2] == 3 * 16


def test_json_output_is_refused_with_a_clear_400(running: Running) -> None:
    request = running.request("Give JSON.", json_schema={"type": "object"})
    with pytest.raises(RequestRejected, match="does not support constrained decoding") as raised:
        running.run(collect(running.engine, request))
    assert from_engine_error(raised.value).status_code == 400 and raised.value.param == "response_format"


def test_greedy_request_for_several_choices_is_refused_like_vllm(running: Running) -> None:
    with pytest.raises(RequestRejected, match="n must be 1"):
        running.run(collect(running.engine, running.request("Twice.", n=2)))


def test_more_tokens_than_the_context_holds_is_a_context_length_error(running: Running) -> None:
    with pytest.raises(PromptTooLong):
        running.run(collect(running.engine, running.request("Long.", max_tokens=8192)))


def test_image_the_processor_rejects_is_a_400(running: Running) -> None:
    prompt = running.prompts.build([Turn("user", [make_image(32, 32, seed=1), "Read."])])
    sliver = Image.new("RGB", (32 * 250, 32))  # past the processor's aspect-ratio limit
    request = EngineRequest("sliver", prompt.text, [sliver], SamplingOptions(max_tokens=4, temperature=0.0))
    with pytest.raises(RequestRejected):
        running.run(collect(running.engine, request))


def test_the_checkpoints_decoding_defaults_fill_only_what_a_request_leaves_out(
    running: Running, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    # A checkpoint whose generation_config.json sets a repetition penalty (as real ones do).
    checkpoint = tmp_path / "penalised"
    shutil.copytree(tiny_checkpoint, checkpoint)
    config_path = checkpoint / "generation_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "repetition_penalty": 1.5}))
    settings = EngineSettings(model=str(checkpoint), dtype="float32", max_model_len=8192, torch_threads=1)
    penalised = TransformersEngine(settings, str(checkpoint))
    running.run(penalised.start())
    try:
        image = make_image(120, 90, seed=11)
        neutral = running.request(image, "Read it.", max_tokens=40, repetition_penalty=1.0)
        unset = running.request(image, "Read it.", max_tokens=40)
        plain = running.run(collect(running.engine, neutral))
        assert running.run(collect(penalised, neutral)) == plain  # asked for 1.0: no penalty at all
        assert running.run(collect(penalised, unset)) == running.run(
            collect(running.engine, replace(unset, sampling=replace(unset.sampling, repetition_penalty=1.5)))
        )  # left out: the checkpoint's 1.5, applied once
    finally:
        running.run(penalised.shutdown())
