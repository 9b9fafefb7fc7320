"""A tool's answer cut to what an agent accepts, the rest kept for a follow-up call.

Agents refuse tool results over about 25,000 tokens (Claude Code's default limit), and a long document's Markdown
runs past that. A result is cut at ``MAX_RESULT_TOKENS`` (estimated: the agent's tokenizer is not ours, and
tiktoken's tables are a download away) on a line break where one is near, and ends with a sentence saying how to
get the rest: the same call with ``offset``. The whole answer is kept for a while, so that call costs no second
reading.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

MAX_RESULT_TOKENS = 20_000  # under the ~25,000 agents take, leaving room for the note and the agent's own words
KEPT_RESULTS = 16
KEPT_CHARACTERS = 50_000_000  # all kept answers together (a DoclingDocument's JSON of a long PDF runs to MBs)
KEPT_SECONDS = 900.0
_LINE_BREAK_WINDOW = 2_000  # how far back from the cut a line break is looked for


def estimated_tokens(text: str) -> float:
    """A generous token count: ~4 characters of ASCII per token, one per other character (CJK runs near one)."""
    ascii_chars = len(text.encode("ascii", "ignore"))  # counted in C: answers run to megabytes
    return ascii_chars / 4 + (len(text) - ascii_chars)


def result_key(owner: str, tool: str, arguments: dict[str, Any]) -> str:
    """Which call an answer belongs to: the caller, the tool and its arguments but ``offset``."""
    asked = {name: value for name, value in arguments.items() if name != "offset"}
    canonical = json.dumps([owner, tool, asked], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class KeptResults:
    """The last ``KEPT_RESULTS`` whole answers (``KEPT_CHARACTERS`` at most in all), each for ``KEPT_SECONDS``."""

    def __init__(self) -> None:
        self._kept: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get(self, key: str) -> str | None:
        self._drop_expired()
        found = self._kept.get(key)
        if found is None:
            return None
        self._kept.move_to_end(key)
        return found[1]

    def put(self, key: str, text: str) -> None:
        self._kept[key] = (time.monotonic() + KEPT_SECONDS, text)
        self._kept.move_to_end(key)
        while len(self._kept) > KEPT_RESULTS or sum(len(kept) for _, kept in self._kept.values()) > KEPT_CHARACTERS:
            self._kept.popitem(last=False)

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for key in [key for key, (expires, _) in self._kept.items() if expires < now]:
            del self._kept[key]


def page_of(text: str, offset: int, tool: str) -> str:
    """``text`` from character ``offset``, cut to ``MAX_RESULT_TOKENS``, with a note naming the next offset."""
    if offset > len(text):
        raise ToolError(f"offset {offset} is past the end of the answer ({len(text)} characters).")
    rest = text[offset:]
    end = _cut(rest)
    if end == len(rest):
        return rest if offset == 0 else f"{rest}\n\n[Characters {offset}–{len(text)} of {len(text)}: the end.]"
    shown = offset + end
    return (
        f"{rest[:end]}\n\n[Characters {offset}–{shown} of {len(text)}. The answer goes on: call {tool} again with "
        f"the same arguments and offset={shown} for the next part (or ask for fewer pages).]"
    )


def _cut(text: str) -> int:
    """Where to end a part of ``text``: all of it if it fits, else the last line break before the budget runs
    out (or the budget's end when no line break is near)."""
    if estimated_tokens(text) <= MAX_RESULT_TOKENS:
        return len(text)
    low, high = 0, len(text)  # the longest prefix within budget, found by halving (each count runs in C)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if estimated_tokens(text[:middle]) <= MAX_RESULT_TOKENS else (low, middle - 1)
    line_break = text.rfind("\n", max(0, low - _LINE_BREAK_WINDOW), low)
    return line_break + 1 if line_break > 0 else low
