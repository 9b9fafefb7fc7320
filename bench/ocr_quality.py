"""OCR quality on the CPU, side by side: character error rate and pages/s on rendered pages of known text.

    python -m bench.ocr_quality [--quick] [--repeat 2] [--json out.json]

Pages (``tests/pages.py``): a Letter page of Latin words, numbers, dates and codes (DejaVu Sans: a 16-pt heading,
11-pt body, 8-pt small print) and one of Simplified Chinese (WenQuanYi Zen Hei, 16 and 12 pt), each rendered at
100, 150, 200 and 300 dpi, and the 1700×2200 PNG of the report (issue 15). Every page is one PNG file, the input
of every system:

- ``rapidocr``: our engine in this process, fed as ``/ocr`` feeds it (the gateway's decode and resize to the
  engine's 2000-px limit, then the ``text`` task): lines oriented in pieces, doubtful lines read again;
- ``rapidocr-before``: the same engine on RapidOCR's own one-call pipeline, as it read before (whole-line
  orientation classifier, no second reading);
- ``tesseract``: the ``tesseract`` CLI (Debian ``tesseract-ocr``, ``tesseract-ocr-chi-sim``) on the same file,
  told the page's language (``eng`` or ``chi_sim``) — our engine is told nothing.

CER: Levenshtein distance over the printed characters, after NFKC and whitespace normalisation (``tests.pages``).
pages/s: pages over the wall time of their readings, decoding included. Each page is read ``--repeat`` times by
every system, the systems' order alternating from one reading to the next to even out the machine's noise;
readings are deterministic, so the CER is the first one's. ``--quick``: the 100-dpi pages, one reading each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.engine import EngineRequest, SamplingOptions
from adapters.rapidocr_engine import RapidOCREngine, RapidOCRPromptBuilder
from bench.tesseract import require_languages
from gateway.media.loader import MediaLimits, decode_image
from prompts.catalog import load_prompt_set
from tests.pages import Page, character_errors, cjk_page, latin_page, reported_page

DPIS = (100, 150, 200, 300)
SYSTEMS = ("rapidocr", "rapidocr-before", "tesseract")
Reader = Callable[[Path, Page], str]


@dataclass
class Cell:
    """One system on one page: its errors over the page's characters, and the time of each reading."""

    errors: int = 0
    characters: int = 0
    seconds: list[float] = field(default_factory=list)
    reading: str = ""


def pages(quick: bool) -> list[Page]:
    dpis = DPIS[:1] if quick else DPIS
    scanned = [make(dpi) for dpi in dpis for make in (latin_page, cjk_page)]
    return scanned if quick else [*scanned, reported_page()]


def engine_reader(library_pipeline: bool) -> tuple[Reader, RapidOCREngine]:
    """Our engine, started, and a reader that hands it a PNG file the way ``/ocr`` does."""
    engine = RapidOCREngine(load_prompt_set("1.5"), library_pipeline=library_pipeline)
    asyncio.run(engine.start())
    budget = RapidOCRPromptBuilder().image_budget()

    async def text(path: Path) -> str:
        image = decode_image(path.read_bytes(), budget, MediaLimits(), "auto", "bench")
        request = EngineRequest("bench", "", [image], SamplingOptions(), stream=False, task="text")
        return "".join([choice.text async for output in engine.generate(request) for choice in output.choices])

    return lambda path, page: asyncio.run(text(path)), engine


def tesseract(path: Path, page: Page) -> str:
    command = ["tesseract", str(path), "stdout", "-l", page.language]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def run(quick: bool, repeat: int) -> dict[str, dict[str, Cell]]:
    """Every system on every page, ``repeat`` times in alternating order: cells by page name, then system."""
    require_languages()
    ours, ours_engine = engine_reader(library_pipeline=False)
    before, before_engine = engine_reader(library_pipeline=True)
    readers: dict[str, Reader] = {"rapidocr": ours, "rapidocr-before": before, "tesseract": tesseract}
    cells: dict[str, dict[str, Cell]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="ocr-quality-") as folder:
            turn = 0
            for page in pages(quick):
                path = Path(folder, f"{len(cells)}.png")
                if page.dpi:
                    page.image.save(path, dpi=(page.dpi, page.dpi))
                else:
                    page.image.save(path)
                cells[page.name] = {system: Cell() for system in SYSTEMS}
                for _ in range(repeat):
                    order = SYSTEMS if turn % 2 == 0 else SYSTEMS[::-1]
                    turn += 1
                    for system in order:
                        read_once(cells[page.name][system], readers[system], path, page)
                print(row(page.name, page.image.size, cells[page.name]), flush=True)
        print(readings(ours_engine), flush=True)
    finally:
        for engine in (ours_engine, before_engine):
            asyncio.run(engine.shutdown())
    return cells


def readings(engine: RapidOCREngine) -> str:
    """What the careful orientation cost: lines the engine recognised, and those it read a second time."""
    (counter,) = engine.metric_collectors()
    samples = [sample for metric in counter.collect() for sample in metric.samples if sample.name.endswith("_total")]
    passes = {sample.labels["pass"]: int(sample.value) for sample in samples}
    share = passes["again"] / max(passes["first"], 1)
    return f"rapidocr recognised {passes['first']} lines and read {passes['again']} of them again ({share:.1%})"


def read_once(cell: Cell, reader: Reader, path: Path, page: Page) -> None:
    start = time.perf_counter()
    reading = reader(path, page)
    cell.seconds.append(time.perf_counter() - start)
    if not cell.reading:
        cell.reading = reading
        cell.errors, cell.characters = character_errors(page.lines, reading)


def header() -> str:
    cer = " | ".join(f"{system} CER" for system in SYSTEMS)
    speed = " | ".join(f"{system} pages/s" for system in SYSTEMS)
    return f"| page | pixels | {cer} | {speed} |\n|---|---|{'---|' * 2 * len(SYSTEMS)}"


def row(name: str, size: tuple[int, int] | str, cells: dict[str, Cell]) -> str:
    pixels = size if isinstance(size, str) else f"{size[0]}×{size[1]}"
    cer = " | ".join(f"{cells[system].errors / cells[system].characters:.4f}" for system in SYSTEMS)
    speed = " | ".join(f"{len(cells[s].seconds) / sum(cells[s].seconds):.3f}" for s in SYSTEMS)
    return f"| {name} | {pixels} | {cer} | {speed} |"


def total(cells: dict[str, dict[str, Cell]], names: list[str]) -> dict[str, Cell]:
    """The pages ``names`` as one: errors over characters, every reading's time."""
    summed = {system: Cell() for system in SYSTEMS}
    for name in names:
        for system, cell in cells[name].items():
            summed[system].errors += cell.errors
            summed[system].characters += cell.characters
            summed[system].seconds += cell.seconds
    return summed


def summary(cells: dict[str, dict[str, Cell]]) -> dict[str, object]:
    """The JSON written by ``--json``: per page and system its CER, characters, pages/s and reading."""
    return {
        name: {
            system: {
                "cer": cell.errors / cell.characters,
                "errors": cell.errors,
                "characters": cell.characters,
                "readings": len(cell.seconds),
                "pages_per_s": len(cell.seconds) / sum(cell.seconds),
                "text": cell.reading,
            }
            for system, cell in by_system.items()
        }
        for name, by_system in cells.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the 100-dpi pages, one reading each")
    parser.add_argument("--repeat", type=int, default=2, help="readings of each page by each system")
    parser.add_argument("--json", type=Path, help="also write the numbers (and readings) here")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    print(header(), flush=True)
    cells = run(args.quick, repeat)
    for script in ("latin", "cjk"):
        names = [name for name in cells if name.startswith(script)]
        print(row(f"**all {script}**", f"{len(names)} pages", total(cells, names)))
    print(row("**all**", f"{len(cells)} pages", total(cells, list(cells))))
    if args.json:
        args.json.write_text(json.dumps(summary(cells), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
