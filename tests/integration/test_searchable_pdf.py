"""Searchable PDFs for real. An image-only scan (a Latin page in DejaVu Sans, a CJK one in WenQuanYi Zen Hei, 200
dpi, no text layer) is read by the real rapidocr engine and made searchable by OCRmyPDF two ways:

- ``POST /ocr?format=pdf`` on a real gateway (``--engine rapidocr``): it spots each page and OCRmyPDF, in its
  worker process, lays the lines over the original pages;
- OCRmyPDF's own command line with our plugin and nothing but ``OCR_GATEWAY_URL``, asking a real gateway
  (``--engine rapidocr``) over HTTP.

Both are checked with poppler: the words are in the text layer (recall), each sits where it was printed
(overlap), the pages and their sizes are the scan's, its images are kept byte for byte, and the text layer is
invisible (the pages look exactly as before).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pikepdf
import pypdfium2
import pytest

from tests.scans import (
    ScannedPage,
    image_streams,
    images,
    latin_and_cjk_scan,
    page_count_and_sizes,
    pdftotext,
    pdftotext_words,
    placed,
    recall,
)

ROOT = Path(__file__).resolve().parents[2]
LATIN = [
    "Searchable PDFs keep the scan and add invisible text.",
    "Invoice number 2024-0815, total 1,234.56 EUR",
    "The quick brown fox jumps over the lazy dog.",
    "Meeting moved to Tuesday at 14:30 in room B12",
    "Pack my box with five dozen liquor jugs!",
    "Hydraulic pressure measured at 212 bar before service",
]
CJK = [
    "今天天气很好，我们去公园散步。",
    "请在下周五之前提交报告。",
    "订单号 A1234 已发货",
    "文字识别技术可以把图片中的文字转换成文本。",
    "北京市海淀区中关村大街一号",
]
MIN_RECALL = 0.95  # measured: 1.0 on both pages, both ways
# Intersection over union of each word's box in the text layer (or of the CJK run holding it) with its ink as
# drawn. The layer's boxes are a line's height (ascender to descender) and the ink's only what the letters cover,
# so even a perfectly placed word scores well below 1. Measured: Latin 0.34 at worst, 0.55 on average; CJK 0.27
# at worst (a word inside the CJK run it was read into) and 0.70 to 0.78 on average.
MIN_OVERLAP = 0.2
MIN_MEAN_OVERLAP = 0.45


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ScannedPage], Path]:
    pages, path = latin_and_cjk_scan(tmp_path_factory.mktemp("scan"), LATIN, CJK)
    assert pdftotext(path).strip() == ""  # no text layer to begin with
    return pages, path


@pytest.fixture(scope="module")
def made_by_the_gateway(scan: tuple[list[ScannedPage], Path], rapidocr_root: str) -> Path:
    """``POST /ocr?format=pdf``: the gateway spots each page with its engine and OCRmyPDF adds the text layer."""
    pages, path = scan
    started = time.perf_counter()
    response = httpx.post(
        f"{rapidocr_root}/ocr?format=pdf", content=path.read_bytes(), headers={"Content-Type": "application/pdf"},
        timeout=600,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    print(f"/ocr?format=pdf: {len(pages) / (time.perf_counter() - started):.2f} pages/s")
    assert response.headers["content-type"] == "application/pdf" and response.headers["x-ocr-pdf"] == "pdfa"
    output = path.with_name("by-the-gateway.pdf")
    output.write_bytes(response.content)
    return output


@pytest.fixture(scope="module")
def made_by_ocrmypdf(scan: tuple[list[ScannedPage], Path], rapidocr_root: str) -> Path:
    """``OCR_GATEWAY_URL=… ocrmypdf --plugin gateway.documents.ocrmypdf_plugin scan.pdf out.pdf``."""
    _, path = scan
    output = path.with_name("by-ocrmypdf.pdf")
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("OCR_GATEWAY", "OPENAI"))}
    command = [
        sys.executable,
        "-m",
        "ocrmypdf",
        "--plugin",
        "gateway.documents.ocrmypdf_plugin",
        str(path),
        str(output),
    ]
    run = subprocess.run(
        command, env={**environment, "OCR_GATEWAY_URL": f"{rapidocr_root}/v1"}, cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    return output


@pytest.fixture(params=["made_by_the_gateway", "made_by_ocrmypdf"])
def searchable(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(request.param)


def test_the_words_are_in_the_text_layer_cjk_included(scan: tuple[list[ScannedPage], Path], searchable: Path) -> None:
    pages, _ = scan
    found = pdftotext_words(searchable)
    for page, words in zip(pages, found, strict=True):
        share = recall("\n".join(page.lines), " ".join(word.text for word in words))
        print(f"{searchable.name} page {pages.index(page) + 1}: recall {share:.3f}")
        assert share >= MIN_RECALL, (page.lines, [word.text for word in words])
    assert "今天天气很好，我们去公园散步。" in pdftotext(searchable)  # CJK without spaces between its words


def test_each_word_sits_where_it_was_printed(scan: tuple[list[ScannedPage], Path], searchable: Path) -> None:
    pages, _ = scan
    for number, (page, words) in enumerate(zip(pages, pdftotext_words(searchable), strict=True), start=1):
        overlaps = placed(page.words, words)
        read = [share for share in overlaps if share > 0]  # words read right (alone, or inside a CJK run)
        print(f"{searchable.name} page {number}: overlap {min(read):.2f} worst, {statistics.mean(read):.2f} mean")
        assert len([share for share in overlaps if share >= MIN_OVERLAP]) >= MIN_RECALL * len(overlaps), overlaps
        assert statistics.mean(read) >= MIN_MEAN_OVERLAP, overlaps


def test_the_pages_their_sizes_and_the_scan_images_are_kept(
    scan: tuple[list[ScannedPage], Path], searchable: Path
) -> None:
    _, path = scan
    assert page_count_and_sizes(searchable) == page_count_and_sizes(path) == ["612 x 792 pts (letter)"] * 2
    assert images(searchable) == images(path)
    assert image_streams(searchable) == image_streams(path)


def test_the_text_layer_is_invisible(scan: tuple[list[ScannedPage], Path], searchable: Path) -> None:
    _, path = scan
    before, after = pypdfium2.PdfDocument(path), pypdfium2.PdfDocument(searchable)
    for page_before, page_after in zip(before, after, strict=True):
        assert page_after.render(scale=1).to_pil().tobytes() == page_before.render(scale=1).to_pil().tobytes()


def test_the_result_is_pdf_a(searchable: Path) -> None:
    with pikepdf.open(searchable) as document:
        assert document.open_metadata().pdfa_status == "2B"
