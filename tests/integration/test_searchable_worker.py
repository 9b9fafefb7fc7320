"""``searchable_pdf`` with lines given (no OCR engine): OCRmyPDF, in its worker process, puts them where they are
printed on PDFs and images, leaves pages that have text alone, and fails as a 400 or 504 with its worker gone.
Each case is a real OCRmyPDF run of a few seconds, hence here and not with the unit tests."""

from __future__ import annotations

import asyncio
import ctypes
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pikepdf
import psutil
import pypdfium2
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image, ImageDraw, ImageFont

from gateway.documents.page_lines import PageLines, TextLine, normalised
from gateway.documents.searchable import SearchablePdf, searchable_pdf
from gateway.errors import InvalidRequest, RequestTimeout
from gateway.media.pdf_worker import page_images
from tests.scans import LATIN_FONT, image_only_pdf, image_streams, overlap, pdftotext, pdftotext_words, scanned_page
from tests.servers import sigkill_and_watch_tree
from tests.waiting import wait_until

WORD = "Searchable"
ROOT = Path(__file__).resolve().parents[2]
# Stands for the gateway: starts a worker on the folder given, then waits.
GATEWAY = textwrap.dedent(
    """
    import os, subprocess, sys, time
    worker = [sys.executable, "-m", "gateway.documents.searchable_worker", sys.argv[1], str(os.getpid()), "600"]
    subprocess.Popen(worker, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(600)
    """
)


def make(source: bytes, pages: list[PageLines], timeout: float = 120) -> SearchablePdf:
    return asyncio.run(searchable_pdf(source, pages, timeout=timeout))


def one_word(size: tuple[int, int], mode: str = "L") -> tuple[Image.Image, tuple[float, float, float, float]]:
    """``WORD`` printed on a white image; its ink box."""
    image = Image.new(mode, size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((60, 40), WORD, font=ImageFont.truetype(LATIN_FONT, 48), fill="black")
    return image, draw.textbbox((60, 40), WORD, font=ImageFont.truetype(LATIN_FONT, 48))


def written(result: SearchablePdf, tmp_path: Path) -> Path:
    path = tmp_path / "searchable.pdf"
    path.write_bytes(result.data)
    return path


def test_an_image_without_a_resolution_becomes_a_one_page_pdf_at_200_dpi_with_its_text(tmp_path: Path) -> None:
    image, ink = one_word((800, 400), "RGBA")  # img2pdf refuses alpha channels: the worker converts it first
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    result = make(buffer.getvalue(), [PageLines(1, [TextLine(WORD, normalised(ink, 800, 400))])])
    path = written(result, tmp_path)
    with pikepdf.open(path) as document:
        assert len(document.pages) == 1 and [float(v) for v in document.pages[0].mediabox] == [0, 0, 288, 144]
    (words,) = pdftotext_words(path)
    assert [word.text for word in words] == [WORD] and overlap(words[0].box, ink) > 0.5
    assert result.pdfa


def test_a_jpeg_is_embedded_as_it_is(tmp_path: Path) -> None:
    image, ink = one_word((600, 300), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", dpi=(300, 300))
    path = written(make(buffer.getvalue(), [PageLines(1, [TextLine(WORD, normalised(ink, 600, 300))])]), tmp_path)
    assert image_streams(path) == [buffer.getvalue()]
    assert pdftotext(path).split() == [WORD]


def test_pages_that_already_have_text_are_left_as_they_are(tmp_path: Path) -> None:
    page = scanned_page(["First reading"], LATIN_FONT, 40)
    box = normalised((page.words[0].box[0], page.words[0].box[1], *page.words[1].box[2:]), *page.image.size)
    first = make(image_only_pdf([page.image]), [PageLines(1, [TextLine("First reading", box)])]).data
    again = written(make(first, [PageLines(1, [TextLine("Other words", box)])]), tmp_path)
    assert pdftotext(again).split() == ["First", "reading"]


def test_lines_land_on_the_printed_spot_of_a_cropped_and_turned_page() -> None:
    # A page scanned on its side (landscape, 792 × 612 pt) that /Rotate turns upright, cropped by a CropBox.
    page = scanned_page([WORD], LATIN_FONT, 60, left=500, top=700)
    with pikepdf.open(io.BytesIO(image_only_pdf([page.image.rotate(90, expand=True)]))) as document:
        document.pages[0].CropBox = [72, 36, 720, 540]
        document.pages[0].Rotate = 90
        buffer = io.BytesIO()
        document.save(buffer)
    # The gateway reads the page as its renderer shows it (the CropBox, turned): the lines' boxes are shares of that.
    source = pypdfium2.PdfDocument(buffer.getvalue())
    (shown,) = page_images(source)
    ink = np.argwhere(np.asarray(shown.convert("L")) < 128)
    (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0) + 1
    box = normalised((left, top, right, bottom), shown.width, shown.height)
    result = make(buffer.getvalue(), [PageLines(1, [TextLine(WORD, box)])])
    # Both in the page's own coordinates (PDF points, unturned): where the ink is and where the text went.
    corners = [shown_to_page(source[0], shown.size, x, y) for x, y in ((left, top), (right, bottom))]
    printed = (
        min(c[0] for c in corners),
        min(c[1] for c in corners),
        max(c[0] for c in corners),
        max(c[1] for c in corners),
    )
    textpage = pypdfium2.PdfDocument(result.data)[0].get_textpage()
    assert textpage.get_text_range().strip() == WORD
    chars = [textpage.get_charbox(index) for index in range(len(WORD))]
    text = (min(c[0] for c in chars), min(c[1] for c in chars), max(c[2] for c in chars), max(c[3] for c in chars))
    assert overlap(text, printed) > 0.4, (text, printed)


def shown_to_page(page: pypdfium2.PdfPage, size: tuple[int, int], x: int, y: int) -> tuple[float, float]:
    """A pixel of the page as ``page_images`` shows it → the page's own coordinates, as PDFium maps them."""
    page_x, page_y = ctypes.c_double(), ctypes.c_double()
    pdfium_c.FPDF_DeviceToPage(page.raw, 0, 0, size[0], size[1], 0, int(x), int(y), page_x, page_y)
    return page_x.value, page_y.value


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"%PDF-1.7\nnot really a PDF", "The PDF could not be read"),
        (b"\x89PNG\r\n\x1a\n broken", "neither a PDF nor an image that can be read"),
        (b"plain text", "neither a PDF nor an image that can be read"),
    ],
)
def test_a_file_that_cannot_be_made_searchable_is_a_400(source: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as refused:
        make(source, [])
    assert refused.value.status_code == 400 and refused.value.param == "file"


def test_a_pdf_that_needs_a_password_is_a_400_that_says_so() -> None:
    buffer = io.BytesIO()
    with pikepdf.open(io.BytesIO(image_only_pdf([Image.new("L", (100, 100), 255)]))) as document:
        document.save(buffer, encryption=pikepdf.Encryption(owner="owner", user="user"))
    with pytest.raises(InvalidRequest, match="The PDF is encrypted: send it decrypted"):
        make(buffer.getvalue(), [])


def workers() -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if "gateway.documents.searchable_worker" in " ".join(child.cmdline())
    ]


def test_a_run_past_its_time_is_a_504_and_its_worker_is_killed() -> None:
    page = scanned_page(["Too slow"], LATIN_FONT, 40)
    with pytest.raises(RequestTimeout):
        make(image_only_pdf([page.image] * 3), [], timeout=0.5)
    assert workers() == []


def test_a_cancelled_run_kills_its_worker() -> None:
    page = scanned_page(["Cancelled"], LATIN_FONT, 40)

    async def scenario() -> None:
        run = asyncio.create_task(searchable_pdf(image_only_pdf([page.image] * 3), [], timeout=120))
        await asyncio.to_thread(wait_until, workers, 30, "the worker to start")
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(scenario())
    assert workers() == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_run_in_progress_ends_when_its_gateway_is_sigkilled(tmp_path: Path) -> None:
    page = scanned_page(["A long document"], LATIN_FONT, 40)
    (tmp_path / "source.pdf").write_bytes(image_only_pdf([page.image] * 40))
    (tmp_path / "lines.json").write_text('{"pages": []}')
    gateway = subprocess.Popen(
        [sys.executable, "-c", GATEWAY, str(tmp_path)], env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    wait_until(lambda: psutil.Process(gateway.pid).children(), 30, "the worker to start")
    killed = sigkill_and_watch_tree(gateway, timeout=10)
    assert any("gateway.documents.searchable_worker" in process for process in killed.descendants)
    assert killed.survivors == [], killed.survivors
    assert not (tmp_path / "searchable.pdf").exists()  # it was killed mid-run, not finished
