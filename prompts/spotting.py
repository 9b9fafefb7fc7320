"""Text spotting output → boxes in the original image's pixels.

HunyuanOCR writes coordinates normalised to 0–1000 of the image it saw; the
gateway resized that image (keeping its aspect ratio), so scaling by the
original width and height gives the original's pixels. Two output formats:
1.0's ``text(x1,y1),(x2,y2)`` runs and 1.5's JSON array of ``{"box", "text"}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

_COORDINATES = re.compile(r"\((-?\d{1,6}),\s*(-?\d{1,6})\),\s*\((-?\d{1,6}),\s*(-?\d{1,6})\)")


@dataclass(frozen=True)
class Box:
    text: str
    box: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max in original-image pixels

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_spotting(output: str, width: int, height: int) -> list[Box]:
    """Boxes from either spotting format; items that do not parse are skipped."""
    stripped = output.strip()
    if stripped.startswith("["):
        boxes = _parse_json(stripped, width, height)
        if boxes is not None:
            return boxes
    # Each item's text is what stands between the previous coordinates and its own (linear, no backtracking).
    boxes, text_start = [], 0
    for match in _COORDINATES.finditer(output):
        boxes.append(_box(output[text_start : match.start()].strip(), [int(v) for v in match.groups()], width, height))
        text_start = match.end()
    return boxes


def _parse_json(output: str, width: int, height: int) -> list[Box] | None:
    try:
        items = json.loads(output)
    except json.JSONDecodeError:
        return None
    boxes = []
    for item in items if isinstance(items, list) else []:
        coordinates = item.get("box") if isinstance(item, dict) else None
        if (
            isinstance(coordinates, list)
            and len(coordinates) == 4
            and all(isinstance(v, int | float) for v in coordinates)
        ):
            boxes.append(_box(str(item.get("text", "")), coordinates, width, height))
    return boxes


def _box(text: str, normalised: list[int] | list[float], width: int, height: int) -> Box:
    return Box(text=text, box=to_pixels(normalised, width, height))


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
