"""MCP over stdio for desktop agents (Claude Desktop, Cursor, Claude Code): the gateway's tools, answered by a
gateway's ``/mcp`` (``--url``, ``--api-key``), with one thing more — a ``source`` may be a file on this machine,
which is read here and sent as base64, so a laptop's scans are read by the GPU box. Progress and errors come
back as the gateway sends them."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import TextContent

from gateway.mcp_server import PATH
from gateway.mcp_server.tools import build_mcp_server

REMOTE_PREFIXES = ("http://", "https://", "data:", "file-")  # what the gateway finds itself
DEFAULT_URL = "http://127.0.0.1:8000"
MAGIC_BYTES = 1024
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF87a", b"GIF89a", b"BM")
HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("OCR_GATEWAY_URL", DEFAULT_URL),
        help=f"the gateway's root URL (default: $OCR_GATEWAY_URL or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--api-key", default=os.environ.get("OCR_GATEWAY_API_KEY"), help="its API key (default: $OCR_GATEWAY_API_KEY)"
    )
    parser.add_argument(
        "--allow-dir",
        action="append",
        type=Path,
        default=[],
        help="read local files only under this directory (repeatable; default: any file this user can read)",
    )
    parser.add_argument("--log-level", default="warning", help="logging to stderr (stdout is the protocol's)")


def run(args: argparse.Namespace) -> int:
    answers = RemoteAnswers(args.url, args.api_key, [folder.expanduser().resolve() for folder in args.allow_dir])
    build_mcp_server(answers).run("stdio")
    return 0


class RemoteAnswers:
    """``build_mcp_server``'s runner that asks a gateway."""

    def __init__(self, url: str, api_key: str | None, allowed: list[Path]) -> None:
        self._endpoint = url.rstrip("/") + PATH
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._allowed = allowed

    async def __call__(self, ctx: Context, tool: str, arguments: dict[str, Any]) -> str:
        sent = {**arguments, "source": await asyncio.to_thread(self._source, arguments["source"].strip())}

        async def forward(progress: float, total: float | None, message: str | None) -> None:
            await ctx.report_progress(progress, total, message)

        try:
            async with (
                httpx2.AsyncClient(headers=self._headers, timeout=httpx2.Timeout(30, read=None)) as http,
                Client(streamable_http_client(self._endpoint, http_client=http)) as gateway,
            ):
                result = await gateway.call_tool(tool, sent, progress_callback=forward)
        except (httpx2.HTTPError, OSError) as error:
            raise ToolError(f"Cannot reach the OCR gateway at {self._endpoint}: {error}") from None
        text = "".join(part.text for part in result.content if isinstance(part, TextContent))
        if result.is_error:
            raise ToolError(text)
        return text

    def _source(self, source: str) -> str:
        """A local file's bytes as base64; anything else as it is, for the gateway."""
        if source.startswith("file://"):
            path = Path(unquote(urlparse(source).path))
        elif source.startswith(REMOTE_PREFIXES) or not _looks_like_a_path(source):
            return source
        else:
            path = Path(source).expanduser()
        path = path.resolve()
        if self._allowed and not any(path.is_relative_to(folder) for folder in self._allowed):
            raise ToolError(f"{path} is outside the folders this server may read (--allow-dir).")
        try:
            with path.open("rb") as file:
                # Only a document leaves this machine: an agent talked into naming ~/.ssh/id_rsa sends nothing.
                if not _is_document(file.read(MAGIC_BYTES)):
                    raise ToolError(f"{path} is not a PDF or an image (PNG, JPEG, TIFF, WebP, GIF, BMP, HEIC).")
                file.seek(0)
                return base64.b64encode(file.read()).decode()
        except OSError as error:
            raise ToolError(f"Cannot read {path}: {error.strerror or error}.") from None


def _looks_like_a_path(source: str) -> bool:
    return source.startswith(("/", "~", ".")) or "\\" in source or (len(source) < 1024 and Path(source).exists())


def _is_document(head: bytes) -> bool:
    """Whether a file's first bytes are a PDF's or an image's the gateway reads."""
    if b"%PDF-" in head[:1024] or head.startswith(IMAGE_SIGNATURES):
        return True
    webp = head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    return webp or (head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS)
