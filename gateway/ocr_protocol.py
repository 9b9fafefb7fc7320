"""Wire models of our own ``POST /ocr`` (options, answer, stream events) — pydantic only, no engine imports.

OpenAI's wire models, and the base models these build on, are ``gateway.protocol``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from gateway.protocol import FinishReason, ResponseModel, TokenLimit, Usage, WireModel


def _field_list(value: Any) -> Any:
    """``fields`` as repeated parameters, comma-separated, or a JSON array."""
    if value is None or value == "":
        return None
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        if isinstance(item, str) and item.strip().startswith("["):
            try:
                names += [str(name) for name in json.loads(item)]
                continue
            except (ValueError, TypeError, RecursionError):
                pass
        names += [name.strip() for name in str(item).split(",") if name.strip()]
    return names


# ``fields`` in a query string or a form (``/ocr``, ``/v1/tasks/fields``): the chat request's limits.
QueryFieldNames = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]] | None,
    Field(max_length=64),
    BeforeValidator(_field_list),
]


def _stream_mode(value: Any) -> Any:
    text = str(value).strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return None
    return "ndjson" if text in ("1", "true", "yes", "on") else text


class OcrOptions(WireModel):
    """Query or form fields of ``POST /ocr``; task names and their arguments as in the chat API's ``task``."""

    task: str | None = Field(default=None, max_length=40)  # a catalog task, "auto" (default) or "none"
    prompt: str | None = Field(default=None, max_length=4000)  # your own words, as in a chat message
    lang: Literal["en", "zh"] | None = None
    target_lang: str | None = Field(default=None, max_length=20)
    fields: QueryFieldNames = None
    max_tokens: TokenLimit | None = None
    stream: Annotated[Literal["ndjson", "sse"] | None, BeforeValidator(_stream_mode)] = None
    # What to answer with: the page texts as JSON (default), or one document in a format (gateway/documents/).
    format: Literal["json", "markdown", "text", "html", "doctags", "docling", "chunks", "pdf"] = "json"
    boxes: bool | None = None  # documents: place every item on its page (a spotting call per page); None: by format


def query_values(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Query and form fields, later ones winning, as a dict for a wire model: ``fields`` may repeat, and an empty
    field means "not set" (as HTML forms send it)."""
    values: dict[str, Any] = {}
    for key, value in items:
        if key == "fields":
            values.setdefault(key, []).append(value)
        elif value != "":
            values[key] = value
        else:
            values.pop(key, None)
    return values


class OcrTimings(ResponseModel):
    media_ms: float  # decoding images and rendering PDF pages
    total_ms: float
    first_token_ms: float | None = None  # streaming only


class OcrPage(ResponseModel):
    index: int
    file: str | None
    page: int | None
    task: str | None
    text: str
    finish_reason: FinishReason | None
    usage: Usage
    data: Any = None  # extraction tasks: the answer parsed as JSON (None when it is not valid JSON)
    boxes: list[dict[str, Any]] | None = None  # spotting: boxes in this image's (or PDF page's) pixels
    warnings: list[str] | None = None  # what could not be read as the task's form


class OcrResponse(ResponseModel):
    """``POST /ocr``'s answer. ``pages`` lists each image / PDF page when there is more than one, or a PDF."""

    text: str
    task: str | None
    model: str
    prompt_set: str
    finish_reason: FinishReason | None
    pages: list[OcrPage] | None
    usage: Usage
    timings: OcrTimings
    data: Any = None  # one page: its data; several: a list, one per page
    boxes: list[dict[str, Any]] | None = None  # several pages: each box also names its "page" index
    warnings: list[str] | None = None  # every page's warnings ("Page N: …" when there are several)


# ``POST /ocr?stream=…``: the events of a stream, in order: start, deltas and pages as they come, done.


class OcrStarted(ResponseModel):
    type: Literal["start"] = "start"
    model: str
    pages: int


class OcrDelta(ResponseModel):
    type: Literal["delta"] = "delta"
    index: int
    text: str


class OcrPageDone(OcrPage):
    type: Literal["page"] = "page"


class OcrDone(OcrResponse):
    type: Literal["done"] = "done"


OcrEvent = OcrStarted | OcrDelta | OcrPageDone | OcrDone
