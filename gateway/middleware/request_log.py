"""Request ids and one structured (JSON) log line per request.

``X-Request-ID`` from the client is kept (or one is made) and returned on the
response. The record names the request's ``path`` and the ``route`` (path template)
that served it. Handlers can add fields (token counts, task) to ``scope["state"]["log"]``.
Prompt text and images never reach this log: documents are private.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("gateway.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestLogMiddleware:
    """Logs each request as one JSON line and hands the same record to ``observers`` (metrics)."""

    def __init__(self, app: ASGIApp, observers: tuple[Callable[[dict[str, Any]], None], ...] = ()) -> None:
        self.app = app
        self._observers = observers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        fields: dict[str, Any] = {}
        scope.setdefault("state", {})["log"] = fields
        scope["state"]["request_id"] = request_id
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            record = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "route": _route_template(scope),
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                **fields,
            }
            logger.info(json.dumps(record, ensure_ascii=False))
            for observe in self._observers:
                observe(record)


def _route_template(scope: Scope) -> str | None:
    """The path template of the route that served the request (``/v1/files/{file_id}``); None when none matched."""
    route = scope.get("route")  # set by Starlette's router on the scope every middleware shares
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None
