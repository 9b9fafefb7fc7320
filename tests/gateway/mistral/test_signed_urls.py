"""Signed file URLs: what they sign, when they stop working, and where the secret lives."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.jobstore.signed_urls import SECRET_FILE, SignatureRefused, UrlSigner, signing_secret

NOW = 1_800_000_000.0


def query(url: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))


def forged(signature: str) -> str:
    """The signature with its last hex digit changed."""
    return signature[:-1] + ("1" if signature.endswith("0") else "0")


def test_a_url_checks_out_until_it_expires() -> None:
    url = UrlSigner(b"secret", clock=lambda: NOW).url("http://gw:8000/", "file-abc", hours=1)
    assert url.startswith("http://gw:8000/v1/files/file-abc/content?expires=")
    UrlSigner(b"secret", clock=lambda: NOW + 3599).check("file-abc", query(url))
    with pytest.raises(SignatureRefused, match="expired"):
        UrlSigner(b"secret", clock=lambda: NOW + 3601).check("file-abc", query(url))


@pytest.mark.parametrize(
    "change",
    [
        lambda file_id, q: ("file-abd", q),  # another file
        lambda file_id, q: (file_id, {**q, "expires": str(int(q["expires"]) + 3600)}),  # a longer life
        lambda file_id, q: (file_id, {**q, "signature": forged(q["signature"])}),
        lambda file_id, q: (file_id, {"expires": q["expires"]}),  # none at all
        lambda file_id, q: (file_id, {**q, "expires": "soon"}),
    ],
)
def test_a_changed_url_is_refused(change: Callable[[str, dict[str, str]], tuple[str, dict[str, str]]]) -> None:
    signer = UrlSigner(b"secret", clock=lambda: NOW)
    url = signer.url("http://gw", "file-abc", hours=1)
    file_id, changed = change("file-abc", query(url))
    with pytest.raises(SignatureRefused):
        signer.check(file_id, changed)


def test_a_url_signed_with_another_secret_is_refused() -> None:
    url = UrlSigner(b"other server", clock=lambda: NOW).url("http://gw", "file-abc", hours=1)
    with pytest.raises(SignatureRefused, match="signature"):
        UrlSigner(b"secret", clock=lambda: NOW).check("file-abc", query(url))


def test_own_file_knows_its_urls_whatever_the_host() -> None:
    signer = UrlSigner(b"secret")
    url = signer.url("http://127.0.0.1:8000", "file-abc", hours=1)
    assert signer.own_file(url) == "file-abc"
    assert signer.own_file(url.replace("127.0.0.1:8000", "ocr.example.org")) == "file-abc"
    assert signer.own_file(url.replace("file-abc", "file-abd")) is None
    assert signer.own_file("https://example.org/v1/files/file-abc/content") is None
    assert UrlSigner(b"other").own_file(url) is None
    assert signer.own_file("http://[::1/v1/files/file-abc/content?expires=1&signature=2") is None


def test_the_secret_is_made_once_private_and_kept(tmp_path: Path) -> None:
    first = signing_secret(tmp_path / "data", None)
    assert len(first) == 64
    path = tmp_path / "data" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing_secret(tmp_path / "data", None) == first


def test_a_configured_secret_wins_and_writes_nothing(tmp_path: Path) -> None:
    assert signing_secret(tmp_path, "from the command line") == b"from the command line"
    assert not (tmp_path / SECRET_FILE).exists()
