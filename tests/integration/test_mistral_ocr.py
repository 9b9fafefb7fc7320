"""Open WebUI's "Mistral OCR" document extractor, replayed against real gateways, read the way it reads them.

The requests are those of Open WebUI 0.12's ``MistralLoader`` (``open_webui/retrieval/loaders/mistral.py``), sent
with the same library (``requests``): with ``MISTRAL_OCR_API_BASE_URL`` = ``{base}``, it uploads the file as
``POST {base}/files`` (multipart: ``file`` = (name, bytes, ``application/pdf``) whatever the file is, ``purpose`` =
``ocr``), asks ``GET {base}/files/{id}/url?expiry=1`` (``Accept: application/json``) and reads ``url``, sends
``POST {base}/ocr`` with ``{"model": "mistral-ocr-latest", "document": {"type": "document_url", "document_url":
<url>}, "include_image_base64": false}`` and deletes the file with ``DELETE {base}/files/{id}`` whatever happened.
In base64 mode it sends the file as ``data:application/pdf;base64,…`` instead and stores nothing. Every request
carries ``Authorization: Bearer <key>`` and ``User-Agent: OpenWebUI-MistralLoader/2.0``; any 4xx/5xx fails the
load (its body only logged). Of the answer it reads ``pages[].index`` and ``pages[].markdown`` (stripped; empty
pages skipped).

On ``--engine rapidocr`` a scanned, image-only PDF must come back with the printed words on their pages; on the
vLLM engine with the tiny random checkpoint, only the shapes can be checked.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Gateway
from tests.images import encode, make_image
from tests.integration.conftest import RAPIDOCR_KEYS
from tests.scans import ScannedPage, image_only_pdf, latin_and_cjk_scan, recall

KEY_A, KEY_B = RAPIDOCR_KEYS["mistral"]
LATIN = [
    "Scanned invoices become Markdown for retrieval.",
    "Invoice number 2024-0815, total 1,234.56 EUR",
    "The quick brown fox jumps over the lazy dog.",
    "Meeting moved to Tuesday at 14:30 in room B12",
]
CJK = ["今天天气很好，我们去公园散步。", "请在下周五之前提交报告。", "北京市海淀区中关村大街一号"]
MIN_RECALL = 0.95


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def linked(url: str) -> dict[str, str]:
    return {"type": "document_url", "document_url": url}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class MistralLoaderReplay:
    """``MistralLoader.load()``'s requests and reading, without its retries and logging."""

    def __init__(self, base_url: str, api_key: str, file_path: Path, *, use_base64: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.file_path = file_path
        self.use_base64 = use_base64
        self.headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "OpenWebUI-MistralLoader/2.0"}

    def load(self) -> list[tuple[int, str]]:
        """(page index, Markdown) of each page with text."""
        if self.use_base64:
            encoded = base64.b64encode(self.file_path.read_bytes()).decode("utf-8")
            return self.pages(self.ocr(f"data:application/pdf;base64,{encoded}"))
        file_id = self.upload()
        try:
            return self.pages(self.ocr(self.signed_url(file_id)))
        finally:
            self.delete(file_id)

    def upload(self) -> str:
        with self.file_path.open("rb") as f:
            response = requests.post(
                f"{self.base_url}/files",
                headers=self.headers,
                files={"file": (self.file_path.name, f, "application/pdf")},
                data={"purpose": "ocr"},
                timeout=120,
                stream=False,
            )
        return str(self.answer(response)["id"])

    def signed_url(self, file_id: str) -> str:
        response = requests.get(
            f"{self.base_url}/files/{file_id}/url",
            headers={**self.headers, "Accept": "application/json"},
            params={"expiry": 1},
            timeout=30,
        )
        return str(self.answer(response)["url"])

    def ocr(self, url: str) -> dict[str, Any]:
        payload = {
            "model": "mistral-ocr-latest",
            "document": {"type": "document_url", "document_url": url},
            "include_image_base64": False,
        }
        headers = {**self.headers, "Content-Type": "application/json", "Accept": "application/json"}
        return self.answer(requests.post(f"{self.base_url}/ocr", headers=headers, json=payload, timeout=300))

    def delete(self, file_id: str) -> None:
        self.answer(requests.delete(f"{self.base_url}/files/{file_id}", headers=self.headers, timeout=30))

    @staticmethod
    def answer(response: requests.Response) -> dict[str, Any]:
        assert response.ok, f"{response.status_code}: {response.text}"  # raise_for_status fails the load
        return {} if response.status_code == 204 or not response.content else response.json()  # type: ignore[no-any-return]

    @staticmethod
    def pages(answer: dict[str, Any]) -> list[tuple[int, str]]:
        pages = []
        for page in answer["pages"]:
            markdown, index = page.get("markdown"), page.get("index")
            if markdown is not None and index is not None and str(markdown).strip():
                pages.append((index, str(markdown).strip()))
        return pages


@pytest.fixture(scope="module")
def rapidocr_base(keyed_rapidocr_root: str) -> str:
    """The shared ``--engine rapidocr`` gateway with API keys and a small body limit: its ``/v1`` URL."""
    return f"{keyed_rapidocr_root}/v1"


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ScannedPage], Path]:
    return latin_and_cjk_scan(tmp_path_factory.mktemp("scan"), LATIN, CJK)


@pytest.mark.parametrize("use_base64", [False, True], ids=["signed-url", "base64"])
def test_open_webui_reads_the_printed_words_page_by_page(
    rapidocr_base: str, scan: tuple[list[ScannedPage], Path], use_base64: bool
) -> None:
    pages, path = scan
    read = MistralLoaderReplay(rapidocr_base, KEY_A, path, use_base64=use_base64).load()
    assert [index for index, _ in read] == [0, 1]
    for (_, markdown), page in zip(read, pages, strict=True):
        share = recall("\n".join(page.lines), markdown)
        print(f"page {pages.index(page)}: recall {share:.3f}")
        assert share >= MIN_RECALL, markdown
    assert recall("\n".join(pages[1].lines), read[0][1]) == 0  # each page holds its own words only
    # Nothing left behind: the loader deleted its upload.
    listed = requests.get(f"{rapidocr_base}/files", params={"purpose": "ocr"}, headers=auth(KEY_A), timeout=30)
    assert listed.json()["data"] == []


def test_mistrals_own_sdk_uploads_lists_signs_reads_and_deletes(
    rapidocr_base: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    """``mistralai``, Mistral's SDK, validates every answer against its own models: the flow its documentation
    gives (upload with purpose ocr, signed URL, OCR of the document URL), then a file id and base64, then delete."""
    from mistralai.client import Mistral

    pages, path = scan
    client = Mistral(api_key=KEY_A, server_url=rapidocr_base.removesuffix("/v1"))
    uploaded = client.files.upload(file={"file_name": path.name, "content": path.read_bytes()}, purpose="ocr")
    assert (uploaded.purpose, uploaded.source, uploaded.size_bytes) == ("ocr", "upload", path.stat().st_size)
    retrieved = client.files.retrieve(file_id=uploaded.id)
    assert retrieved.deleted is False and retrieved.filename == path.name
    assert [file.id for file in client.files.list(purpose="ocr").data] == [uploaded.id]
    signed = client.files.get_signed_url(file_id=uploaded.id, expiry=1)
    by_url = client.ocr.process(
        model="mistral-ocr-latest", document={"type": "document_url", "document_url": signed.url}
    )
    by_id = client.ocr.process(model="mistral-ocr-latest", document={"type": "file", "file_id": uploaded.id})
    encoded = base64.b64encode(path.read_bytes()).decode()
    by_data = client.ocr.process(
        model="mistral-ocr-latest",
        document={"type": "document_url", "document_url": f"data:application/pdf;base64,{encoded}"},
    )
    for answer in (by_url, by_id, by_data):
        assert [page.index for page in answer.pages] == [0, 1]
        for page, drawn in zip(answer.pages, pages, strict=True):
            assert recall("\n".join(drawn.lines), page.markdown) >= MIN_RECALL, page.markdown
    image = pages[0].image
    by_image = client.ocr.process(
        model="mistral-ocr-latest",
        document={
            "type": "image_url",
            "image_url": f"data:image/png;base64,{base64.b64encode(encode(image)).decode()}",
        },
    )
    assert recall("\n".join(pages[0].lines), by_image.pages[0].markdown) >= MIN_RECALL
    deleted = client.files.delete(file_id=uploaded.id)
    assert (deleted.id, deleted.deleted) == (uploaded.id, True)
    assert client.files.list(purpose="ocr").data == []


def test_an_image_uploaded_as_a_pdf_is_read(rapidocr_base: str, scan: tuple[list[ScannedPage], Path]) -> None:
    pages, path = scan
    image = path.with_name("page.png")
    image.write_bytes(encode(pages[0].image))
    read = MistralLoaderReplay(rapidocr_base, KEY_A, image).load()
    assert len(read) == 1 and recall("\n".join(pages[0].lines), read[0][1]) >= MIN_RECALL


def test_signed_urls_valid_tampered_expired_and_other_key(
    rapidocr_base: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    _, path = scan
    loader = MistralLoaderReplay(rapidocr_base, KEY_A, path)
    file_id = loader.upload()
    try:
        url = loader.signed_url(file_id)
        assert requests.get(url, timeout=30).content == path.read_bytes()  # no key needed
        for tampered in (url.replace("signature=", "signature=0"), url.replace("expires=", "expires=1")):
            refused = requests.get(tampered, timeout=30)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "invalid_signature"
        short = requests.get(
            f"{rapidocr_base}/files/{file_id}/url", params={"expiry": 0.0003}, headers=auth(KEY_A), timeout=30
        ).json()["url"]  # about one second
        time.sleep(2)
        assert requests.get(short, timeout=30).status_code == 403
        # Another key sees neither the file nor its URL; the URL itself works for anyone who holds it.
        other = requests.get(f"{rapidocr_base}/files/{file_id}/url", headers=auth(KEY_B), timeout=30)
        assert other.status_code == 404
        body = {"model": "mistral-ocr-latest", "document": {"type": "file", "file_id": file_id}}
        assert requests.post(f"{rapidocr_base}/ocr", json=body, headers=auth(KEY_B), timeout=30).status_code == 404
        assert requests.get(url, headers=auth(KEY_B), timeout=30).status_code == 200
    finally:
        loader.delete(file_id)


BROKEN_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF"


@pytest.mark.parametrize(
    ("document", "status"),
    [
        (None, 400),
        (linked("data:application/pdf;base64," + "QUFB" * 400_000), 413),  # 1.6 MB: over the gateway's 1 MB
        (linked(f"data:application/pdf;base64,{b64(BROKEN_PDF)}"), 400),
        (linked("data:application/pdf;base64,UEsDBAoAAAAAAA=="), 400),  # a zip
        # This machine itself: refused by the fetch policy even with --allow-private-media (the shared gateway's).
        (linked("http://0.0.0.0:9/x.pdf"), 400),
        ({"type": "file", "file_id": "file-0123456789abcdef01234567"}, 404),
    ],
    ids=["no-document", "huge-body", "broken-pdf", "unknown-format", "zero-address-url", "unknown-file"],
)
def test_bad_input_gets_a_4xx_and_the_gateway_carries_on(
    rapidocr_base: str, scan: tuple[list[ScannedPage], Path], document: dict[str, str] | None, status: int
) -> None:
    body = {"model": "mistral-ocr-latest", **({"document": document} if document else {})}
    response = requests.post(f"{rapidocr_base}/ocr", json=body, headers=auth(KEY_A), timeout=60)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]
    image = encode(scan[0][0].image.crop((0, 150, 1700, 450)))
    good = {"model": "m", "document": {"type": "image_url", "image_url": f"data:image/png;base64,{b64(image)}"}}
    answer = requests.post(f"{rapidocr_base}/ocr", json=good, headers=auth(KEY_A), timeout=60)
    assert answer.status_code == 200 and "Markdown" in answer.json()["pages"][0]["markdown"]


def test_vllm_engine_answers_in_mistrals_shape(gateway: Gateway, tmp_path: Path) -> None:
    path = tmp_path / "two.pdf"
    path.write_bytes(image_only_pdf([make_image(400, 300, seed=1), make_image(300, 400, seed=2)]))
    loader = MistralLoaderReplay(gateway.base_url, "unused", path)
    file_id = loader.upload()
    try:
        answer = loader.ocr(loader.signed_url(file_id))
    finally:
        loader.delete(file_id)
    assert answer["model"] == gateway.model
    assert answer["usage_info"] == {"pages_processed": 2, "doc_size_bytes": path.stat().st_size}
    assert [page["index"] for page in answer["pages"]] == [0, 1]
    # Each scan is a 200-dpi image: read at that resolution or below (shrunk to the model's image budget), and dpi
    # says which, so the width is the page's points at that dpi.
    for page, pixels in zip(answer["pages"], (400, 300), strict=True):
        assert isinstance(page["markdown"], str) and page["images"] == []
        dpi, width = page["dimensions"]["dpi"], page["dimensions"]["width"]
        assert 0 < dpi <= 200 and abs(width - pixels * dpi / 200) <= 2, page["dimensions"]
    assert gateway.wait_for_engine_idle() == 0
