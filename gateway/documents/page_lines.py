"""Text lines of a document's pages with their boxes, as the searchable PDF's text layer is built from them.

Boxes are normalised to 0–1 of the page image the lines were read from (top-left origin), so they fit any
rendering of the same page: OCRmyPDF renders its own, at its own resolution, and scales them to it. The lines
file carries them from the gateway to OCRmyPDF's OCR-engine plugin (``gateway.documents.ocrmypdf_plugin``) in
the worker process: ``{"pages": [{"number": 1, "lines": [{"text": …, "box": [x1, y1, x2, y2]}, …]}, …]}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prompts.spotting import Box

LINES_FILE = "OCR_GATEWAY_LINES"  # the environment variable that names the lines file for the plugin
NormalisedBox = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max as shares (0–1) of the page
PdfBox = tuple[float, float, float, float]  # left, bottom, right, top in PDF points (a MediaBox or CropBox)
Turn = Callable[[float, float], tuple[float, float]]
# A page turned clockwise by /Rotate: where a point (x, y) of the unturned page (shares, top-left origin) is shown,
# and back.
_TURN: dict[int, Turn] = {
    0: lambda x, y: (x, y),
    90: lambda x, y: (1 - y, x),
    180: lambda x, y: (1 - x, 1 - y),
    270: lambda x, y: (y, 1 - x),
}
_UNTURN: dict[int, Turn] = {
    0: lambda u, v: (u, v),
    90: lambda u, v: (v, 1 - u),
    180: lambda u, v: (1 - u, 1 - v),
    270: lambda u, v: (1 - v, u),
}


@dataclass(frozen=True)
class TextLine:
    """One line of text and where it is printed."""

    text: str
    box: NormalisedBox

    def in_pixels(self, width: float, height: float) -> tuple[float, float, float, float]:
        """The box in pixels of a ``width`` × ``height`` rendering of the page."""
        x1, y1, x2, y2 = self.box
        return x1 * width, y1 * height, x2 * width, y2 * height


@dataclass(frozen=True)
class PageLines:
    """One page's lines; ``number`` counts from 1."""

    number: int
    lines: list[TextLine]

    @classmethod
    def from_boxes(cls, number: int, boxes: Iterable[Box], width: int, height: int) -> PageLines:
        """A page's lines from spotting boxes in pixels of its ``width`` × ``height`` image (``/ocr``'s boxes)."""
        return cls(number, [TextLine(box.text, normalised(box.box, width, height)) for box in boxes])


def normalised(box: Sequence[float], width: float, height: float) -> NormalisedBox:
    """A pixel box ``[x1, y1, x2, y2]`` of a ``width`` × ``height`` image as shares of it, clamped into 0–1 and
    with its corners in order."""
    x1, y1, x2, y2 = (min(max(value / side, 0.0), 1.0) for value, side in zip(box, (width, height) * 2, strict=True))
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def onto_media_box(box: NormalisedBox, crop: PdfBox, media: PdfBox, rotation: int) -> NormalisedBox:
    """A box as a share of a page's CropBox → as a share of its MediaBox, both as shown (turned clockwise by
    ``rotation`` degrees, the page's /Rotate)."""
    turn, unturn = _TURN[rotation % 360], _UNTURN[rotation % 360]
    corners = []
    for u, v in ((box[0], box[1]), (box[2], box[3])):
        x, y = unturn(u, v)
        # into PDF points (y grows upwards there), then into shares of the MediaBox
        px, py = crop[0] + x * (crop[2] - crop[0]), crop[3] - y * (crop[3] - crop[1])
        corners.append(turn((px - media[0]) / (media[2] - media[0]), (media[3] - py) / (media[3] - media[1])))
    (x1, y1), (x2, y2) = corners
    return normalised((x1, y1, x2, y2), 1.0, 1.0)


def write_lines(path: Path, pages: Iterable[PageLines]) -> None:
    """Writes the lines file."""
    document = {
        "pages": [
            {"number": page.number, "lines": [{"text": line.text, "box": list(line.box)} for line in page.lines]}
            for page in pages
        ]
    }
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def read_lines(path: Path) -> dict[int, list[TextLine]]:
    """The lines file: page number → its lines. Lines whose box is not four numbers are skipped."""
    document = json.loads(path.read_text(encoding="utf-8"))
    pages: dict[int, list[TextLine]] = {}
    for page in document["pages"]:
        lines = pages.setdefault(int(page["number"]), [])
        for line in page["lines"]:
            box = line.get("box")
            if isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box):
                lines.append(TextLine(str(line.get("text", "")), normalised(box, 1.0, 1.0)))
    return pages
