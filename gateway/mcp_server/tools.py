"""The MCP tools an agent sees: read a document, run a task of the catalog, spot text lines with boxes.

Declared once, here, with the names and descriptions the model choosing among tools reads; what a call does is
its ``Runner``'s: the gateway's own (``gateway/mcp_server/answers.py``, on the services every HTTP route uses) or
``ocr-gateway mcp``'s (``gateway/cli/mcp_proxy.py``: a local file's bytes sent to a gateway's ``/mcp``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from gateway import __version__

INSTRUCTIONS = (
    "OCR for scans, photos, PDFs and screenshots, read by a vision-language model on this server. Give a document "
    "as an http(s) URL, base64 (or a data: URL), or the id of a file uploaded to /v1/files. Use ocr_document for "
    "a document's text or Markdown, ocr_task for tables, formulas, charts, named fields as JSON or translation, "
    "spot_text for every text line with its box. Long answers come in parts: call again with the offset the "
    "answer names."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)

Source = Annotated[
    str,
    Field(
        description="The document or image: an http(s) URL, a data: URL or plain base64 of the file's bytes "
        "(PDF, PNG, JPEG, TIFF, WebP, HEIC…), or a file id (file-…) from POST /v1/files. A path to a file works only "
        "through `ocr-gateway mcp`, which reads it on the user's machine.",
        min_length=1,
    ),
]
Pages = Annotated[
    str | None,
    Field(description="Pages to read, counted from 1, like '1-3,7'. Default: every page.", max_length=200),
]
Offset = Annotated[
    int,
    Field(description="Where to continue a long answer: the offset the previous part's last line names.", ge=0),
]
FieldNames = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]] | None,
    Field(description="For task='fields': the names of the fields to read, in your words.", max_length=50),
]
TargetLanguage = Annotated[
    str | None,
    Field(description="For task='translate': the language to translate to, e.g. 'English' or 'fr'.", max_length=40),
]
DocumentFormat = Literal["markdown", "text", "html", "doctags", "docling"]
Task = Literal["table", "formula", "chart", "fields", "translate", "subtitles", "text"]


class Runner(Protocol):
    """Answers a tool call: ``arguments`` as the tool declares them (``offset`` included)."""

    async def __call__(self, ctx: Context, tool: str, arguments: dict[str, Any]) -> str: ...


def build_mcp_server(run: Runner) -> MCPServer:
    """The MCP server with the three tools, each answered by ``run``."""
    server: MCPServer = MCPServer("hunyuan-ocr-gateway", instructions=INSTRUCTIONS, version=__version__)

    @server.tool(
        description="Read a scanned or photographed document, PDF or image with OCR and return its content: "
        "Markdown (headings, lists, tables as HTML, formulas as LaTeX; page headers and footers left out) by "
        "default, or plain text, HTML, DocTags, or the DoclingDocument as JSON (format='docling').",
        annotations=READ_ONLY,
        structured_output=False,
    )
    async def ocr_document(
        source: Source, ctx: Context, format: DocumentFormat = "markdown", pages: Pages = None, offset: Offset = 0
    ) -> str:
        arguments = {"source": source, "format": format, "pages": pages, "offset": offset}
        return await run(ctx, "ocr_document", arguments)

    @server.tool(
        description="Run one OCR task on each page of a document or image: 'table' (tables as HTML), 'formula' "
        "(LaTeX), 'chart' (charts as Markdown, flowcharts as Mermaid), 'fields' (the values of the named fields as "
        "JSON, e.g. fields=['invoice number','date','total']), 'translate' (the text translated to target_lang), "
        "'subtitles' (a video frame's subtitles) or 'text' (the text only).",
        annotations=READ_ONLY,
        structured_output=False,
    )
    async def ocr_task(
        source: Source,
        task: Task,
        ctx: Context,
        fields: FieldNames = None,
        target_lang: TargetLanguage = None,
        pages: Pages = None,
        offset: Offset = 0,
    ) -> str:
        arguments = {
            "source": source,
            "task": task,
            "fields": fields,
            "target_lang": target_lang,
            "pages": pages,
            "offset": offset,
        }
        return await run(ctx, "ocr_task", arguments)

    @server.tool(
        description="Find every text line of a document or image with its position: a JSON list per page of "
        "{text, box: [x1, y1, x2, y2]} in the image's pixels (PDF pages rendered at the server's DPI), lines in "
        "reading order. Use it to locate text, not just to read it.",
        annotations=READ_ONLY,
        structured_output=False,
    )
    async def spot_text(source: Source, ctx: Context, pages: Pages = None, offset: Offset = 0) -> str:
        return await run(ctx, "spot_text", {"source": source, "pages": pages, "offset": offset})

    return server
