"""One script per page on ``--engine rapidocr``: the recogniser's mixed Chinese/Latin alphabet guesses CJK on Latin
noise (a line holding only ``了`` between two formula fragments, on a published benchmark's English page); a Latin
page's lines holding CJK are read again without it, while a Chinese page, and Latin words on it, read as before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from PIL import Image, ImageDraw, ImageFont

from adapters.engine import EngineRequest, SamplingOptions
from adapters.rapidocr_engine import RapidOCREngine
from adapters.rapidocr_reading import is_cjk
from prompts.catalog import load_prompt_set
from tests.scans import CJK_FONT, LATIN_FONT

ENGLISH = [
    "The integral converges for every positive value,",
    "so the bound below holds uniformly in n, and",
    "the total comes to 1,234.56 EUR, as claimed.",
]
CHINESE = ["本合同自双方签字之日起生效。", "如有争议，双方应友好协商解决。", "订单号 A1234 已发货"]


@pytest.fixture(scope="module")
def engine() -> Iterator[RapidOCREngine]:
    engine = RapidOCREngine(load_prompt_set("1.5"))
    asyncio.run(engine.start())
    try:
        yield engine
    finally:
        asyncio.run(engine.shutdown())


def page(lines: list[str], stray: str | None = None) -> Image.Image:
    """``lines`` in print (CJK font when they hold CJK), and ``stray`` alone on a line between the first two."""
    image = Image.new("RGB", (1100, 420), "white")
    draw = ImageDraw.Draw(image)
    latin, cjk = ImageFont.truetype(LATIN_FONT, 30), ImageFont.truetype(CJK_FONT, 30)
    rows = [lines[0], *([stray] if stray else []), *lines[1:]]
    for row, line in enumerate(rows):
        font = cjk if any(is_cjk(char) for char in line) else latin
        draw.text((60, 40 + 70 * row), line, font=font, fill="black")
    return image


def read(engine: RapidOCREngine, image: Image.Image) -> str:
    request = EngineRequest("test", "", [image], SamplingOptions(), stream=False, task="text")

    async def collect() -> str:
        return "".join([choice.text async for output in engine.generate(request) for choice in output.choices])

    return asyncio.run(collect())


def latin_rereadings(engine: RapidOCREngine) -> float:
    (counter,) = engine.metric_collectors()
    samples = [sample for metric in counter.collect() for sample in metric.samples if sample.name.endswith("_total")]
    return sum(sample.value for sample in samples if sample.labels["pass"] == "latin")


def test_a_latin_page_has_no_cjk_glyph_even_where_one_is_printed_alone(engine: RapidOCREngine) -> None:
    before = latin_rereadings(engine)
    text = read(engine, page(ENGLISH, stray="了"))
    assert not any(is_cjk(char) for char in text), text
    assert latin_rereadings(engine) - before == 1  # only the line that held CJK was read again
    for line in ENGLISH:
        assert line in text.replace("\n", " ") or line.rstrip(",.") in text, text


def test_a_chinese_page_keeps_its_script_and_its_latin_words(engine: RapidOCREngine) -> None:
    before = latin_rereadings(engine)
    text = read(engine, page(CHINESE))
    assert latin_rereadings(engine) == before
    assert "本合同自双方签字之日起生效" in text and "A1234" in text, text
