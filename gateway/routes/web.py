"""``GET /`` — the web page; its script and style sheet are served from ``/web/`` (plain files, no build)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse

from gateway.openapi import Endpoint

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


async def web_page(request: Request) -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html; charset=utf-8")


ENDPOINTS = [Endpoint("GET", "/", web_page)]
