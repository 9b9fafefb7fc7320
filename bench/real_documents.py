"""The CPU path on real documents no one here made, scored against their ground truth beside OCRmyPDF + Tesseract.

    python -m bench.real_documents --documents DIR [--repeat 2] [--max-pages 6] [--systems layout tesseract]
        [--json out.json]

``DIR`` holds PDFs and their ground truth as docling's repository ships them (``sources/NAME.pdf``,
``groundtruth/NAME.json``, a DoclingDocument made from the PDF's own text; data only, not in this repository:
see bench/README.md for where to get it). Every page is rendered at 150 dpi into a PNG (a clean scan: the text
layer is gone) and read by each system:

- ``layout``: our rapidocr engine as ``/ocr?format=markdown`` runs it (document and spotting tasks, the
  DoclingDocument built from them, its Markdown export): regions, reading order by region, tables into cells;
- ``lines``: the same without the layout and table models (pages read by their lines alone, as before them);
- ``tesseract``: OCRmyPDF (``--force-ocr``, ``-l eng``) on a one-page image PDF, its ``--sidecar`` text.

Tests per page, built from the ground truth (olmOCR-bench's kinds):

- ``present``: each body text (paragraph, heading, list item, caption, footnote) of 20+ letters and digits is
  found (rapidfuzz ``partial_ratio`` ≥ 90 on letters and digits, its first 120);
- ``order``: each two consecutive paragraphs, headings or list items are both found, the first first;
- ``absent``: each running header or footer of 4+ letters and digits is not in the output (a searchable PDF still
  holds it; a document body does not);
- ``table``: each table's cells (letters and digits) are ≥ 80% found among the cells of one table of the output.

CPU s/page: the process's CPU time for ours (engine threads included), the children's for OCRmyPDF (Tesseract,
Ghostscript); each page is read ``--repeat`` times by every system, the systems' order alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2
from docling_core.types.doc import ContentLayer, DocItemLabel, DoclingDocument, TableItem, TextItem
from PIL import Image
from rapidfuzz import fuzz

from adapters.engine import EngineRequest, SamplingOptions
from adapters.rapidocr_engine import RapidOCREngine, RapidOCRPromptBuilder
from gateway.documents.align import normalise
from gateway.documents.build import PageAnswers, build_document
from gateway.documents.exports import to_markdown
from gateway.media.loader import MediaLimits, decode_image
from prompts.catalog import load_prompt_set
from tests.scans import image_only_pdf

DPI = 150
SYSTEMS = ("layout", "lines", "tesseract")
CATEGORIES = ("present", "order", "absent", "table")
FOUND = 90  # rapidfuzz partial_ratio
SNIPPET = 120  # letters and digits of a text compared
MIN_PRESENT, MIN_ABSENT = 20, 4
TABLE_CELLS = 0.8
BODY = {DocItemLabel.TEXT, DocItemLabel.SECTION_HEADER, DocItemLabel.TITLE, DocItemLabel.LIST_ITEM}
PRESENT = BODY | {DocItemLabel.CAPTION, DocItemLabel.FOOTNOTE}
FURNITURE = {DocItemLabel.PAGE_HEADER, DocItemLabel.PAGE_FOOTER}


@dataclass
class Reading:
    """What a system gives back for a page: its text, and the cells of each table it found."""

    text: str
    tables: list[list[str]] = field(default_factory=list)


@dataclass
class Truth:
    """One page's ground truth: texts in reading order, running headers and footers, tables' cells."""

    present: list[str]
    ordered: list[str]
    furniture: list[str]
    tables: list[list[str]]


@dataclass
class Cell:
    passed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)


Reader = Callable[[Path], Reading]


def truths(ground_truth: DoclingDocument) -> dict[int, Truth]:
    """The ground truth page by page (pages numbered from 1)."""
    pages = {number: Truth([], [], [], []) for number in ground_truth.pages}
    layers = {ContentLayer.BODY, ContentLayer.FURNITURE}
    for item, _ in ground_truth.iterate_items(included_content_layers=layers):
        if not isinstance(item, TableItem | TextItem) or not item.prov or item.prov[0].page_no not in pages:
            continue
        page = pages[item.prov[0].page_no]
        if isinstance(item, TableItem):
            cells = [normalise(cell.text) for cell in item.data.table_cells if normalise(cell.text)]
            if cells:
                page.tables.append(cells)
        elif isinstance(item, TextItem):
            text = normalise(item.text)
            if item.label in FURNITURE and len(text) >= MIN_ABSENT:
                page.furniture.append(text[:SNIPPET])
            elif item.label in PRESENT and len(text) >= MIN_PRESENT:
                page.present.append(text[:SNIPPET])
                if item.label in BODY:
                    page.ordered.append(text[:SNIPPET])
    return pages


def score(truth: Truth, reading: Reading) -> tuple[dict[str, int], dict[str, int]]:
    """(passed, total) per category for one page."""
    text = normalise(reading.text)
    where = {snippet: _found_at(snippet, text) for snippet in truth.present}
    pairs = list(zip(truth.ordered, truth.ordered[1:], strict=False))
    found_tables = [set(cells) for cells in reading.tables]
    passed = {
        "present": sum(position is not None for position in where.values()),
        "order": sum(
            where[a] is not None and where[b] is not None and where[a] < where[b]  # type: ignore[operator]
            for a, b in pairs
        ),
        "absent": sum(_found_at(snippet, text) is None for snippet in truth.furniture),
        "table": sum(
            any(sum(cell in found for cell in cells) >= TABLE_CELLS * len(cells) for found in found_tables)
            for cells in truth.tables
        ),
    }
    total = {"present": len(truth.present), "order": len(pairs), "absent": len(truth.furniture)}
    return passed, {**total, "table": len(truth.tables)}


def _found_at(snippet: str, text: str) -> int | None:
    alignment = fuzz.partial_ratio_alignment(snippet, text)
    return alignment.dest_start if alignment is not None and alignment.score >= FOUND else None


def engine_reader(layout: bool) -> tuple[Reader, RapidOCREngine]:
    """Our engine, started, and a reader that runs a PNG through it as ``/ocr?format=markdown`` does."""
    engine = RapidOCREngine(load_prompt_set("1.5"), layout=layout)
    asyncio.run(engine.start())
    budget = RapidOCRPromptBuilder().image_budget()

    async def answer(image: Image.Image, task: str) -> str:
        request = EngineRequest("bench", "", [image], SamplingOptions(), stream=False, task=task)
        return "".join([choice.text async for output in engine.generate(request) for choice in output.choices])

    def read(path: Path) -> Reading:
        image = decode_image(path.read_bytes(), budget, MediaLimits(), "auto", "bench")
        document, spotting = asyncio.run(answer(image, "document")), asyncio.run(answer(image, "spotting"))
        built = build_document([PageAnswers(1, image.width, image.height, document, spotting)]).document
        tables = [[normalise(cell.text) for cell in table.data.table_cells] for table in built.tables]
        return Reading(to_markdown(built), tables)

    return read, engine


def tesseract(path: Path) -> Reading:
    with tempfile.TemporaryDirectory(prefix="real-documents-") as folder:
        source, sidecar = Path(folder, "page.pdf"), Path(folder, "page.txt")
        source.write_bytes(image_only_pdf([Image.open(path)], dpi=DPI))
        command = [
            sys.executable,
            "-m",
            "ocrmypdf",
            "--force-ocr",
            "-l",
            "eng",
            "--output-type",
            "none",
            # OCRmyPDF gives up on a page after 180 s of wall time (its sidecar then says "[skipped page]"): on a
            # busy machine a picture page took Tesseract longer, so the wait is unbounded here.
            "--tesseract-timeout",
            "86400",
            "--sidecar",
            str(sidecar),
        ]
        subprocess.run([*command, "-q", str(source), "-"], check=True, capture_output=True)
        return Reading(sidecar.read_text())


def timed(reader: Reader, path: Path, cell: Cell) -> Reading:
    start_wall, start_cpu, start_children = time.perf_counter(), time.process_time(), _children_cpu()
    reading = reader(path)
    cell.wall.append(time.perf_counter() - start_wall)
    cell.cpu.append(time.process_time() - start_cpu + _children_cpu() - start_children)
    return reading


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pages(documents: Path, max_pages: int) -> list[tuple[str, Image.Image, Truth]]:
    """Every document's first ``max_pages`` pages rendered, with their ground truth."""
    found = []
    for source in sorted((documents / "sources").glob("*.pdf")):
        truth_file = documents / "groundtruth" / f"{source.stem}.json"
        if not truth_file.is_file():
            continue
        by_page = truths(DoclingDocument.load_from_json(truth_file))
        pdf = pypdfium2.PdfDocument(source)
        for index in range(min(len(pdf), max_pages)):
            if index + 1 in by_page:
                image = pdf[index].render(scale=DPI / 72).to_pil().convert("RGB")
                found.append((f"{source.stem} p{index + 1}", image, by_page[index + 1]))
    return found


def run(documents: Path, repeat: int, max_pages: int, systems: tuple[str, ...] = SYSTEMS) -> dict[str, dict[str, Cell]]:
    engines = {system: engine_reader(layout=system == "layout") for system in ("layout", "lines") if system in systems}
    readers: dict[str, Reader] = {system: read for system, (read, _) in engines.items()}
    readers["tesseract"] = tesseract
    cells: dict[str, dict[str, Cell]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="real-documents-") as folder:
            for turn, (name, image, truth) in enumerate(pages(documents, max_pages)):
                path = Path(folder, f"{turn}.png")
                image.save(path, dpi=(DPI, DPI))
                cells[name] = {system: Cell() for system in systems}
                for round_ in range(repeat):
                    order = systems if (turn + round_) % 2 == 0 else systems[::-1]
                    for system in order:
                        reading = timed(readers[system], path, cells[name][system])
                        if round_ == 0:
                            cells[name][system].passed, cells[name][system].total = score(truth, reading)
                print(row(name, cells[name]), flush=True)
    finally:
        for _, engine in engines.values():
            asyncio.run(engine.shutdown())
    return cells


def header(systems: tuple[str, ...] = SYSTEMS) -> str:
    columns = " | ".join(f"{system} {what}" for system in systems for what in ("passed", "CPU s"))
    return f"| page | {columns} |\n|---|{'---|' * 2 * len(systems)}"


def row(name: str, by_system: dict[str, Cell]) -> str:
    columns = " | ".join(
        f"{sum(cell.passed.values())}/{sum(cell.total.values())} | {statistics.mean(cell.cpu):.2f}"
        for cell in by_system.values()
    )
    return f"| {name} | {columns} |"


def totals(cells: dict[str, dict[str, Cell]]) -> dict[str, dict[str, object]]:
    """Per system: tests passed and run per category, CPU s/page (mean of each round, and its spread), pages/s."""
    summary: dict[str, dict[str, object]] = {}
    for system in next(iter(cells.values()), {}):
        column = [by_system[system] for by_system in cells.values()]
        rounds = list(zip(*(cell.cpu for cell in column), strict=True))
        per_round = [sum(cpu) / len(cpu) for cpu in rounds]
        summary[system] = {
            **{
                category: [sum(c.passed[category] for c in column), sum(c.total[category] for c in column)]
                for category in CATEGORIES
            },
            "cpu_s_per_page": per_round,
            "pages_per_s": len(column) * len(rounds) / sum(sum(cell.wall) for cell in column),
        }
    return summary


def report(summary: dict[str, dict[str, object]]) -> str:
    lines = [f"| system | {' | '.join(CATEGORIES)} | all | CPU s/page (rounds) | pages/s |", f"|---|{'---|' * 7}"]
    for system, numbers in summary.items():
        scores = [numbers[category] for category in CATEGORIES]
        passed, total = sum(s[0] for s in scores), sum(s[1] for s in scores)  # type: ignore[index]
        rounds = ", ".join(f"{cpu:.2f}" for cpu in numbers["cpu_s_per_page"])  # type: ignore[attr-defined]
        cells = " | ".join(f"{s[0]}/{s[1]}" for s in scores)  # type: ignore[index]
        lines.append(f"| {system} | {cells} | {passed}/{total} | {rounds} | {numbers['pages_per_s']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=Path, required=True, help="sources/*.pdf and groundtruth/*.json")
    parser.add_argument("--repeat", type=int, default=2, help="readings of each page by each system")
    parser.add_argument("--max-pages", type=int, default=6, help="pages read of each document")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS), help="systems compared")
    parser.add_argument("--json", type=Path, help="also write the totals here")
    args = parser.parse_args()
    systems = tuple(system for system in SYSTEMS if system in args.systems)
    print(header(systems), flush=True)
    summary = totals(run(args.documents, args.repeat, args.max_pages, systems))
    print(report(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
