"""``ocr-gateway batch`` against the real app on the fake engine (served on a private 127.0.0.1 port, as the
command's in-process mode serves its own engine), with canned HunyuanOCR answers: which files each ``--format``
writes and what is in them, which engine calls a page costs, resuming, and the usage errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pypdfium2
import pytest
from docling_core.types.doc import DoclingDocument

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.cli import build_parser
from gateway.cli.folder import Batch, CannotRun, run_batch_command, run_folder, serving
from gateway.cli.folder_inputs import output_name
from gateway.config import Settings
from tests.fakes import FakeEngine
from tests.gateway.documents.test_convert_api import DOCUMENT, SPOTTING
from tests.images import encode, make_image, make_pdf
from tests.scans import pdftotext


def engine(parses_layout: bool = True) -> FakeEngine:
    return FakeEngine(
        replies={"document": DOCUMENT, "spotting": SPOTTING, "table": "| Part | Count |"}, parses_layout=parses_layout
    )


def run(fake: FakeEngine, prompts: HunyuanPromptBuilder, *argv: str) -> int:
    """``ocr-gateway batch ARGV…`` on an app serving ``fake``."""
    batch = Batch.from_args(build_parser().parse_args(["batch", *argv]))
    app = build_app(Settings(served_model_name="fake-ocr"), fake, prompts, on_engine_failure=lambda: None)

    async def scenario() -> int:
        async with serving(app) as base_url:
            assert base_url is not None
            return await run_folder(batch, base_url, None)

    return asyncio.run(scenario())


def folder(root: Path, pdf_pages: int = 2) -> Path:
    """``page.png`` (1000 × 1000: spotting's grid is its pixels) and ``reports/scan.pdf``."""
    (root / "reports").mkdir(parents=True)
    (root / "page.png").write_bytes(encode(make_image(1000, 1000, seed=3)))
    pages = [make_image(100, 130, seed=page) for page in range(pdf_pages)]
    (root / "reports" / "scan.pdf").write_bytes(make_pdf(pages))
    return root


def files(out: Path) -> list[str]:
    return sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())


def tasks(fake: FakeEngine) -> list[str | None]:
    return sorted(request.task or "" for request in fake.requests)


@pytest.mark.parametrize(
    ("output_format", "suffix"),
    [
        ("md", ".md"),
        ("html", ".html"),
        ("doctags", ".doctags"),
        ("docling", ".docling.json"),
        ("chunks", ".chunks.json"),
    ],
)
def test_each_document_format_writes_one_file_per_input(
    prompts: HunyuanPromptBuilder, tmp_path: Path, output_format: str, suffix: str
) -> None:
    out = tmp_path / "out"
    code = run(engine(), prompts, str(folder(tmp_path / "in")), "--out", str(out), "--format", output_format)
    assert code == 0
    assert files(out) == [f"page.png{suffix}", f"reports/scan.pdf{suffix}"]


def test_markdown_is_docling_s_export_of_the_parsed_pages_one_call_each(
    prompts: HunyuanPromptBuilder, tmp_path: Path
) -> None:
    fake, out = engine(), tmp_path / "out"
    assert run(fake, prompts, str(folder(tmp_path / "in")), "--task", "document", "--out", str(out)) == 0
    assert tasks(fake) == ["document"] * 3  # the image and two PDF pages; no spotting: Markdown shows no places
    markdown = (out / "reports" / "scan.pdf.md").read_text()
    assert markdown.count("# Service report") == 2  # one document of both pages
    assert "| Part" in markdown and "| Seal" in markdown  # the HTML table as a Markdown table, by docling-core
    assert "<table>" not in markdown


def test_docling_json_has_every_page_and_places_items_with_spotting(
    prompts: HunyuanPromptBuilder, tmp_path: Path
) -> None:
    fake, out = engine(), tmp_path / "out"
    assert run(fake, prompts, str(folder(tmp_path / "in")), "--out", str(out), "--format", "docling") == 0
    assert tasks(fake) == ["document"] * 3 + ["spotting"] * 3
    image = DoclingDocument.model_validate(json.loads((out / "page.png.docling.json").read_text()))
    heading = next(item for item in image.texts if item.text == "Service report")
    box = heading.prov[0].bbox
    assert (round(box.l), round(box.t), round(box.r), round(box.b)) == (100, 50, 600, 90)
    scan = DoclingDocument.model_validate(json.loads((out / "reports" / "scan.pdf.docling.json").read_text()))
    assert scan.name == "scan" and sorted(scan.pages) == [1, 2] and len(scan.tables) == 2


def test_chunks_carry_text_headings_and_provenance(prompts: HunyuanPromptBuilder, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(engine(), prompts, str(folder(tmp_path / "in")), "--out", str(out), "--format", "chunks") == 0
    chunks = json.loads((out / "page.png.chunks.json").read_text())
    paragraph = next(chunk for chunk in chunks if "Hydraulic" in chunk["text"])
    assert paragraph["headings"] == ["Service report"]
    assert paragraph["provenance"] == [{"page": 1, "bbox": [100.0, 120.0, 900.0, 160.0]}]
    scan = json.loads((out / "reports" / "scan.pdf.chunks.json").read_text())
    assert {place["page"] for chunk in scan for place in chunk["provenance"]} == {1, 2}


def test_html_and_doctags_hold_the_page(prompts: HunyuanPromptBuilder, tmp_path: Path) -> None:
    inputs, out = folder(tmp_path / "in"), tmp_path / "out"
    assert run(engine(), prompts, str(inputs), "--out", str(out), "--format", "html") == 0
    assert run(engine(), prompts, str(inputs), "--out", str(out), "--format", "doctags") == 0
    html = (out / "page.png.html").read_text()
    assert "<html" in html and "Hydraulic pressure measured at 212 bar." in html
    assert "<doctag>" in (out / "page.png.doctags").read_text() and "Seal" in (out / "page.png.doctags").read_text()


def test_a_pdf_past_max_pdf_pages_is_one_document(prompts: HunyuanPromptBuilder, tmp_path: Path) -> None:
    fake, out = engine(), tmp_path / "out"
    inputs = folder(tmp_path / "in", pdf_pages=Settings().media.max_pdf_pages + 4)
    assert run(fake, prompts, str(inputs / "reports"), "--out", str(out), "--format", "docling") == 0
    scan = DoclingDocument.model_validate(json.loads((out / "scan.pdf.docling.json").read_text()))
    assert sorted(scan.pages) == list(range(1, 21))
    assert len(fake.requests) == 40  # parsing and spotting for each of the 20 pages


def test_an_engine_that_reads_lines_only_is_asked_for_spotting_alone(
    prompts: HunyuanPromptBuilder, tmp_path: Path
) -> None:
    fake, out = engine(parses_layout=False), tmp_path / "out"
    assert run(fake, prompts, str(folder(tmp_path / "in")), "--out", str(out), "--format", "md") == 0
    assert tasks(fake) == ["spotting"] * 3
    assert "Hydraulic pressure measured at 212 bar." in (out / "page.png.md").read_text()


def test_pdf_is_the_input_with_a_text_layer_of_the_spotted_lines(prompts: HunyuanPromptBuilder, tmp_path: Path) -> None:
    fake, out = engine(), tmp_path / "out"
    assert run(fake, prompts, str(folder(tmp_path / "in")), "--out", str(out), "--format", "pdf") == 0
    assert files(out) == ["page.png.pdf", "reports/scan.pdf"]  # a PDF keeps its name, an image gets .pdf added
    assert tasks(fake) == ["spotting"] * 3
    scan = pypdfium2.PdfDocument(out / "reports" / "scan.pdf")
    assert len(scan) == 2
    scan.close()
    assert "Hydraulic pressure" in pdftotext(out / "reports" / "scan.pdf")
    assert "Hydraulic pressure" in pdftotext(out / "page.png.pdf")


def test_a_second_run_skips_what_is_done(
    prompts: HunyuanPromptBuilder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs, out = folder(tmp_path / "in"), tmp_path / "out"
    assert run(engine(), prompts, str(inputs), "--out", str(out), "--format", "chunks") == 0
    (out / "page.png.chunks.json").unlink()
    kept = (out / "reports" / "scan.pdf.chunks.json").stat().st_mtime_ns
    fake = engine()
    assert run(fake, prompts, str(inputs), "--out", str(out), "--format", "chunks") == 0
    assert "2 inputs, 1 already done, 1 to do" in capsys.readouterr().err
    assert len(fake.requests) == 2  # the image's parsing and spotting only
    assert (out / "page.png.chunks.json").exists()
    assert (out / "reports" / "scan.pdf.chunks.json").stat().st_mtime_ns == kept


def test_a_broken_input_fails_alone(
    prompts: HunyuanPromptBuilder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs, out = folder(tmp_path / "in"), tmp_path / "out"
    (inputs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a PDF")
    (inputs / "broken.png").write_bytes(b"not a PNG")
    assert run(engine(), prompts, str(inputs), "--out", str(out), "--format", "docling") == 1
    errors = capsys.readouterr().err
    assert "broken.pdf: cannot read the PDF" in errors and "broken.png: cannot read the image" in errors
    assert files(out) == ["page.png.docling.json", "reports/scan.pdf.docling.json"]


def test_txt_and_json_are_the_task_s_answers_as_before(prompts: HunyuanPromptBuilder, tmp_path: Path) -> None:
    inputs, out = folder(tmp_path / "in"), tmp_path / "out"
    assert run(engine(), prompts, str(inputs), "--task", "document", "--out", str(out), "--format", "txt") == 0
    page = (out / "page.png.txt").read_text()
    assert page.startswith("# Service report") and (out / "reports" / "scan.pdf.txt").read_text() == f"{page}\n\n{page}"
    assert run(engine(), prompts, str(inputs), "--task", "spotting", "--out", str(out), "--format", "json") == 0
    record = json.loads((out / "reports" / "scan.pdf.json").read_text())
    assert record["task"] == "spotting" and [page["page"] for page in record["pages"]] == [1, 2]
    assert record["pages"][0]["ocr"]["boxes"] and record["pages"][0]["usage"]["completion_tokens"] > 0


def test_md_with_a_task_of_its_own_joins_that_task_s_answers(prompts: HunyuanPromptBuilder, tmp_path: Path) -> None:
    fake, out = engine(), tmp_path / "out"
    assert run(fake, prompts, str(folder(tmp_path / "in")), "--task", "table", "--out", str(out)) == 0
    assert tasks(fake) == ["table"] * 3
    assert (out / "reports" / "scan.pdf.md").read_text() == "| Part | Count |\n\n| Part | Count |"


@pytest.mark.parametrize("output_format", ["html", "doctags", "docling", "chunks", "pdf"])
def test_a_document_format_with_a_task_of_its_own_is_refused_before_any_engine_starts(
    tmp_path: Path, output_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(
        [
            "batch",
            str(folder(tmp_path / "in")),
            "--out",
            str(tmp_path / "out"),
            "--task",
            "table",
            "--format",
            output_format,
        ]
    )
    assert run_batch_command(args, Settings()) == 2  # no --url: it would have started an engine
    assert f"--format {output_format} reads every page" in capsys.readouterr().err


def test_a_searchable_pdf_never_replaces_its_input(tmp_path: Path) -> None:
    inputs = folder(tmp_path / "in")
    with pytest.raises(CannotRun, match="scan.pdf would be replaced"):
        Batch.from_args(build_parser().parse_args(["batch", str(inputs), "--out", str(inputs), "--format", "pdf"]))


def test_output_names() -> None:
    assert output_name("scan.pdf", "docling") == "scan.pdf.docling.json"
    assert output_name("scan.pdf", "chunks") == "scan.pdf.chunks.json"
    assert output_name("Scan.PDF", "pdf") == "Scan.PDF"
    assert output_name("photo.jpg", "pdf") == "photo.jpg.pdf"
