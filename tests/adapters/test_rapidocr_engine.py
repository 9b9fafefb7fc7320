"""The rapidocr engine on its own: offline, the answers it gives, and the tasks it refuses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from rapidfuzz.distance import Levenshtein

from adapters.engine import EngineOutput, EngineRequest, SamplingOptions
from adapters.errors import RequestRejected
from adapters.rapidocr_engine import RapidOCREngine
from gateway.errors import from_engine_error
from prompts.catalog import load_prompt_set
from prompts.spotting import parse_spotting
from tests.images import render_text
from tests.offline import no_network

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian fonts-dejavu-core
LINES = ["Offline text recognition", "Invoice 2024-0815 total 99.50"]


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[RapidOCREngine, list[str]]]:
    """A started engine (HunyuanOCR 1.0 prompt set) and the network attempts made while the module runs."""
    with no_network() as attempts:
        engine = RapidOCREngine(load_prompt_set("1.0"))
        asyncio.run(engine.start())
        try:
            yield engine, attempts
        finally:
            asyncio.run(engine.shutdown())


def run(engine: RapidOCREngine, task: str | None, *, stream: bool = True, **sampling: object) -> list[EngineOutput]:
    image, _ = render_text(LINES, FONT, 28)
    request = EngineRequest("test", "Extract", [image], SamplingOptions(**sampling), stream=stream, task=task)  # type: ignore[arg-type]

    async def collect() -> list[EngineOutput]:
        return [output async for output in engine.generate(request)]

    return asyncio.run(collect())


def text_of(outputs: list[EngineOutput], index: int = 0) -> str:
    return "".join(choice.text for output in outputs for choice in output.choices if choice.index == index)


def test_reads_the_text_line_by_line_without_touching_the_network(engine: tuple[RapidOCREngine, list[str]]) -> None:
    outputs = run(engine[0], "text")
    text = text_of(outputs)
    assert Levenshtein.normalized_distance("\n".join(LINES), text) < 0.05, text
    assert len(outputs) == 2  # streamed one line per step
    assert [choice.finish_reason for output in outputs for choice in output.choices] == [None, "stop"]
    assert sum(choice.num_tokens for output in outputs for choice in output.choices) == len(text)
    assert outputs[0].prompt_tokens == len("Extract")
    assert engine[1] == [], "the engine tried to open network connections"


def test_non_streaming_request_gets_one_output_and_n_equal_choices(engine: tuple[RapidOCREngine, list[str]]) -> None:
    outputs = run(engine[0], "document", stream=False, n=2)
    assert len(outputs) == 1 and [choice.index for choice in outputs[0].choices] == [0, 1]
    assert text_of(outputs, 0) == text_of(outputs, 1) == text_of(run(engine[0], "text"))


def test_several_images_are_read_in_order_and_joined(engine: tuple[RapidOCREngine, list[str]]) -> None:
    first, _ = render_text(LINES[:1], FONT, 28)
    second, _ = render_text(LINES[1:], FONT, 28)
    request = EngineRequest("test", "", [first, second], SamplingOptions(), stream=False, task="text")

    async def collect() -> list[EngineOutput]:
        return [output async for output in engine[0].generate(request)]

    assert text_of(asyncio.run(collect())) == text_of(run(engine[0], "text")).replace("\n", "\n\n")


def test_spotting_answers_in_hunyuanocr_10_format_with_normalised_boxes(
    engine: tuple[RapidOCREngine, list[str]],
) -> None:
    image, drawn = render_text(LINES, FONT, 28)
    boxes = parse_spotting(text_of(run(engine[0], "spotting")), *image.size)
    assert [box.text for box in boxes] == LINES
    for box, expected in zip(boxes, drawn, strict=True):
        assert all(abs(found - want) <= 12 for found, want in zip(box.box, expected, strict=True)), (box, expected)


def test_stop_strings_and_max_tokens_cut_the_answer(engine: tuple[RapidOCREngine, list[str]]) -> None:
    first_line = text_of(run(engine[0], "text", stop=["\n"]))
    assert "\n" not in first_line and first_line.startswith("Offline")
    cut = run(engine[0], "text", max_tokens=7)
    assert text_of(cut) == "Offline" and cut[-1].choices[0].finish_reason == "length"


@pytest.mark.parametrize(
    ("task", "sampling", "words"),
    [
        ("translate", {}, "image translation needs the HunyuanOCR model"),
        ("table", {}, "table parsing needs the HunyuanOCR model"),
        (None, {}, "answering instructions or questions"),
        ("text", {"json_schema": {}}, "JSON output needs the HunyuanOCR model"),
        ("fields", {"json_schema": {}}, "field extraction to JSON needs"),
        ("subtitles", {}, "subtitle extraction needs"),
        ("text", {"logprobs": 1}, "no token log probabilities"),
    ],
)
def test_what_pp_ocr_cannot_do_is_a_clear_400(
    engine: tuple[RapidOCREngine, list[str]], task: str | None, sampling: dict, words: str
) -> None:
    with pytest.raises(RequestRejected, match=words) as refused:
        run(engine[0], task, **sampling)
    assert from_engine_error(refused.value).status_code == 400


def test_pages_sent_together_are_read_at_once_each_as_on_its_own(engine: tuple[RapidOCREngine, list[str]]) -> None:
    """The gateway sends a PDF's pages together: one reader per core reads them in parallel, without mixing them."""
    ocr = engine[0]
    pages = [
        render_text([f"Page {number} of the report", f"Total {number * 111}.00"], FONT, 28)[0] for number in (1, 2, 3)
    ]

    async def read(image: object) -> str:
        request = EngineRequest("test", "", [image], SamplingOptions(), stream=False, task="text")  # type: ignore[list-item]
        return "".join([choice.text async for output in ocr.generate(request) for choice in output.choices])

    async def together() -> tuple[list[str], list[int]]:
        tasks = [asyncio.ensure_future(read(page)) for page in pages]
        await asyncio.sleep(0)
        running = [ocr.stats().running]
        return list(await asyncio.gather(*tasks)), running

    one_by_one = [asyncio.run(read(page)) for page in pages]
    at_once, running = asyncio.run(together())
    assert at_once == one_by_one
    assert all(f"Page {number}" in text for number, text in zip((1, 2, 3), at_once, strict=True)), at_once
    assert running == [min(3, ocr._readers)]
