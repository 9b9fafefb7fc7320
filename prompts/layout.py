"""HunyuanOCR-1.5's layout answers (``layout``, ``layout_parse``) → regions: text, category and polygon.

Two wire forms, as Tencent's layout scorer reads them:
- tagged: ``text<hy-meta><layout>category</layout><poly>x1,y1,…,x4,y4</poly></hy-meta>`` after each region
  (``<quad>`` for ``<poly>``, points also as ``(x,y),…`` or ``[[x,y],…]``);
- JSON: a list of ``{"layout_type": category, "bbox": …, "text": …}``.

Real answers bend both: a ``<hy-meta>`` never closed, a ``</layout>`` or ``</poly>`` missing, a cut inside the last
tag, a ``<poly>`` that turns into spotting runs, regions with no text, self-intersecting polygons (only their
bounding box is used), the JSON cut off or with unescaped quotes in its HTML. Every tag is optional here past
``<hy-meta>``; the points are whatever numbers follow; what is neither is text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prompts.loose_json import objects_in, unfenced
from prompts.markup import NUMBER, POINTS

_META = re.compile(
    r"<hy-meta>\s*"
    r"(?:<layout>\s*([^<]*?)\s*(?:</layout>|(?=<)|$))?\s*"
    rf"(?:<(?:poly|quad)>\s*({POINTS})?\s*(?:</(?:poly|quad)>)?)?\s*"
    r"(?:</hy-meta>)?"
)
_NUMBER = re.compile(NUMBER)
_ITEM_START = re.compile(r'\{\s*"(?:layout_type|bbox|text)"')  # an object, whichever key it writes first
_LOOSE_CATEGORY = re.compile(r'"layout_type"\s*:\s*"([^"]*)"')
_LOOSE_BBOX = re.compile(r'"bbox"\s*:\s*("[^"]*"?|\[[-\d\s,.\[\]]*\]?)')
_LOOSE_TEXT = re.compile(r'"text"\s*:\s*"')
_OBJECT_END = re.compile(r'"?\s*\}?\s*[,\]]?\s*(?:```)?\s*$')
_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})')
Point = tuple[float, float]


@dataclass(frozen=True)
class Region:
    """One layout region: its text (Markdown), its category (lower case, ``_`` for spaces; "" if none) and the
    points of its polygon in 0–1000 coordinates (none when the model gave none)."""

    text: str
    category: str = ""
    points: tuple[Point, ...] = ()

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """``(x_min, y_min, x_max, y_max)`` around the points; None with fewer than two or without an area."""
        found = bounds(self.points)
        if found is None or found[0] == found[2] or found[1] == found[3]:
            return None  # no area: a polygon the length limit cut after its first edge, or a slip
        return found


def is_layout(answer: str) -> bool:
    """Whether ``answer`` is in one of the layout forms."""
    return "<hy-meta>" in answer or ('"layout_type"' in answer and answer.lstrip("`json \n").startswith(("[", "{")))


def read_layout(answer: str) -> list[Region]:
    """The regions of a layout answer, in the order written; text after the last tag is a region of its own."""
    if "<hy-meta>" in answer:
        return _tagged(answer)
    body = unfenced(answer).strip()
    try:
        items = json.loads(body)
    except (ValueError, RecursionError):
        return [_loose_json_region(body[start:end]) for start, end in _item_spans(body)]
    return [_json_region(item) for item in objects_in(items) if "layout_type" in item]


def points(coordinates: Any) -> tuple[Point, ...]:
    """The points in ``coordinates``, its numbers taken in pairs: ``"x,y,x,y…"``, ``"(x,y),(x,y)"``, ``[[x,y],…]``,
    ``[x1,y1,x2,y2]``, numbers as strings."""
    numbers = [float(number) for number in _NUMBER.findall(str(coordinates))]
    return tuple(zip(numbers[0::2], numbers[1::2], strict=False))


def bounds(found: Sequence[Point]) -> tuple[float, float, float, float] | None:
    """``(x_min, y_min, x_max, y_max)`` around ``found``; None with fewer than two points."""
    if len(found) < 2:
        return None
    xs, ys = [x for x, _ in found], [y for _, y in found]
    return min(xs), min(ys), max(xs), max(ys)


def _tagged(answer: str) -> list[Region]:
    regions, start = [], 0
    for match in _META.finditer(answer):
        text = answer[start : match.start()]
        category = _category(match.group(1) or "")
        if text.strip() or category or match.group(2):
            regions.append(Region(text, category, points(match.group(2) or "")))
        start = match.end()
    if answer[start:].strip():
        regions.append(Region(answer[start:]))
    return regions


def _item_spans(body: str) -> list[tuple[int, int]]:
    """Where each region object of a JSON answer that does not parse starts and ends: from its
    first key to the next object's (the text of a region cannot be told apart by its quotes, which may be
    unescaped HTML attributes, so the next region's start bounds it)."""
    starts = [match.start() for match in _ITEM_START.finditer(body)]
    return list(zip(starts, [*starts[1:], len(body)], strict=False))


def _loose_json_region(item: str) -> Region:
    """One region object read field by field; its text runs to the end of the object, or of the answer where the
    length limit cut it."""
    category = _LOOSE_CATEGORY.search(item)
    coordinates = _LOOSE_BBOX.search(item)
    text = _LOOSE_TEXT.search(item)
    return Region(
        _json_unescaped(_OBJECT_END.sub("", item[text.end() :])) if text else "",
        _category(category.group(1) if category else ""),
        points(coordinates.group(1) if coordinates else ""),
    )


def _json_unescaped(text: str) -> str:
    escapes = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}
    return _ESCAPE.sub(lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "u" else escapes[m.group(1)], text)


def _category(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _json_region(item: dict[str, Any]) -> Region:
    category = _category(str(item.get("layout_type") or ""))
    coordinates = next((item[key] for key in ("bbox", "box", "poly", "quad") if key in item), "")
    return Region(str(item.get("text") or ""), category, points(coordinates))
