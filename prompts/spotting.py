"""Text spotting output → boxes in the original image's pixels.

HunyuanOCR writes coordinates normalised to 0–1000 of the image it saw; the gateway resized that image (keeping its
aspect ratio), so scaling by the original width and height gives the original's pixels. Every form real answers
take is read, as Tencent's own spotting scorer reads them:
- 1.0's ``text(x1,y1),(x2,y2)`` items back to back (1.5 answers its ``spotting_hunyuan`` prompt so too); a text may
  end in parentheses of its own (``change(s) on reverse side(81,587),(305,623)``), a box may have four points;
- 1.5's ``spotting_json``: a list of ``{"box": [xmin, ymin, xmax, ymax], "text"}`` — also fenced, ``bbox`` for
  ``box``, coordinates as strings or four points, objects back to back, a list cut off mid-item;
- a layout answer (``text<hy-meta>…<poly>…</poly></hy-meta>``) given where spotting was asked: a box per region.
No item whose text is markup or punctuation alone becomes a box; an answer with words but no box says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from prompts.layout import Region, bounds, is_layout, points, read_layout
from prompts.loose_json import json_objects, string_values, unfenced
from prompts.markup import COORDINATE_RUN, is_punctuation, strip_markup

NO_BOXES = "The spotting answer holds no box: its text is given without places."
_SEPARATORS = " \t\n,，;；"
_NOT_COORDINATES = re.compile(r"[^-\d\s,.()\[\]'\"]")
_HTML_TAG = re.compile(r"</?[A-Za-z][\w-]*\s*/?>")


@dataclass(frozen=True)
class Box:
    text: str
    box: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max in original-image pixels

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_spotting(output: str, width: int, height: int) -> list[Box]:
    """Boxes from any spotting form (see the module's docstring), in the order written."""
    return [
        Box(text, to_pixels(place, width, height))
        for text, place in _items(output)
        if place is not None and not is_punctuation(text)
    ]


def unplaced_text(output: str) -> str:
    """The text of a spotting answer that gave no box, to fall back on (see ``NO_BOXES``): the answer itself, or
    the string values of a JSON one (a ``"box"`` may hold text); "" when it gave boxes or holds no word."""
    if any(place is not None for _, place in _items(output)):
        return ""
    body = unfenced(output).strip()
    if body.startswith(("[", "{")):
        body = "\n".join(dict.fromkeys(value.strip() for value in string_values(body) if value.strip()))
    return body if not is_punctuation(strip_markup(body)) else ""


def runs_as_lines(text: str) -> str:
    """``text`` with every line that holds spotting items (two boxes or more) written one item a line, boxes
    dropped — where a document or layout answer turned into spotting, its words stay lines of text. A line with
    one box at its end is left alone (a figure's box after its caption)."""
    if "(" not in text:
        return text
    lines = []
    for line in text.split("\n"):
        pieces = COORDINATE_RUN.split(line)
        if len(pieces) == 1 or (len(pieces) == 2 and not pieces[1].strip()):
            lines.append(line)
        else:
            lines += [item for piece in pieces if (item := _clean(piece))]
    return "\n".join(lines)


def _items(output: str) -> list[tuple[str, tuple[float, float, float, float] | None]]:
    if is_layout(output):
        return [item for region in read_layout(output) for item in _region_items(region)]
    objects = json_objects(output)
    if objects is not None:
        return [_json_item(item) for item in objects]
    return list(_text_items(output))


def _text_items(output: str) -> Iterable[tuple[str, tuple[float, float, float, float] | None]]:
    """Each item's text is what stands between the previous box and its own (linear, no backtracking)."""
    text_start = 0
    for match in COORDINATE_RUN.finditer(output):
        yield _clean(output[text_start : match.start()]), bounds(points(match.group()))
        text_start = match.end()


def _region_items(region: Region) -> list[tuple[str, tuple[float, float, float, float] | None]]:
    if COORDINATE_RUN.search(region.text):  # the layout answer turned into spotting runs here
        return list(_text_items(region.text))
    return [(_clean(region.text), region.bounds)]


def _json_item(item: dict[str, Any]) -> tuple[str, tuple[float, float, float, float] | None]:
    coordinates = next((item[key] for key in ("box", "bbox", "poly", "quad", "points") if key in item), None)
    if coordinates is None or _NOT_COORDINATES.search(str(coordinates)):  # a "box" that holds text
        return _clean(str(item.get("text") or "")), None
    return _clean(str(item.get("text") or "")), bounds(points(coordinates))


def _clean(text: str) -> str:
    """An item's text: no markup — HunyuanOCR's or any other tag (a port's ``<pFig>``) — and no separator left
    between items."""
    return " ".join(_HTML_TAG.sub(" ", strip_markup(text)).strip(_SEPARATORS).split())


def to_pixels(normalised: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """``[x1, y1, x2, y2]`` in the model's 0–1000 coordinates → ``(x_min, y_min, x_max, y_max)`` in pixels of a
    ``width`` × ``height`` image (clamped into it, corners in either order)."""
    x1, y1, x2, y2 = (min(max(float(value), 0.0), 1000.0) for value in normalised)
    return (
        round(min(x1, x2) * width / 1000),
        round(min(y1, y2) * height / 1000),
        round(max(x1, x2) * width / 1000),
        round(max(y1, y2) * height / 1000),
    )
