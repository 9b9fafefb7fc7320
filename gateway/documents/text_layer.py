"""A page's text lines → OCRmyPDF's OCR element tree (page → lines → words), from which OCRmyPDF draws the
invisible text layer.

Spotting (HunyuanOCR's and rapidocr's) gives lines, not words, so each line's box is cut along its width into
its words in proportion to their characters: a space counts as one character, a wide character (CJK, fullwidth
forms; Unicode East Asian Width W or F) as two, since it takes about twice a Latin letter's width. A word is
what stands between spaces, so a Chinese or Japanese line without spaces is one word and OCRmyPDF's renderer
stretches it over its box evenly, character by character. That renderer handles the scripts itself: it puts a
space after every word except between two CJK-only words (so CJK stays unspaced in extracted text), shapes
complex scripts, orders right-to-left words, and picks a font per word by its characters — the element's
``language`` only names a preferred font, so it is left unset.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from itertools import accumulate

from ocrmypdf import BoundingBox, OcrClass, OcrElement

PixelBox = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max in pixels of the OCR image
_WORD = re.compile(r"\S+")


def character_width(character: str) -> int:
    """2 for a wide character (CJK ideographs, kana, hangul, fullwidth forms), else 1."""
    return 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1


def split_words(text: str, box: PixelBox) -> list[tuple[str, PixelBox]]:
    """The words of a line printed in ``box``, each with its share of the box's width."""
    text = text.strip()
    left, top, right, bottom = box
    # offsets[i]: the width, in character widths, of text[:i]
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
