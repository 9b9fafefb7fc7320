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

import math
import re
import textwrap
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
LINE_HEIGHT = 1.2  # ems: a line of print, from one baseline to the next


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
    """The element tree of a ``width`` × ``height`` page image: one line element per line with text, each holding
    its words (a vertical line or a block as the lines it is printed in, ``_as_printed``). ``page_number`` counts
    from 0, as OCRmyPDF's do."""
    elements = []
    for text, box in (part for line in lines for part in _as_printed(line[0], _inside(line[1], width, height))):
        words = split_words(text, box)
        if words:
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


def _as_printed(text: str, box: PixelBox) -> list[tuple[str, PixelBox]]:
    """One spotted item as the lines it is printed in, for a renderer that sets each line left to right: a box at
    least twice as tall as wide holds a vertical line (CJK set top to bottom), one character under the other; a
    box that holds a block of text (a layout region given for spotting) its text wrapped over as many lines as
    letters of a plausible shape need."""
    characters = [character for character in text if not character.isspace()]
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    if len(characters) >= 2 and height >= 2 * width:
        return _stacked(characters, box)
    ems = sum(character_width(character) for character in text)
    count = round(math.sqrt(ems * height / (LINE_HEIGHT * width))) if width > 0 else 1
    if count < 2:
        return [(text, box)]
    return _stacked(textwrap.wrap(text, width=max(1, math.ceil(len(text) / count))), box)


def _stacked(lines: list[str], box: PixelBox) -> list[tuple[str, PixelBox]]:
    """``lines`` one under another, each an equal slice of ``box``'s height."""
    left, top, right, bottom = box
    step = (bottom - top) / len(lines)
    return [(line, (left, top + i * step, right, top + (i + 1) * step)) for i, line in enumerate(lines)]


def _inside(box: PixelBox, width: int, height: int) -> PixelBox:
    """``box`` clamped into the page, corners in order, at least a pixel each way (the model gives lines of no
    height at times: their words still belong in the layer)."""
    x1, y1, x2, y2 = (min(max(value, 0.0), side) for value, side in zip(box, (width, height) * 2, strict=True))
    left, top = min(min(x1, x2), width - 1.0), min(min(y1, y2), height - 1.0)
    return left, top, max(max(x1, x2), left + 1.0), max(max(y1, y2), top + 1.0)


def _bbox(box: PixelBox) -> BoundingBox:
    return BoundingBox(left=box[0], top=box[1], right=box[2], bottom=box[3])
