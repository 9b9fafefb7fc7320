"""The gateway's answers to the MCP tools, on the services every HTTP route uses (``DocumentService``,
``OcrService``), so an agent gets what ``/ocr`` gives. A long answer is read once and handed out in parts
(``gateway/mcp_server/results.py``)."""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from gateway.mcp_server.reading import Progress, ToolCall
from gateway.mcp_server.results import KeptResults, page_of, result_key
from gateway.media.loader import source_size
from gateway.ocr import Document
from gateway.ocr_protocol import OcrOptions, OcrPage


class GatewayAnswers:
    """``build_mcp_server``'s runner inside the gateway."""

    def __init__(self) -> None:
        self._kept = KeptResults()
        self._tools = {"ocr_document": _document, "ocr_task": _task, "spot_text": _spotted}

    async def __call__(self, ctx: Context, tool: str, arguments: dict[str, Any]) -> str:
        call = ToolCall(ctx.request_context.request)
        key = result_key(call.owner, tool, arguments)
        text = self._kept.get(key)
        if text is None:
            text = await self._tools[tool](call, ctx, arguments)
            self._kept.put(key, text)
        return page_of(text, arguments["offset"], tool)


async def _document(call: ToolCall, ctx: Context, arguments: dict[str, Any]) -> str:
    upload, document = await call.document(arguments["source"], arguments["pages"])
    options = OcrOptions(format=arguments["format"])
    documents = call.state.documents
    progress = Progress(ctx.report_progress, len(document.pages) * documents.plan(options).passes)

    async def convert(at_once: int) -> bytes:
        converted = await documents.convert(
            document, upload, options, call.report, at_once=at_once, timeout=call.left(), on_page=progress.page_done
        )
        return bytes(converted.body)

    return (await call.run(document, convert)).decode()


async def _task(call: ToolCall, ctx: Context, arguments: dict[str, Any]) -> str:
    task, fields, target_lang = arguments["task"], arguments["fields"], arguments["target_lang"]
    if task == "fields" and not fields:
        raise ToolError("task='fields' needs fields: the names of the values to read, e.g. ['date', 'total'].")
    if task == "translate" and not target_lang:
        raise ToolError("task='translate' needs target_lang, e.g. 'English'.")
    _, document = await call.document(arguments["source"], arguments["pages"])
    answers = await _read_pages(call, ctx, document, OcrOptions(task=task, fields=fields, target_lang=target_lang))
    if task == "fields":
        data = [answer.data if answer.data is not None else answer.text for answer in answers]
        return json.dumps(data[0] if len(data) == 1 else data, ensure_ascii=False, indent=1)
    if len(answers) == 1:
        return answers[0].text
    return "\n\n".join(f"## Page {answer.page or answer.index + 1}\n\n{answer.text}" for answer in answers)


async def _spotted(call: ToolCall, ctx: Context, arguments: dict[str, Any]) -> str:
    _, document = await call.document(arguments["source"], arguments["pages"])
    answers = await _read_pages(call, ctx, document, OcrOptions(task="spotting"))
    pages = []
    for page, answer in zip(document.pages, answers, strict=True):
        width, height = source_size(page.image)  # the pixels the boxes are in
        found = {"page": page.number or 1, "width": width, "height": height, "lines": answer.boxes or []}
        pages.append(found | ({"warnings": answer.warnings} if answer.warnings else {}))
    return json.dumps(pages, ensure_ascii=False)


async def _read_pages(call: ToolCall, ctx: Context, document: Document, options: OcrOptions) -> list[OcrPage]:
    progress = Progress(ctx.report_progress, len(document.pages))

    async def read(at_once: int) -> list[OcrPage]:
        return await call.state.ocr.read_pages(document, options, at_once=at_once, on_page=progress.page_done)

    return await call.run(document, read)
