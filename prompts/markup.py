"""HunyuanOCR's own markup in an answer: the tags and coordinate runs that must never reach a user's text, and the
answers that say there is nothing to read.

The model marks places and kinds with tags (``<ref>``/``<quad>`` in spotting — special tokens, gone when they are
skipped — and 1.5's ``<hy-meta><layout>…</layout><poly>…</poly></hy-meta>``), and writes boxes as
``(x1,y1),(x2,y2)`` runs. Readers take what they understand out of an answer first; ``strip_markup`` is the last
step of every text output, for what is left over: a tag cut by the length limit, a run of coordinates where the
answer turned into another task's form.
"""

from __future__ import annotations

import re

TAG_NAMES = ("hy-meta", "layout", "poly", "quad", "ref", "box", "dir", "trans", "point")
_NAMES = "|".join(re.escape(name) for name in TAG_NAMES)
_TAG = re.compile(rf"<\s*/?\s*(?:{_NAMES})\s*/?>")
_CUT_TAG = re.compile(r"<\s*/?\s*([a-z-]*)$")  # a tag the length limit cut: ``<hy-me``, ``</pol``
NUMBER = r"-?\d{1,6}(?:\.\d+)?"
# A polygon's points: numbers, ``(x,y)`` or ``[x,y]`` pairs, separated by commas — so a ``<poly>`` that runs on
# into text ("(160,347)500 Superior Ave.(179,184),…") ends where the commas do.
_ELEMENT = rf"\(\s*{NUMBER}\s*,\s*{NUMBER}\s*\)|\[\s*{NUMBER}\s*,\s*{NUMBER}\s*\]|{NUMBER}"
POINTS = rf"\[?\s*(?:{_ELEMENT})(?:\s*,\s*(?:{_ELEMENT}))*\s*\]?"
# What a tag holds that is never text: points, a direction (up to where they end, closed or not).
_VALUE_TAGS = re.compile(
    rf"<(?:poly|quad|box|point)>\s*(?:{POINTS})?\s*(?:</(?:poly|quad|box|point)>)?|<dir>[^<]*(?:</dir>)?"
)
_DIRECTION = re.compile(r"^<dir>[^<]*(?:</dir>|</?[a-z]*$)?")  # closed, or cut by the length limit
_PLACES = re.compile(r"<(?:hy-meta|poly|quad)>")
_LABEL = re.compile(r"<layout>[^<]*(?:</layout>|$)")
# Two or more ``(x,y)`` points in a row: a box (spotting, figures) or a polygon.
COORDINATE_RUN = re.compile(rf"\(\s*{NUMBER}\s*,\s*{NUMBER}\s*\)(?:\s*,\s*\(\s*{NUMBER}\s*,\s*{NUMBER}\s*\))+")

# What the model writes when it finds nothing to read, or when it answers another question: compared with the
# whole answer once its markup and punctuation are gone, case and spaces ignored.
_NON_ANSWERS = (
    "图片中没有文字",
    "图中没有文字",
    "图片中无文字",
    "图中无文字",
    "没有文字",
    "无文字",
    "图片中没有可识别的文字",
    "thereisnotextintheimage",
    "thereisnotextinthisimage",
    "theimagecontainsnotext",
    "theimagedoesnotcontainanytext",
    "notextintheimage",
    "notext",
    "notextfound",
    "notextdetected",
)
_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)
NON_ANSWER = "The model answered that the image holds no text; the text is left empty."


def strip_markup(text: str, *, runs: bool = True) -> str:
    """``text`` with every HunyuanOCR tag (and the values tags hold) taken out, and its coordinate runs unless
    ``runs`` is false (LaTeX, code and tables keep theirs)."""
    text = _without_tags(text)
    if runs and "(" in text:
        text = COORDINATE_RUN.sub(" ", text)
    return text


def _without_tags(text: str) -> str:
    if "<" not in text:
        return text
    text = _TAG.sub(" ", _LABEL.sub(" ", _VALUE_TAGS.sub(" ", text)))
    if (cut := _CUT_TAG.search(text)) and any(name.startswith(cut.group(1)) for name in TAG_NAMES):
        text = text[: cut.start()]
    return text


def unwrap(answer: str) -> str:
    """An answer without the wrappers the model puts around a whole answer: ``<trans>…</trans>`` (translations)
    and a leading ``<dir>N</dir>`` (the page's text direction)."""
    stripped = answer.strip()
    if stripped.startswith("<dir>"):
        stripped = _DIRECTION.sub("", stripped).strip()
    if stripped.startswith("<trans>"):
        stripped = stripped[len("<trans>") :].removesuffix("</trans>").strip()
    return stripped if stripped != answer.strip() else answer


def is_non_answer(answer: str) -> bool:
    """Whether ``answer`` says, rather than shows, that there is no text: ``图片中没有文字。``, ``<dir>0</dir>``,
    an empty ``<trans></trans>``, or nothing at all (not a layout answer of boxes without text: that placed
    something)."""
    text = unwrap(answer)
    if _PLACES.search(text):  # boxes without text: the readers say so (the model saw something to place)
        return False
    # Tags and what they hold go; coordinates stay (a page that is only a box is not empty).
    bare = _PUNCTUATION.sub("", _without_tags(text)).lower()
    if not bare:  # nothing, or markup alone; punctuation the model read is an answer (a page of dots)
        return not text.strip() or "<" in text
    return bare in _NON_ANSWERS


def is_punctuation(text: str) -> bool:
    """Whether ``text`` holds no letter or digit (a lone comma, a bracket, a dot leader)."""
    return not _PUNCTUATION.sub("", text)


def answer_text(answer: str) -> tuple[str, tuple[str, ...]]:
    """What a task's answer says, for the client: wrappers off, a non-answer as "" with a warning."""
    if is_non_answer(answer):
        return "", (NON_ANSWER,) if answer.strip() else ()
    return unwrap(answer), ()
