"""The simple OCR API (``POST /ocr``): files in, text out, through the chat pipeline.

Every uploaded image, and every page of an uploaded PDF, becomes one chat request to
the same ``ChatService`` — same task planner, official prompts, limits, loop control,
spotting boxes — so the two APIs cannot drift apart. Pages run concurrently, as many
at once as the engine slots the request was admitted with; the answers come back in
upload order.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image

from adapters.engine import Turn
from gateway import ocr_protocol as ocr_wire
from gateway import protocol as wire
from gateway.chat import ChatService, Report
from gateway.errors import InvalidRequest
from gateway.media.loader import MediaLoader, is_pdf
from prompts.catalog import PromptSet

T = TypeVar("T")
PageDone = Callable[[], Awaitable[None]]  # told as each page's answer is in (progress for MCP clients)
JSON_OUTPUTS = ("json",)  # tasks whose answer is parsed into ``data``
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclass(frozen=True)
class Upload:
    """One uploaded file as it arrived."""

    filename: str | None
    mime: str
    data: bytes


@dataclass(frozen=True)
class Page:
    """One image for the engine: an uploaded image, or one page of an uploaded PDF."""

    index: int  # position among all pages of the request
    filename: str | None
    number: int | None  # 1-based page of a PDF; None for an image
    image: Image.Image


@dataclass(frozen=True)
class Document:
    """A request's uploads, decoded: every image and PDF page, in upload order."""

    pages: list[Page]
    paged: bool  # answer page by page: there is a PDF, or more than one file
    media_ms: float
    started: float  # perf_counter() when decoding began


class OcrService:
    """Runs ``POST /ocr`` requests on the chat service, page by page."""

    def __init__(self, chat: ChatService, media: MediaLoader, max_pages: int) -> None:
        self._chat = chat
        self._media = media
        self.max_pages = max_pages

    @property
    def prompt_set(self) -> PromptSet:
        """The task catalog pages are read with."""
        return self._chat.prompt_set

    async def load(self, uploads: list[Upload]) -> Document:
        """Every upload decoded (concurrently) into pages."""
        started = time.perf_counter()
        if not uploads:
            raise InvalidRequest("Send an image or a PDF: as the request body, or as multipart files.", param="file")
        loaded = await asyncio.gather(
            *(self._media.decode(upload.mime, upload.data, param=f"file[{i}]") for i, upload in enumerate(uploads))
        )
        if (count := sum(len(images) for images in loaded)) > self.max_pages:
            raise InvalidRequest(f"The request holds {count} images and PDF pages; at most {self.max_pages}.")
        pages: list[Page] = []
        for upload, images in zip(uploads, loaded, strict=True):
            pdf = is_pdf(upload.data)
            for number, image in enumerate(images, start=1):
                pages.append(Page(len(pages), upload.filename, number if pdf else None, image))
        paged = len(pages) > 1 or any(page.number is not None for page in pages)
        return Document(pages, paged, _ms_since(started), started)

    async def recognize(
        self, document: Document, options: ocr_wire.OcrOptions, report: Report, *, at_once: int
    ) -> ocr_wire.OcrResponse:
        """All pages' answers in one response, ``at_once`` pages in the engine at a time."""
        pages = await self.read_pages(document, options, at_once=at_once)
        timings = ocr_wire.OcrTimings(media_ms=document.media_ms, total_ms=_ms_since(document.started))
        response = self._response(pages, document.paged, timings)
        _report_usage(report, response)
        return response

    async def read_pages(
        self, document: Document, options: ocr_wire.OcrOptions, *, at_once: int, on_page: PageDone | None = None
    ) -> list[ocr_wire.OcrPage]:
        """Every page's answer, in order, ``at_once`` pages in the engine at a time."""
        request = self._completion_options(options, stream=False)
        slots = asyncio.Semaphore(at_once)
        return await _all_or_none([self._page(request, options, page, slots, on_page) for page in document.pages])

    async def stream(
        self, document: Document, options: ocr_wire.OcrOptions, report: Report, *, at_once: int
    ) -> AsyncGenerator[ocr_wire.OcrEvent, None]:
        """``start``, then each page's ``delta``s and its ``page`` as they come, then ``done``; errors raise."""
        request = self._completion_options(options, stream=True)
        self._report_task(request, options, document, report)
        yield ocr_wire.OcrStarted(model=self._chat.model_name, pages=len(document.pages))
        slots = asyncio.Semaphore(at_once)
        results: dict[int, ocr_wire.OcrPage] = {}
        first_token_ms: float | None = None
        streams = [self._page_events(request, options, page, slots) for page in document.pages]
        async with aclosing(_merged(streams)) as events:
            async for event in events:
                if event.type == "page":
                    results[event.index] = ocr_wire.OcrPage(**event.model_dump(exclude={"type"}))
                elif first_token_ms is None:
                    first_token_ms = _ms_since(document.started)
                yield event
        timings = ocr_wire.OcrTimings(
            media_ms=document.media_ms, total_ms=_ms_since(document.started), first_token_ms=first_token_ms
        )
        response = self._response([results[index] for index in sorted(results)], document.paged, timings)
        _report_usage(report, response)
        yield ocr_wire.OcrDone(**response.model_dump())

    def _report_task(
        self, request: wire.CompletionOptions, options: ocr_wire.OcrOptions, document: Document, report: Report
    ) -> None:
        """The task every page runs (one image and the same words each), known before the first page is."""
        if report is not None:
            task = self._chat.task_for(request, [_turn(document.pages[0], options)])
            report.update(task=task, prompt_set=self._chat.prompt_set.version)

    def _completion_options(self, options: ocr_wire.OcrOptions, *, stream: bool) -> wire.CompletionOptions:
        fields = options.fields
        response_format = None
        if options.task == "fields" and fields and self._chat.constrained_decoding:
            # Constrained to an object with exactly these fields, so ``data`` always parses (as in the chat API
            # with a json_schema response format).
            properties = {name: {"type": "string"} for name in fields}
            schema = {"type": "object", "properties": properties, "required": list(fields)}
            response_format = wire.ResponseFormat(type="json_schema", json_schema={"name": "fields", "schema": schema})
        return wire.CompletionOptions(
            stream=stream,
            stream_options=wire.StreamOptions(include_usage=True) if stream else None,
            max_tokens=options.max_tokens,
            task=options.task,
            lang=options.lang,
            target_lang=options.target_lang,
            fields=fields,
            response_format=response_format,
        )

    async def _page(
        self,
        request: wire.CompletionOptions,
        options: ocr_wire.OcrOptions,
        page: Page,
        slots: asyncio.Semaphore,
        on_page: PageDone | None = None,
    ) -> ocr_wire.OcrPage:
        async with slots:
            completion = await self._chat.complete_turns(request, [_turn(page, options)])
        if on_page is not None:
            await on_page()
        choice = completion.choices[0]
        return self._page_result(page, choice.message.content, choice.finish_reason, completion.usage, completion.ocr)

    async def _page_events(
        self, request: wire.CompletionOptions, options: ocr_wire.OcrOptions, page: Page, slots: asyncio.Semaphore
    ) -> AsyncGenerator[ocr_wire.OcrDelta | ocr_wire.OcrPageDone, None]:
        """One page's text as it is generated, then the finished page."""
        text: list[str] = []
        finish_reason: wire.FinishReason | None = None
        usage, info = wire.Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0), None
        async with slots, aclosing(self._chat.stream_turns(request, [_turn(page, options)])) as chunks:
            async for chunk in chunks:
                for choice in chunk.choices:
                    if choice.delta.content:
                        text.append(choice.delta.content)
                        yield ocr_wire.OcrDelta(index=page.index, text=choice.delta.content)
                    finish_reason = choice.finish_reason or finish_reason
                usage, info = chunk.usage or usage, chunk.ocr or info
        done = self._page_result(page, "".join(text), finish_reason, usage, info)
        yield ocr_wire.OcrPageDone(**done.model_dump())

    def _page_result(
        self,
        page: Page,
        text: str,
        finish_reason: wire.FinishReason | None,
        usage: wire.Usage,
        info: wire.OcrInfo | None,
    ) -> ocr_wire.OcrPage:
        task = info.task if info else None
        return ocr_wire.OcrPage(
            index=page.index,
            file=page.filename,
            page=page.number,
            task=task,
            text=text,
            finish_reason=finish_reason,
            usage=usage,
            data=_parsed_json(text) if self._extracts(task) else None,
            boxes=info.boxes if info else None,
            warnings=info.warnings if info else None,
        )

    def _extracts(self, task: str | None) -> bool:
        spec = self._chat.prompt_set.tasks.get(task or "")
        return spec is not None and spec["output"] in JSON_OUTPUTS

    def _response(
        self, pages: list[ocr_wire.OcrPage], paged: bool, timings: ocr_wire.OcrTimings
    ) -> ocr_wire.OcrResponse:
        several = len(pages) > 1
        boxes = None
        if any(page.boxes is not None for page in pages):
            boxes = [{**box, "page": page.index} if several else box for page in pages for box in page.boxes or []]
        task = pages[0].task
        prompt_tokens = sum(page.usage.prompt_tokens for page in pages)
        completion_tokens = sum(page.usage.completion_tokens for page in pages)
        return ocr_wire.OcrResponse(
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
            warnings=_warnings(pages, paged) or None,
        )


def _warnings(pages: list[ocr_wire.OcrPage], paged: bool) -> list[str]:
    """Every page's warnings, each naming its page when there are several."""
    return [
        f"Page {page.index + 1}: {warning}" if paged else warning for page in pages for warning in page.warnings or []
    ]


def _turn(page: Page, options: ocr_wire.OcrOptions) -> Turn:
    return Turn("user", [page.image, options.prompt] if options.prompt else [page.image])


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


def _report_usage(report: Report, response: ocr_wire.OcrResponse) -> None:
    """The request's log/metrics fields, summed over its pages."""
    if report is None:
        return
    report.update(
        prompt_tokens=response.usage.prompt_tokens,
        completion_tokens=response.usage.completion_tokens,
        cached_tokens=_cached(response.usage),
        task=response.task,
        prompt_set=response.prompt_set,
        images=len(response.pages or [None]),
    )
    if response.warnings:
        report["warnings"] = response.warnings


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


async def _merged(streams: list[AsyncGenerator[T, None]]) -> AsyncGenerator[T, None]:
    """The items of every stream as each comes; the first failure closes the others and is raised."""
    pending = {asyncio.ensure_future(anext(stream)): stream for stream in streams}
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for step in done:
                stream = pending.pop(step)
                try:
                    item = step.result()
                except StopAsyncIteration:
                    continue
                pending[asyncio.ensure_future(anext(stream))] = stream
                yield item
    finally:
        for step in pending:
            step.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for stream in streams:
            await stream.aclose()
