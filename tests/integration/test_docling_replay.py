"""Open WebUI's Docling extraction engine, replayed against real gateways.

The request and the reading follow Open WebUI 0.12's ``retrieval/loaders/main.py`` ``DoclingLoader``: it posts the
file to ``{DOCLING_SERVER_URL}/v1/convert/file`` as multipart ``files`` with the form fields
``image_export_mode=placeholder``, ``md_page_break_placeholder=\\f`` and ``to_formats`` ``md`` and ``json``
(repeated), plus the admin's ``DOCLING_PARAMS``, the key in ``X-Api-Key``; it fails on a non-2xx (reading
``detail``) or on ``status`` ``failure``/``skipped``, splits ``document.md_content`` at the page break and numbers
the pages from ``json_content``'s body items' provenance. On ``--engine rapidocr`` the Markdown must hold the
printed words of an image-only scanned PDF; on the tiny checkpoint the answer's shapes. An async task outlives
the gateway that took it (SIGKILLed in the middle of it).
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from docling_core.types.doc import DoclingDocument

from tests.conftest import Gateway
from tests.images import encode, make_image
from tests.scans import LATIN_FONT, image_only_pdf, recall, scanned_page
from tests.servers import GatewayDidNotStart, start_gateway, stop_gateway

PAGES = [
    ["Quarterly maintenance report for pump station seven", "Hydraulic pressure measured at 212 bar"],
    ["Invoice number 2024-0815 total 1,234.56 EUR", "Pack my box with five dozen liquor jugs"],
]
PAGE_BREAK = "\f"
MIN_RECALL = 0.95


def docling_loader(url: str, api_key: str | None, name: str, data: bytes, mime: str, params: dict[str, Any]) -> list:
    """Open WebUI 0.12's ``DoclingLoader.load``: its request, and the (page_content, metadata) pairs it keeps."""
    headers = {"X-Api-Key": api_key} if api_key else {}
    form = {"image_export_mode": "placeholder", "md_page_break_placeholder": PAGE_BREAK, "to_formats": ["md", "json"]}
    response = httpx.post(
        f"{url.rstrip('/')}/v1/convert/file",
        files={"files": (name, data, mime)},
        data={**form, **params},
        headers=headers,
        timeout=600,
    )
    if not response.is_success:
        raise AssertionError(f"Error calling Docling API: {response.reason_phrase} - {response.json()['detail']}")
    result = response.json()
    assert result.get("status") not in ("failure", "skipped"), result
    document = result.get("document", {})
    md_content = document.get("md_content") or ""
    metadata = {"Content-Type": mime}
    if PAGE_BREAK in md_content:
        pages = md_content.split(PAGE_BREAK)
        json_content = document.get("json_content") or {}
        indices = sorted(
            {
                item["prov"][0]["page_no"] - 1
                for key in ("texts", "tables", "pictures", "key_value_items", "form_items")
                for item in json_content.get(key, [])
                if item.get("content_layer") == "body" and item.get("prov")
            }
        )
        if len(indices) != len(pages):
            indices = list(range(len(pages)))
        kept = [
            (page.strip(), {**metadata, "page": index})
            for index, page in zip(indices, pages, strict=True)
            if page.strip()
        ]
        if kept:
            return kept
    return [(md_content or "<No text content found>", metadata)]


@pytest.fixture(scope="module")
def scanned_pdf() -> bytes:
    return image_only_pdf(scanned_page(lines, LATIN_FONT, 48).image for lines in PAGES)


def test_open_webui_s_docling_engine_gets_the_printed_words_page_by_page(
    rapidocr_root: str, scanned_pdf: bytes
) -> None:
    documents = docling_loader(rapidocr_root, None, "scan.pdf", scanned_pdf, "application/pdf", {})
    assert [metadata["page"] for _, metadata in documents] == [0, 1]
    for (text, _), lines in zip(documents, PAGES, strict=True):
        assert recall(" ".join(lines), text) >= MIN_RECALL, text


def test_the_tiny_checkpoint_answers_in_docling_s_shapes(gateway: Gateway) -> None:
    """The real vLLM engine behind the route: the answer's structure (the words are a random model's)."""
    png = encode(make_image(320, 240, seed=11))
    # {"boxes": false, "max_tokens": 48} as an admin would put them in DOCLING_PARAMS: one short call per page.
    response = httpx.post(
        f"{gateway.root_url}/v1/convert/file",
        files={"files": ("photo.png", png, "image/png")},
        data={"to_formats": ["md", "json", "text"], "boxes": "false", "max_tokens": "48"},
        headers={"X-Api-Key": "any"},
        timeout=600,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and isinstance(body["processing_time"], float)
    document = body["document"]
    assert document["filename"] == "photo.png"
    assert isinstance(document["md_content"], str) and isinstance(document["text_content"], str)
    parsed = DoclingDocument.model_validate(document["json_content"])
    assert parsed.pages[1].size.width == 320 and parsed.pages[1].size.height == 240
    assert gateway.wait_for_engine_idle() == 0


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def test_an_async_task_outlives_the_gateway_that_took_it(scanned_pdf: bytes, data_dir: Path, tmp_path: Path) -> None:
    def start(log: str) -> tuple[Any, str]:
        try:
            return start_gateway(
                "tencent/HunyuanOCR", tmp_path / log, "--engine", "rapidocr", "--data-dir", str(data_dir),
                served_name=None, timeout=240,
            )  # fmt: skip
        except GatewayDidNotStart as error:
            pytest.fail(str(error))

    process, root = start("first.log")
    try:
        wait_ready(root)
        queued = httpx.post(
            f"{root}/v1/convert/file/async",
            files={"files": ("scan.pdf", scanned_pdf, "application/pdf")},
            data={"to_formats": "md"},
            timeout=60,
        ).json()
        time.sleep(0.5)  # let it start on the engine
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    port = int(root.rsplit(":", 1)[1])
    assert _port_is_free(port)
    assert (data_dir / "tasks" / f"{queued['task_id']}-in-0").exists()  # the input waits for the next gateway

    process, root = start("second.log")
    try:
        status = httpx.get(f"{root}/v1/status/poll/{queued['task_id']}?wait=120", timeout=180).json()
        assert status["task_status"] == "success", status
        result = httpx.get(f"{root}/v1/result/{queued['task_id']}", timeout=60).json()
        text = result["document"]["md_content"]
        assert recall(" ".join(line for lines in PAGES for line in lines), text) >= MIN_RECALL, text
        assert not (data_dir / "tasks" / f"{queued['task_id']}-in-0").exists()
    finally:
        stop_gateway(process)


def wait_ready(root: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(f"{root}/health/ready", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the gateway did not get ready"
        time.sleep(0.2)
