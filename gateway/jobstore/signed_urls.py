"""Signed download URLs for stored files, as Mistral's ``GET /v1/files/{id}/url`` hands out: a link that works
without an API key until it expires.

The URL is the file's own content route with two query parameters, ``/v1/files/{id}/content?expires=<unix
time>&signature=<hex>``; the signature is HMAC-SHA256 over the file id and the expiry with a server secret. The
secret is ``--url-signing-key`` or, by default, 32 random bytes created once in the data directory (readable by
the gateway's user only). Gateways that share a database behind a load balancer must share the secret too (the
same data directory, or the same ``--url-signing-key``).

A URL whose signature does not match (an id, an expiry or a signature changed by hand, or signed with another
secret) or whose time has passed is refused with 403, as a storage service refuses its presigned URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.types import Scope

from gateway.errors import ClientError

SECRET_FILE = "url-signing.key"
CONTENT_PATH = re.compile(r"^/v1/files/(?P<file_id>[^/]+)/content$")


class SignatureRefused(ClientError):
    status_code = 403
    code = "invalid_signature"


def signing_secret(data_dir: Path, configured: str | None) -> bytes:
    """``configured`` when given, else the data directory's secret, created (mode 0600) the first time."""
    if configured:
        return configured.encode()
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made before, or by another gateway on the same folder a moment ago
        return _read_secret(path)
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_hex(32))
        out.flush()
        os.fsync(out.fileno())
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    for _ in range(50):  # another gateway may have created it and not yet written it
        if secret := path.read_text().strip():
            return secret.encode()
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it, or pass --url-signing-key")


class UrlSigner:
    """Signs and checks file download URLs with one secret."""

    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._clock = clock

    def url(self, base_url: str, file_id: str, hours: float) -> str:
        """The signed content URL of ``file_id`` under ``base_url`` (the server's root), good for ``hours``."""
        expires = int(self._clock() + hours * 3600)
        query = urlencode({"expires": expires, "signature": self._signature(file_id, str(expires))})
        return f"{base_url.rstrip('/')}/v1/files/{file_id}/content?{query}"

    def check(self, file_id: str, query: Mapping[str, str]) -> None:
        """Refuses (403) a signature that does not match ``file_id`` and the expiry, or an expiry that passed."""
        expires, signature = query.get("expires", ""), query.get("signature", "")
        if not hmac.compare_digest(signature.encode(), self._signature(file_id, expires).encode()):
            raise SignatureRefused("The signed URL is not valid: its signature does not match.", param="signature")
        if not (expires.isascii() and expires.isdigit()) or int(expires) < self._clock():
            raise SignatureRefused("The signed URL has expired; ask for a new one.", param="expires")

    def admits(self, scope: Scope) -> bool:
        """Whether ``scope`` is a content download with a valid signature (it needs no API key); a signed one
        whose signature is not valid is refused here (403) rather than asked for a key."""
        match = CONTENT_PATH.match(scope["path"])
        query = _query(scope.get("query_string", b"").decode("latin-1"))
        if match is None or scope["method"] not in ("GET", "HEAD") or not is_signed(query):
            return False
        self.check(match["file_id"], query)
        return True

    def own_file(self, url: str) -> str | None:
        """The id of the file a URL signed here (and still valid) points to, whatever host it names; None for any
        other URL. Such a URL is read from the store, never fetched over HTTP."""
        try:
            parts = urlsplit(url)
        except ValueError:  # such as an unclosed "[" in the host: not ours, and the fetcher says what is wrong
            return None
        match = CONTENT_PATH.match(parts.path)
        if parts.scheme not in ("http", "https") or match is None:
            return None
        return match["file_id"] if self._valid(match["file_id"], _query(parts.query)) else None

    def _valid(self, file_id: str, query: Mapping[str, str]) -> bool:
        try:
            self.check(file_id, query)
        except SignatureRefused:
            return False
        return True

    def _signature(self, file_id: str, expires: str) -> str:
        return hmac.new(self._secret, f"{file_id}\n{expires}".encode(), hashlib.sha256).hexdigest()


def is_signed(query: Mapping[str, str]) -> bool:
    """Whether a request to a content URL carries a signature (then it is checked, and the key does not matter)."""
    return "signature" in query or "expires" in query


def _query(text: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(text).items()}
