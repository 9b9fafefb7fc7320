"""Scanned pages for the searchable-PDF tests: text rendered at 200 dpi on Letter paper with each word's ink box
known, put into image-only PDFs (no text layer), and what ``pdftotext`` finds in the PDFs made of them."""

from __future__ import annotations

import io
import re
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import img2pdf
import pikepdf
from PIL import Image, ImageDraw, ImageFont

DPI = 200
LETTER = (1700, 2200)  # 8.5 × 11 in at 200 dpi
FONTS = "/usr/share/fonts/truetype"  # fonts-dejavu-core, fonts-wqy-zenhei (see the Makefile)
LATIN_FONT = f"{FONTS}/dejavu/DejaVuSans.ttf"
CJK_FONT = f"{FONTS}/wqy/wqy-zenhei.ttc"
PixelBox = tuple[float, float, float, float]
# CJK radicals, punctuation, kana and ideographs; hangul; compatibility ideographs; fullwidth forms
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_TOKEN = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")
_BBOX_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>|(<page )', re.DOTALL
)


@dataclass(frozen=True)
class Word:
    text: str
    box: PixelBox  # in pixels of its page image; for found words, of a page rendered at DPI


@dataclass(frozen=True)
class ScannedPage:
    image: Image.Image
    lines: list[str]
    words: list[Word]  # each line's words (split at spaces) with their ink boxes


def scanned_page(lines: list[str], font_path: str, size: int, *, left: int = 150, top: int = 200) -> ScannedPage:
    """Black ``lines`` on a white Letter page, ``size`` px high, a line's height apart."""
    font = ImageFont.truetype(font_path, size)
    image = Image.new("L", LETTER, 255)
    draw = ImageDraw.Draw(image)
    words = []
    for index, line in enumerate(lines):
        y = top + index * 2 * size
        draw.text((left, y), line, font=font, fill=0)
        for match in re.finditer(r"\S+", line):
            x = left + font.getlength(line[: match.start()])
            words.append(Word(match.group(), tuple(float(v) for v in draw.textbbox((x, y), match.group(), font=font))))  # type: ignore[arg-type]
    return ScannedPage(image, lines, words)


def latin_and_cjk_scan(folder: Path, latin: list[str], cjk: list[str]) -> tuple[list[ScannedPage], Path]:
    """``folder/scan.pdf``: an image-only PDF of a page of ``latin`` lines (DejaVu Sans) and one of ``cjk`` lines
    (WenQuanYi Zen Hei), and the two pages as drawn."""
    import pytest

    for font in (LATIN_FONT, CJK_FONT):
        if not Path(font).is_file():
            pytest.fail(f"{font} is missing: install the Makefile's DEBIAN_TEST_PACKAGES (make system-deps)")
    pages = [scanned_page(latin, LATIN_FONT, 36), scanned_page(cjk, CJK_FONT, 44)]
    path = folder / "scan.pdf"
    path.write_bytes(image_only_pdf(page.image for page in pages))
    return pages, path


def image_only_pdf(pages: Iterable[Image.Image], dpi: int = DPI, title: str | None = None) -> bytes:
    """One page per image, each image embedded as it is (PNG, at ``dpi``): a scan with no text layer. A ``title``
    (the document's metadata) makes the same pages distinct bytes."""
    encoded = []
    for page in pages:
        buffer = io.BytesIO()
        page.save(buffer, "PNG", dpi=(dpi, dpi))
        encoded.append(buffer.getvalue())
    return img2pdf.convert(encoded, title=title)


def tokens(text: str) -> Counter[str]:
    """Words split at spaces, and at every CJK character, since CJK puts no spaces between its words."""
    return Counter(_TOKEN.findall(text))


def recall(drawn: str, found: str) -> float:
    """The share of the drawn tokens that were found."""
    expected = tokens(drawn)
    return sum((expected & tokens(found)).values()) / sum(expected.values())


def pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def pdftotext_words(pdf: Path) -> list[list[Word]]:
    """Each page's words as ``pdftotext -bbox`` places them, boxes in pixels of the page at DPI."""
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages: list[list[Word]] = []
    for match in _BBOX_WORD.finditer(html):
        if match.group(6):
            pages.append([])
        else:
            box = tuple(float(v) * DPI / 72 for v in match.groups()[:4])
            pages[-1].append(Word(unescape(match.group(5)), box))  # type: ignore[arg-type]
    return pages


def overlap(a: PixelBox, b: PixelBox) -> float:
    """Intersection over union of two boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    area = width * height
    return area / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - area)


def placed(drawn: list[Word], found: list[Word]) -> list[float]:
    """For each drawn word, its best overlap with a found word that holds its text (the same word, or a CJK run
    it is part of); 0 when none was found."""
    return [
        max((overlap(word.box, other.box) for other in found if word.text in other.text), default=0.0) for word in drawn
    ]


def page_count_and_sizes(pdf: Path) -> list[str]:
    """``pdfinfo``'s page sizes, one per page."""
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(pdf)], capture_output=True, text=True, check=True)
    return re.findall(r"Page\s+\d+ size:\s+(.*)", info.stdout)


def images(pdf: Path) -> list[list[str]]:
    """``pdfimages -list``'s rows without the object numbers: page, size, colour, encoding, resolution, bytes."""
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    return [row[:10] + row[12:] for row in (line.split() for line in listing.splitlines()[2:])]


def image_streams(pdf: Path) -> list[bytes]:
    """Every page's images as their encoded bytes, page by page."""
    with pikepdf.open(pdf) as document:
        return [image.read_raw_bytes() for page in document.pages for image in page.images.values()]
