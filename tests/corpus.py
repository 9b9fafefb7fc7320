"""Real HunyuanOCR answers (``tests/real_answers/*.json``, see its README) and the yardsticks the readers are held
to: which words an answer holds, whether an output lets markup through.

The words are taken from the answer independently of the readers under test: the ``"text"`` values of JSON forms,
otherwise the answer with every tag, the values tags hold and every coordinate run taken out.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "real_answers"
# A JSON object's category (when it has one) and text; the last text may be cut off before its closing quote.
_JSON_ITEM = re.compile(r'(?:"layout_type"\s*:\s*"([^"]*)"[^{]*?)?"text"\s*:\s*"((?:[^"\\]|\\.)*)(?:"|$)')
_TAGGED_META = re.compile(r"(<hy-meta>\s*<layout>[^<]*)")
FURNITURE = ("header", "footer", "page_header", "page_footer", "page_number", "page")
_POINT = r"\(\s*\d+\s*,\s*\d+\s*\)|\[\s*\d+\s*,\s*\d+\s*\]|\d+"
_POINTS = rf"\[?\s*(?:{_POINT})(?:\s*,\s*(?:{_POINT}))*\s*\]?"
# Tags and what they hold as values: a category, a direction, points (up to where the points end: a polygon may
# run on into text).
_VALUE_TAG = re.compile(rf"<(?:layout|dir)>[^<]*|<(?:poly|quad|box)>\s*(?:{_POINTS})?")
_ANY_TAG = re.compile(r"<[^<>]*>|<[^<>]*$")
_RUN = re.compile(
    r"\(\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*\)(?:\s*,\s*\(\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*\))+"
)
_WORD = re.compile(r"[^\W_]+")
# What must never reach a text output: HunyuanOCR's tags (whole or cut) and raw coordinate runs.
_LEAK = re.compile(r"</?\s*(?:hy-meta|poly|quad|ref|layout|dir|trans)\b|<hy-|" + _RUN.pattern)


@dataclass(frozen=True)
class RealAnswer:
    """One recorded answer and where it comes from."""

    id: str
    source: str
    model: str  # "1.0" or "1.5"
    task: str
    prompt: str | None
    image_size: tuple[int, int] | None
    engine: str | None
    answer: str
    excerpt: bool
    notes: str

    @property
    def size(self) -> tuple[int, int]:
        """The image's size where the source gives it, else 1000 × 1000 (the model's own grid)."""
        return self.image_size or (1000, 1000)


def load() -> list[RealAnswer]:
    answers = []
    for path in sorted(HERE.glob("*.json")):
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        size = data.get("image_size")
        answers.append(RealAnswer(**{**data, "image_size": tuple(size) if size else None}))
    return answers


ANSWERS = load()


def by_task(*tasks: str) -> list[RealAnswer]:
    return [answer for answer in ANSWERS if answer.task in tasks]


def words(text: str) -> set[str]:
    """Distinct words, case folded (NFKC); CJK and other scripts without spaces count character by character."""
    found: set[str] = set()
    for word in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()):
        if word.isascii():
            found.add(word)
        else:
            found.update(word)
    return found


def answer_words(answer: str, *, body_only: bool = False) -> set[str]:
    """The words an answer's text holds: its ``"text"`` values if it is JSON-like, else what stands outside its
    tags and coordinate runs; ``body_only``: not those of layout regions that are page furniture (headers,
    footers, page numbers), which docling keeps out of Markdown and text."""
    body = answer.strip().removeprefix("```json").strip("`\n ")
    if body.startswith(("[", "{")) and ('"text"' in body or '"layout_type"' in body):
        texts = []
        for category, raw in _JSON_ITEM.findall(body):
            if body_only and category.strip().lower() in FURNITURE:
                continue
            try:
                texts.append(json.loads(f'"{raw}"'))
            except ValueError:
                texts.append(raw)
        return words(" ".join(texts))
    if body_only:
        answer = _without_furniture(answer)
    return words(_RUN.sub(" ", _ANY_TAG.sub(" ", _VALUE_TAG.sub(" ", answer))))


def _without_furniture(answer: str) -> str:
    """A tagged layout answer without the text of its furniture regions (a region's text stands before its tag)."""
    parts = _TAGGED_META.split(answer)  # text, tag, text, tag, …, text
    kept = []
    for text, tag in zip(parts[0::2], [*parts[1::2], ""], strict=True):
        if tag.rsplit(">", 1)[-1].strip().lower() not in FURNITURE:
            kept.append(text)
        kept.append(tag)
    return "".join(kept)


def recall(expected: set[str], text: str) -> float:
    """Share of ``expected`` words found in ``text`` (1.0 when nothing is expected)."""
    return len(expected & words(text)) / len(expected) if expected else 1.0


def leaks(text: str) -> list[str]:
    """Markup that reached ``text``: each leaked tag or coordinate run."""
    return [match.group() for match in _LEAK.finditer(text)]
