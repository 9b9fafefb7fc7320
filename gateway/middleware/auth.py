"""API-key authentication: ``Authorization: Bearer <key>`` on every ``/v1/*`` and ``/ocr`` route, MCP's ``/mcp``,
the PaddleX routes (``/paddlex/*``, which also take PaddleX's ``Authorization: token <key>``) and PaddleOCR's jobs
API (``/api/v2/ocr/*``). docling-serve's routes also take its own header, ``X-Api-Key: <key>``, and answer a
missing key in its error shape; its status websocket also takes ``?api_key=<key>``, and is refused (403) before
the handshake without one."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import ClientError, error_response

PROTECTED_PREFIXES = ("/v1/", "/ocr", "/mcp", "/paddlex/", "/api/v2/ocr/")
DOCLING_PREFIXES = ("/v1/convert/", "/v1/chunk/", "/v1/status/", "/v1/result/")  # gateway/routes/docling*.py
PADDLEX_PREFIX = "/paddlex/"  # gateway/routes/paddlex.py: PaddleX's clients send "Authorization: token <key>"
OWNER = "api_key_owner"


class InvalidAPIKey(ClientError):
    status_code = 401
    code = "invalid_api_key"


class APIKeyMiddleware:
    """Refuses protected routes without a valid key; ``/health``, ``/metrics`` and the page stay open.

    The decision uses the request's path as routed (``scope["path"]``), never the Host header, and
    compares keys in constant time. A request ``admits`` lets through carries its own authority (a signed file
    URL) and needs no key; ``admits`` may refuse one itself with a ``ClientError``.
    """

    def __init__(self, app: ASGIApp, keys: tuple[str, ...], admits: Callable[[Scope], bool] | None = None) -> None:
        self.app = app
        self._keys = [key.encode() for key in keys if key]
        self._admits = admits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or not self._keys
            or not is_protected(scope["path"])
            or scope.get("method") == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        docling = scope["path"].startswith(DOCLING_PREFIXES)
        authorization = headers.get(b"authorization", b"")
        if scope["path"].startswith(PADDLEX_PREFIX) and authorization[:6].lower() == b"token ":
            authorization = b"Bearer " + authorization[6:]
        key = self._authorized(authorization)
        if key is None and docling and b"x-api-key" in headers:
            key = self._authorized(b"Bearer " + headers[b"x-api-key"])
        if key is None and scope["type"] == "websocket":
            # docling-serve's status websocket takes its key as ?api_key= (a browser cannot set a websocket's headers).
            key = self._authorized(b"Bearer " + _query_key(scope))
        if key is not None:
            # Files and batches belong to the key that made them; only a hash of it is stored.
            scope.setdefault("state", {})[OWNER] = hashlib.sha256(key).hexdigest()
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # before the handshake: the server answers 403
            return
        try:
            admitted = self._admits is not None and self._admits(scope)
        except ClientError as invalid:  # a signed URL that is not valid: say so, rather than ask for a key
            await error_response(invalid)(scope, receive, send)
            return
        if admitted:
            await self.app(scope, receive, send)
            return
        if docling:
            refused: Response = JSONResponse(
                {"detail": "Missing or invalid API key: send 'X-Api-Key: <key>' or 'Authorization: Bearer <key>'."},
                status_code=401,
            )
        else:
            refused = error_response(InvalidAPIKey("Missing or invalid API key: send 'Authorization: Bearer <key>'."))
        refused.headers["WWW-Authenticate"] = "Bearer"
        await refused(scope, receive, send)

    def _authorized(self, header: bytes) -> bytes | None:
        """The valid key the header carries, if any."""
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        token = token.strip()
        # Compare with every key (no early exit) so timing says nothing about which key is close.
        matches = [hmac.compare_digest(token, key) for key in self._keys]
        return token if any(matches) else None


def is_protected(path: str) -> bool:
    return path.startswith(PROTECTED_PREFIXES) or path == "/v1"


def _query_key(scope: Scope) -> bytes:
    query = scope.get("query_string", b"").decode("latin-1")
    values = parse_qs(query, encoding="latin-1").get("api_key", [""])  # latin-1: one byte per character, as headers
    return values[0].encode("latin-1")


class QueryKeyRedaction(logging.Filter):
    """Keeps ``?api_key=`` values out of the server's log: uvicorn logs a websocket's path with its query."""

    _KEY = re.compile(r"(api_key=)[^&\s\"]+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._KEY.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def key_owner(scope: Scope) -> str:
    """Who owns what this request creates or reads: a hash of its API key ("" when the server has no keys)."""
    return str(scope.get("state", {}).get(OWNER, ""))
