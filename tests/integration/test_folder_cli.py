"""``ocr-gateway batch`` on a generated folder (images in sub-folders, a 3-page PDF, a file to ignore),
against the session's real gateway: one result per input, a progress bar, a re-run that resumes, and every
document format. Then the command's in-process mode with the real rapidocr engine, reading rendered text: a PDF
longer than ``--max-pdf-pages`` becomes a searchable PDF, chunks and a DoclingDocument with the words in them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pypdfium2
import pytest
from docling_core.types.doc import DoclingDocument

from tests.conftest import Gateway
from tests.images import encode, make_image, render_text
from tests.scans import LATIN_FONT, image_only_pdf, pdftotext


def _folder(root: Path) -> None:
    (root / "receipts" / "2024").mkdir(parents=True)
    (root / "receipts" / "a.png").write_bytes(encode(make_image(64, 48, seed=1)))
    (root / "receipts" / "2024" / "b.jpg").write_bytes(encode(make_image(48, 64, seed=2), "JPEG"))
    pages = [make_image(60, 80, seed=10 + page) for page in range(3)]
    pages[0].save(root / "scan.pdf", "PDF", save_all=True, append_images=pages[1:])
    (root / "notes.txt").write_text("not an image")


def _run(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    return _batch(*args, "--url", gateway.root_url, "--concurrency", "4", "--max-tokens", "8")


def _batch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gateway.cli", "batch", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def test_a_folder_becomes_one_result_per_input_and_a_rerun_resumes(gateway: Gateway, tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    _folder(inputs)
    first = _run(gateway, str(inputs), "--task", "text", "--out", str(out), "--format", "json")
    assert first.returncode == 0, first.stderr
    results = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())
    assert results == ["receipts/2024/b.jpg.json", "receipts/a.png.json", "scan.pdf.json"]
    scan = json.loads((out / "scan.pdf.json").read_text())
    assert scan["task"] == "text" and [page["page"] for page in scan["pages"]] == [1, 2, 3]
    assert all(page["usage"]["completion_tokens"] > 0 for page in scan["pages"])
    assert "3 to do" in first.stderr and "file/s" in first.stderr  # tqdm's rate (and ETA) on stderr

    (out / "receipts" / "a.png.json").unlink()
    kept = (out / "scan.pdf.json").stat().st_mtime_ns
    second = _run(gateway, str(inputs), "--task", "text", "--out", str(out), "--format", "json")
    assert second.returncode == 0, second.stderr
    assert "3 inputs, 2 already done, 1 to do" in second.stderr
    assert (out / "receipts" / "a.png.json").exists()
    assert (out / "scan.pdf.json").stat().st_mtime_ns == kept  # done work is not redone


def test_text_output_and_a_broken_input_fails_alone(gateway: Gateway, tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    (inputs / "page.png").write_bytes(encode(make_image(64, 64, seed=5)))
    (inputs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a PDF")
    result = _run(gateway, str(inputs), "--task", "text", "--out", str(out))
    assert result.returncode == 1
    assert "failed: " in result.stderr and "broken.pdf" in result.stderr
    assert (out / "page.png.txt").read_text()  # the model's (gibberish) text
    assert not (out / "broken.pdf.txt").exists()


def test_every_document_format_is_one_parsable_file_per_input(gateway: Gateway, tmp_path: Path) -> None:
    """The tiny model's answers are gibberish: what is checked is each format's shape and the pages."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    _folder(inputs)
    for output_format in ("md", "html", "doctags", "docling", "chunks"):
        result = _run(gateway, str(inputs), "--out", str(out), "--format", output_format)
        assert result.returncode == 0, result.stderr
    names = {path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file()}
    for suffix in (".md", ".html", ".doctags", ".docling.json", ".chunks.json"):
        assert {f"receipts/a.png{suffix}", f"receipts/2024/b.jpg{suffix}", f"scan.pdf{suffix}"} <= names
    assert "<html" in (out / "scan.pdf.html").read_text()
    assert "<doctag>" in (out / "scan.pdf.doctags").read_text()
    scan = DoclingDocument.model_validate(json.loads((out / "scan.pdf.docling.json").read_text()))
    assert scan.name == "scan" and sorted(scan.pages) == [1, 2, 3]
    chunks = json.loads((out / "scan.pdf.chunks.json").read_text())
    assert isinstance(chunks, list)
    assert all(isinstance(chunk["text"], str) and chunk["provenance"] for chunk in chunks)


# --max-pdf-pages bounds /ocr but not the folder command: a PDF past it, small (each page is read by the CPU engine).
MAX_PDF_PAGES = 2
LONG = 3  # pages


@pytest.fixture(scope="module")
def long_scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PDF of ``LONG`` small image-only pages, each one printed line that names its page."""
    pages = [
        render_text([f"Report page {number} of the long scan"], LATIN_FONT, 28)[0] for number in range(1, LONG + 1)
    ]
    folder = tmp_path_factory.mktemp("long") / "in"
    folder.mkdir()
    (folder / "long.pdf").write_bytes(image_only_pdf(pages))
    return folder


def _in_process(inputs: Path, out: Path, output_format: str) -> subprocess.CompletedProcess[str]:
    """No --url: the command serves its own engine, rapidocr (no model weights), for the length of the run."""
    args = (str(inputs), "--out", str(out), "--format", output_format, "--engine", "rapidocr")
    return _batch(*args, "--model", "tencent/HunyuanOCR", "--max-pdf-pages", str(MAX_PDF_PAGES), timeout=600)


def test_a_long_pdf_becomes_a_searchable_pdf_in_process_and_a_rerun_skips_it(long_scan: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _in_process(long_scan, out, "pdf")
    assert result.returncode == 0, result.stderr
    made = out / "long.pdf"  # a searchable scan.pdf keeps its name
    document = pypdfium2.PdfDocument(made)
    assert len(document) == LONG
    document.close()
    pages = pdftotext(made).split("\f")
    for number in range(1, LONG + 1):
        assert f"Report page {number} of the long scan" in pages[number - 1], pages[number - 1]
    kept = made.stat().st_mtime_ns
    again = _in_process(long_scan, out, "pdf")
    assert again.returncode == 0, again.stderr
    assert "1 inputs, 1 already done, 0 to do" in again.stderr and made.stat().st_mtime_ns == kept


def test_a_long_pdf_becomes_chunks_and_a_docling_document_in_process(long_scan: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for output_format in ("chunks", "docling"):
        result = _in_process(long_scan, out, output_format)
        assert result.returncode == 0, result.stderr
    chunks = json.loads((out / "long.pdf.chunks.json").read_text())
    by_page = {chunk["provenance"][0]["page"]: chunk for chunk in chunks}
    assert sorted(by_page) == list(range(1, LONG + 1))
    assert by_page[LONG]["text"] == f"Report page {LONG} of the long scan"
    assert by_page[LONG]["provenance"][0]["bbox"] is not None  # spotting placed it
    document = DoclingDocument.model_validate(json.loads((out / "long.pdf.docling.json").read_text()))
    assert len(document.pages) == LONG and "Report page 2 of the long scan" in document.export_to_text()
