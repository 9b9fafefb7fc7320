"""A page's text lines → OCRmyPDF's OCR element tree (page → lines → words), from which OCRmyPDF draws the
invisible text layer.

Spotting (HunyuanOCR's and rapidocr's) gives lines, not words, so each line's box is cut along its width into
its words in proportion to their characters, each character (spaces too) counted at its width in Noto Sans: the
font OCRmyPDF draws the invisible text in (it ships it), so the words' proportions are those of the layer's own
letters. A character Noto Sans lacks counts one em when it is wide (CJK, fullwidth forms: Unicode East Asian
Width W or F), else an average letter's width. On DejaVu Sans text this places words twice as well as counting
characters (mean horizontal overlap with the printed word 0.95 instead of 0.75, worst 0.74 instead of 0.28). A
word is what stands between spaces, so a Chinese or Japanese line without spaces is one word, which OCRmyPDF's
renderer stretches over its box evenly, character by character. That renderer handles the scripts itself: it puts a
space after every word except between two CJK-only words (so CJK stays unspaced in extracted text), shapes
complex scripts, orders right-to-left words, and picks a font per word by its characters — the element's
``language`` only names a preferred font, so it is left unset.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from itertools import accumulate
from pathlib import Path

import ocrmypdf
from fontTools.ttLib import TTFont
from ocrmypdf import BoundingBox, OcrClass, OcrElement

PixelBox = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max in pixels of the OCR image
_WORD = re.compile(r"\S+")
TEXT_FONT = Path(ocrmypdf.__file__).parent / "data" / "NotoSans-Regular.ttf"
AVERAGE_WIDTH = 0.55  # ems: an average Latin letter, for characters the font lacks


@cache
def _advances() -> dict[int, float]:
    """Code point → advance width in ems, for every character of the text layer's font."""
    with TTFont(TEXT_FONT) as font:
        units, metrics = font["head"].unitsPerEm, font["hmtx"]
        return {code: metrics[glyph][0] / units for code, glyph in font.getBestCmap().items()}


def character_width(character: str) -> float:
    """The character's width in ems in the text layer's font; one em for a wide character it lacks (CJK
    ideographs, kana, hangul, fullwidth forms), an average letter's width for another."""
    width = _advances().get(ord(character))
    if width is not None:
        return width
    return 1.0 if unicodedata.east_asian_width(character) in ("W", "F") else AVERAGE_WIDTH


def split_words(text: str, box: PixelBox) -> list[tuple[str, PixelBox]]:
    """The words of a line printed in ``box``, each with its share of the box's width."""
    text = text.strip()
    left, top, right, bottom = box
    # offsets[i]: the width, in ems, of text[:i]
    offsets = [0, *accumulate(character_width(character) for character in text)]
    if not offsets[-1]:
        return []
    scale = (right - left) / offsets[-1]
    return [
        (match.group(), (left + offsets[match.start()] * scale, top, left + offsets[match.end()] * scale, bottom))
        for match in _WORD.finditer(text)
    ]


def page_tree(
    lines: Iterable[tuple[str, PixelBox]], width: int, height: int, dpi: float, page_number: int
) -> OcrElement:
    """The element tree of a ``width`` × ``height`` page image: one line element per line with text and a box
    of some area, each holding its words. ``page_number`` counts from 0, as OCRmyPDF's do."""
    elements = []
    for text, box in lines:
        box = _inside(box, width, height)
        words = split_words(text, box)
        if words and box[2] > box[0] and box[3] > box[1]:
            elements.append(
                OcrElement(
                    ocr_class=OcrClass.LINE,
                    bbox=_bbox(box),
                    children=[OcrElement(ocr_class=OcrClass.WORD, bbox=_bbox(b), text=word) for word, b in words],
                )
            )
    return OcrElement(
        ocr_class=OcrClass.PAGE,
        bbox=BoundingBox(left=0, top=0, right=width, bottom=height),
        dpi=dpi,
        page_number=page_number,
        children=elements,
    )


def _inside(box: PixelBox, width: int, height: int) -> PixelBox:
    x1, y1, x2, y2 = (min(max(value, 0.0), side) for value, side in zip(box, (width, height) * 2, strict=True))
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _bbox(box: PixelBox) -> BoundingBox:
    return BoundingBox(left=box[0], top=box[1], right=box[2], bottom=box[3])
