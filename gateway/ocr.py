"""The simple OCR API (``POST /ocr``): files in, text out, through the chat pipeline.

Every uploaded image, and every page of an uploaded PDF, becomes one chat request to
the same ``ChatService`` — same task planner, official prompts, limits, loop control,
spotting boxes — so the two APIs cannot drift apart. Pages run concurrently, each
holding its own engine slot; the answers come back in upload order.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from PIL import Image
from pydantic import BeforeValidator, Field

from adapters.engine import Turn
from gateway import protocol as wire
from gateway.admission import RETRY_AFTER_SECONDS, AdmissionControl
from gateway.chat import ChatService
from gateway.errors import GatewayError, InvalidRequest, RateLimited, ServerError
from gateway.media import MediaLoader, is_pdf

T = TypeVar("T")
logger = logging.getLogger(__name__)
JSON_OUTPUTS = ("json",)  # tasks whose answer is parsed into ``data``
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


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


class OcrOptions(wire.WireModel):
    """Query or form fields of ``POST /ocr``; task names and their arguments as in the chat API's ``task``."""

    task: str | None = Field(default=None, max_length=40)  # a catalog task, "auto" (default) or "none"
    prompt: str | None = Field(default=None, max_length=4000)  # your own words, as in a chat message
    lang: Literal["en", "zh"] | None = None
    target_lang: str | None = Field(default=None, max_length=20)
    fields: QueryFieldNames = None
    max_tokens: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    stream: Annotated[Literal["ndjson", "sse"] | None, BeforeValidator(_stream_mode)] = None


@dataclass(frozen=True)
class Upload:
    """One uploaded file as it arrived."""

    filename: str | None
    mime: str
    data: bytes


@dataclass(frozen=True)
class _Page:
    index: int  # position among all pages of the request
    filename: str | None
    number: int | None  # 1-based page of a PDF; None for an image
    image: Image.Image


class OcrTimings(wire.ResponseModel):
    media_ms: float  # decoding images and rendering PDF pages
    total_ms: float
    first_token_ms: float | None = None  # streaming only


class OcrPage(wire.ResponseModel):
    index: int
    file: str | None
    page: int | None
    task: str | None
    text: str
    finish_reason: wire.FinishReason | None
    usage: wire.Usage
    data: Any = None  # extraction tasks: the answer parsed as JSON (None when it is not valid JSON)
    boxes: list[dict[str, Any]] | None = None  # spotting: boxes in this image's (or PDF page's) pixels


class OcrResponse(wire.ResponseModel):
    """``POST /ocr``'s answer. ``pages`` lists each image / PDF page when there is more than one, or a PDF."""

    text: str
    task: str | None
    model: str
    prompt_set: str
    finish_reason: wire.FinishReason | None
    pages: list[OcrPage] | None
    usage: wire.Usage
    timings: OcrTimings
    data: Any = None  # one page: its data; several: a list, one per page
    boxes: list[dict[str, Any]] | None = None  # several pages: each box also names its "page" index


# What a page worker hands the stream: a text delta (a JSON-ready dict), its finished page, or its failure.
_Event = dict[str, Any] | OcrPage | Exception


class OcrService:
    """Runs ``POST /ocr`` requests on the chat service, page by page."""

    def __init__(self, chat: ChatService, media: MediaLoader, admission: AdmissionControl, max_pages: int) -> None:
        self._chat = chat
        self._media = media
        self._admission = admission
        self.max_pages = max_pages

    async def recognize(self, uploads: list[Upload], options: OcrOptions, report: dict[str, Any]) -> OcrResponse:
        """All pages' answers in one response."""
        started = time.perf_counter()
        pages, paged = await self._load(uploads)
        media_ms = _ms_since(started)
        request = self._chat_request(options, stream=False)
        results = await _all_or_none([self._admitted(functools.partial(self._page, request, page)) for page in pages])
        response = self._response(results, paged, OcrTimings(media_ms=media_ms, total_ms=_ms_since(started)))
        report_usage(report, response)
        return response

    async def stream(
        self, uploads: list[Upload], options: OcrOptions, report: dict[str, Any]
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Events: ``start`` (once the files are decoded), ``delta`` (text as it is generated, per page),
        ``page`` (a page is done), then ``done`` with the whole response — or a last ``error``."""
        started = time.perf_counter()
        pages, paged = await self._load(uploads)
        media_ms = _ms_since(started)
        yield {"type": "start", "model": self._chat.model_name, "pages": len(pages)}
        request = self._chat_request(options, stream=True)
        events: asyncio.Queue[_Event] = asyncio.Queue()
        workers = [asyncio.create_task(self._stream_worker(request, page, events)) for page in pages]
        results: dict[int, OcrPage] = {}
        first_token_ms: float | None = None
        try:
            while len(results) < len(pages):
                event = await events.get()
                if isinstance(event, Exception):
                    raise event
                if isinstance(event, OcrPage):
                    results[event.index] = event
                    event = {"type": "page", **event.model_dump()}
                elif first_token_ms is None:
                    first_token_ms = _ms_since(started)
                yield event
        except GatewayError as error:
            yield {"type": "error", **error.body().model_dump()}
            return
        except Exception:
            logger.exception("an OCR stream failed after it started")
            yield {"type": "error", **ServerError("The stream failed.").body().model_dump()}
            return
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        timings = OcrTimings(media_ms=media_ms, total_ms=_ms_since(started), first_token_ms=first_token_ms)
        response = self._response([results[index] for index in sorted(results)], paged, timings)
        report_usage(report, response)
        yield {"type": "done", **response.model_dump()}

    async def _load(self, uploads: list[Upload]) -> tuple[list[_Page], bool]:
        """Every upload decoded (concurrently) into pages; ``paged`` when there is a PDF or several files."""
        if not uploads:
            raise InvalidRequest("Send an image or a PDF: as the request body, or as multipart files.", param="file")
        loaded = await asyncio.gather(
            *(self._media.decode(upload.mime, upload.data, param=f"file[{i}]") for i, upload in enumerate(uploads))
        )
        if (count := sum(len(images) for images in loaded)) > self.max_pages:
            raise InvalidRequest(f"The request holds {count} images and PDF pages; at most {self.max_pages}.")
        # Every page takes an engine slot or a place in the queue: refuse now rather than part-way through.
        if count > self._admission.capacity:
            raise InvalidRequest(
                f"The request holds {count} images and PDF pages; this server runs and queues at most "
                f"{self._admission.capacity} at once.",
                param="file",
            )
        if count > self._admission.room:
            raise RateLimited(
                "The server is too busy for all pages of this request; retry shortly.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        pages: list[_Page] = []
        for upload, images in zip(uploads, loaded, strict=True):
            pdf = is_pdf(upload.data)
            for number, image in enumerate(images, start=1):
                pages.append(_Page(len(pages), upload.filename, number if pdf else None, image))
        return pages, len(pages) > 1 or any(page.number is not None for page in pages)

    def _chat_request(self, options: OcrOptions, *, stream: bool) -> wire.ChatCompletionRequest:
        # The messages stand for the shape only: each page's turns, media loaded, are passed alongside.
        fields = options.fields
        response_format = None
        if options.task == "fields" and fields and self._chat.constrained_decoding:
            # Constrained to an object with exactly these fields, so ``data`` always parses (as in the chat API
            # with a json_schema response format).
            properties = {name: {"type": "string"} for name in fields}
            schema = {"type": "object", "properties": properties, "required": list(fields)}
            response_format = wire.ResponseFormat(type="json_schema", json_schema={"name": "fields", "schema": schema})
        return wire.ChatCompletionRequest(
            messages=[wire.UserMessage(role="user", content=options.prompt or "")],
            stream=stream,
            stream_options=wire.StreamOptions(include_usage=True) if stream else None,
            max_tokens=options.max_tokens,
            task=options.task,
            lang=options.lang,
            target_lang=options.target_lang,
            fields=fields,
            response_format=response_format,
        )

    async def _admitted(self, work: Callable[[], Awaitable[T]]) -> T:
        """``work()`` while holding one engine slot (429 when the queue is full)."""
        ticket = await self._admission.enter()
        try:
            return await work()
        finally:
            ticket.release()

    async def _page(self, request: wire.ChatCompletionRequest, page: _Page) -> OcrPage:
        completion = await self._chat.complete(request, turns=[_turn(page, request)])
        choice = completion.choices[0]
        return self._page_result(page, choice.message.content, choice.finish_reason, completion.usage, completion.ocr)

    async def _stream_worker(
        self, request: wire.ChatCompletionRequest, page: _Page, events: asyncio.Queue[_Event]
    ) -> None:
        """Streams one page into ``events``: its deltas, then the finished page — or the exception it raised."""
        try:
            await self._admitted(lambda: self._streamed_page(request, page, events))
        except Exception as error:  # raised again by the consumer, which ends the stream
            await events.put(error)

    async def _streamed_page(
        self, request: wire.ChatCompletionRequest, page: _Page, events: asyncio.Queue[_Event]
    ) -> None:
        text: list[str] = []
        finish_reason: wire.FinishReason | None = None
        usage, info = wire.Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0), None
        async for chunk in self._chat.stream(request, turns=[_turn(page, request)]):
            for choice in chunk.choices:
                if choice.delta.content:
                    text.append(choice.delta.content)
                    await events.put({"type": "delta", "index": page.index, "text": choice.delta.content})
                finish_reason = choice.finish_reason or finish_reason
            usage, info = chunk.usage or usage, chunk.ocr or info
        await events.put(self._page_result(page, "".join(text), finish_reason, usage, info))

    def _page_result(
        self,
        page: _Page,
        text: str,
        finish_reason: wire.FinishReason | None,
        usage: wire.Usage,
        info: wire.OcrInfo | None,
    ) -> OcrPage:
        task = info.task if info else None
        return OcrPage(
            index=page.index,
            file=page.filename,
            page=page.number,
            task=task,
            text=text,
            finish_reason=finish_reason,
            usage=usage,
            data=_parsed_json(text) if self._extracts(task) else None,
            boxes=info.boxes if info else None,
        )

    def _extracts(self, task: str | None) -> bool:
        spec = self._chat.prompt_set.tasks.get(task or "")
        return spec is not None and spec["output"] in JSON_OUTPUTS

    def _response(self, pages: list[OcrPage], paged: bool, timings: OcrTimings) -> OcrResponse:
        several = len(pages) > 1
        boxes = None
        if any(page.boxes is not None for page in pages):
            boxes = [{**box, "page": page.index} if several else box for page in pages for box in page.boxes or []]
        task = pages[0].task
        prompt_tokens = sum(page.usage.prompt_tokens for page in pages)
        completion_tokens = sum(page.usage.completion_tokens for page in pages)
        return OcrResponse(
            text="\n\n".join(page.text for page in pages),
            task=task,
            model=self._chat.model_name,
            prompt_set=self._chat.prompt_set.version,
            finish_reason="length" if any(page.finish_reason == "length" for page in pages) else "stop",
            pages=pages if paged else None,
            usage=wire.Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
                prompt_tokens_details=wire.PromptTokensDetails(
                    cached_tokens=sum(_cached(page.usage) for page in pages)
                ),
            ),
            timings=timings,
            data=([page.data for page in pages] if several else pages[0].data) if self._extracts(task) else None,
            boxes=boxes,
        )


def _turn(page: _Page, request: wire.ChatCompletionRequest) -> Turn:
    words = request.messages[0].content
    return Turn("user", [page.image, words] if isinstance(words, str) and words else [page.image])


def _parsed_json(text: str) -> Any:
    """The answer as JSON (a Markdown code fence around it is fine); None when it is not JSON."""
    stripped = text.strip()
    if fenced := _FENCE.match(stripped):
        stripped = fenced.group(1)
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):  # a looping model can nest brackets thousands deep
        return None


def _cached(usage: wire.Usage) -> int:
    return usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0


def report_usage(report: dict[str, Any], response: OcrResponse) -> None:
    """The request's log/metrics fields, summed over its pages."""
    report.update(
        prompt_tokens=response.usage.prompt_tokens,
        completion_tokens=response.usage.completion_tokens,
        cached_tokens=_cached(response.usage),
        task=response.task,
        images=len(response.pages or [None]),
    )


async def _all_or_none(work: list[Awaitable[T]]) -> list[T]:
    """Every result in order; the first failure cancels the rest and is raised."""
    tasks = [asyncio.ensure_future(item) for item in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
