"""``--engine fixed-latency``: a set sleep per request, a deterministic short answer, and its runs counted."""

from __future__ import annotations

import asyncio
import time

import pytest
from PIL import Image

from adapters.engine import Engine, EngineOutput, EngineRequest, SamplingOptions, Turn
from adapters.errors import EngineDown
from adapters.fixed_latency_engine import FixedLatencyEngine, FixedLatencyPromptBuilder
from gateway.cli import build_parser, settings_from_args
from gateway.cli.engines import create_engine
from prompts.spotting import parse_spotting


def request(prompt: str = "Page 1.", *, task: str | None = None, max_tokens: int | None = None) -> EngineRequest:
    return EngineRequest("r1", prompt, [Image.new("RGB", (8, 8))], SamplingOptions(max_tokens=max_tokens), task=task)


async def run(engine: FixedLatencyEngine, engine_request: EngineRequest) -> list[EngineOutput]:
    return [output async for output in engine.generate(engine_request)]


async def started(latency: float = 0.0) -> FixedLatencyEngine:
    engine = FixedLatencyEngine(latency)
    await engine.start()
    return engine


def runs(engine: FixedLatencyEngine, task: str) -> float:
    return engine.runs.labels(task)._value.get()


def test_honours_the_engine_protocol() -> None:
    assert isinstance(FixedLatencyEngine(0.1), Engine)


def test_the_same_request_gets_the_same_short_answer() -> None:
    async def scenario() -> tuple[str, str, str]:
        engine = await started()
        first, again, other = [
            (await run(engine, request(p)))[0].choices[0].text for p in ("Page 1.", "Page 1.", "Page 2.")
        ]
        return first, again, other

    first, again, other = asyncio.run(scenario())
    assert first == again != other and first.startswith("Text ") and first.endswith(" of 1 images.")


def test_requests_sleep_the_latency_side_by_side() -> None:
    async def scenario() -> float:
        engine = await started(0.3)
        begun = time.monotonic()
        await asyncio.gather(*(run(engine, request(f"Page {n}.")) for n in range(20)))
        return time.monotonic() - begun

    assert 0.3 <= asyncio.run(scenario()) < 1.0


def test_every_run_is_counted_by_task() -> None:
    async def scenario() -> FixedLatencyEngine:
        engine = await started()
        for task in (None, None, "spotting"):
            await run(engine, request(task=task))
        return engine

    engine = asyncio.run(scenario())
    assert (runs(engine, "none"), runs(engine, "spotting")) == (2, 1)
    assert engine.metric_collectors() == [engine.runs]


def test_spotting_answers_one_box_the_gateway_parses() -> None:
    output = asyncio.run(_spot())
    boxes = parse_spotting(output, 1000, 1000)
    assert len(boxes) == 1 and boxes[0].text.startswith("Text ")


async def _spot() -> str:
    engine = await started()
    return (await run(engine, request(task="spotting")))[0].choices[0].text


def test_max_tokens_cuts_the_answer_in_words() -> None:
    outputs = asyncio.run(_cut())
    choice = outputs[0].choices[0]
    assert choice.text.count(" ") == 1 and choice.num_tokens == 2 and choice.finish_reason == "length"


async def _cut() -> list[EngineOutput]:
    return await run(await started(), request(max_tokens=2))


def test_a_stopped_engine_refuses() -> None:
    with pytest.raises(EngineDown):
        asyncio.run(run(FixedLatencyEngine(0), request()))


def test_prompt_builder_keeps_the_words_and_images_in_order() -> None:
    image = Image.new("RGB", (4, 4))
    prompt = FixedLatencyPromptBuilder("1.5").build([Turn("user", [image, "Read it."])])
    assert prompt.text == "Read it." and prompt.images == [image]


def test_cli_serves_it_with_the_latency_asked_for() -> None:
    args = build_parser().parse_args(["serve", "--engine", "fixed-latency", "--fixed-latency-ms", "250"])
    engine, prompts = create_engine(settings_from_args(args))
    assert isinstance(engine, FixedLatencyEngine) and engine.latency == 0.25
    assert engine.info.engine == "fixed-latency" and prompts.model_config["prompt_set"] == "1.5"
