"""JSON as a model writes it: in a Markdown fence, several objects back to back, a list cut off by the length
limit, an object holding the list. ``json_objects`` finds every whole object there is and skips the rest."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```[a-zA-Z]*[ \t]*\n?")
_DECODER = json.JSONDecoder()
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:)?')  # a string, and the colon after it when it is a key
_MAX_MISSES = 200  # objects that fail to decode before the search gives up (a looping answer's thousands of `{`)


def unfenced(text: str) -> str:
    """``text`` without Markdown code fences (```` ```json ```` and ```` ``` ````)."""
    return _FENCE.sub("", text) if "```" in text else text


def json_objects(text: str) -> list[dict[str, Any]] | None:
    """The objects in ``text`` in order — the items of a list, a list held by an object (``{"results": […]}``),
    or each whole object where the JSON as a whole does not parse; None when ``text`` is not JSON-like."""
    body = unfenced(text).strip()
    if not body.startswith(("[", "{")):
        return None
    try:
        return objects_in(json.loads(body))
    except (ValueError, RecursionError):
        return _salvaged(body)


def objects_in(value: Any) -> list[dict[str, Any]]:
    """The objects in decoded JSON: the items of a list (nested lists flattened), the list an object holds, or
    the object itself."""
    if isinstance(value, dict):
        lists = [item for item in value.values() if isinstance(item, list) and any(isinstance(i, dict) for i in item)]
        return objects_in(lists[0]) if len(lists) == 1 else [value]
    if isinstance(value, list):
        return [found for item in value for found in (objects_in(item) if isinstance(item, list | dict) else [])]
    return []


def _salvaged(body: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    position, misses = 0, 0
    while (start := body.find("{", position)) != -1 and misses < _MAX_MISSES:
        try:
            value, end = _DECODER.raw_decode(body, start)
        except (ValueError, RecursionError):
            position, misses = start + 1, misses + 1
            continue
        objects += objects_in(value)
        position = end
    return objects


def string_values(text: str) -> list[str]:
    """Every string value in JSON-like ``text`` (keys left out), whether or not the JSON as a whole parses: the
    words of an answer whose objects cannot be read."""
    values = []
    for raw, key in _STRING.findall(text):
        if key:
            continue
        try:
            values.append(json.loads(f'"{raw}"'))
        except ValueError:
            values.append(raw)
    return values
