"""``POST /v1/ocr`` and Mistral's file flow on the real app and job store, with a fake engine.

The fake answers every page's document parsing with ``DOCUMENT``; which page holds which words is the integration
test's business (``tests/integration/test_mistral_ocr.py``, rapidocr on a scanned PDF)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.config import MediaSettings
from gateway.jobstore.signed_urls import SECRET_FILE, UrlSigner
from tests.fakes import FakeEngine
from tests.gateway.conftest import MakeClient, die
from tests.images import data_url, encode, make_image, make_pdf

KEY_A, KEY_B = "sk-a", "sk-b"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}
DOCUMENT = "# Invoice 42\n\n| Item | Price |\n|---|---|\n| Tea | 3 |\n\n$$E = mc^2$$"


@pytest.fixture
def make_client(make_client: MakeClient) -> MakeClient:
    """Clients taking two keys, each on a fake that answers document parsing with ``DOCUMENT``."""

    def make(**settings: Any) -> TestClient:
        return make_client(FakeEngine(replies={"document": DOCUMENT}), api_keys=(KEY_A, KEY_B), **settings)

    return make


@pytest.fixture
def api(make_client: MakeClient) -> TestClient:
    return make_client()


PDF = make_pdf([make_image(400, 300, seed=1), make_image(300, 400, seed=2), make_image(200, 200, seed=3)])
PNG = encode(make_image(320, 240, seed=4))


def ocr(client: TestClient, document: dict[str, Any], headers: dict[str, str] = A, **body: Any) -> Any:
    return client.post("/v1/ocr", json={"model": "mistral-ocr-latest", "document": document, **body}, headers=headers)


def document_url(data: bytes, mime: str = "application/pdf") -> dict[str, str]:
    return {"type": "document_url", "document_url": data_url(data, mime)}


def linked(url: str) -> dict[str, str]:
    return {"type": "document_url", "document_url": url}


def upload(client: TestClient, data: bytes, headers: dict[str, str] = A, name: str = "scan.pdf") -> str:
    # As Open WebUI's MistralLoader sends it: every file declared application/pdf, purpose=ocr.
    response = client.post(
        "/v1/files", files={"file": (name, data, "application/pdf")}, data={"purpose": "ocr"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["purpose"] == "ocr"
    return str(response.json()["id"])


def signed_url(client: TestClient, file_id: str, headers: dict[str, str] = A, expiry: float = 1) -> str:
    response = client.get(f"/v1/files/{file_id}/url", params={"expiry": expiry}, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def assert_error(response: Any, status: int, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    if param is not None:
        assert error["param"] == param


def test_a_pdf_data_url_gives_each_page_its_markdown(api: TestClient) -> None:
    response = ocr(api, document_url(PDF))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model"] == "fake-ocr"
    assert result["usage_info"] == {"pages_processed": 3, "doc_size_bytes": len(PDF)}
    assert [page["index"] for page in result["pages"]] == [0, 1, 2]
    first = result["pages"][0]
    assert first["images"] == []
    # A scan renders at its image's own resolution (72 dpi: a 400-pixel image on a 400-point page), shrunk to the
    # model's image budget; dpi is the resolution the page was read at, so width = 400 points at that dpi.
    dimensions = first["dimensions"]
    assert dimensions["width"] > dimensions["height"] and dimensions["dpi"] <= 72
    assert abs(dimensions["width"] - 400 * dimensions["dpi"] / 72) <= 2
    assert result["pages"][1]["dimensions"]["width"] < result["pages"][1]["dimensions"]["height"]
    # The DoclingDocument's Markdown export: a title, a Markdown table, a formula, each page alone.
    markdown = first["markdown"]
    assert markdown.startswith("# Invoice 42")
    assert "| Item   |   Price |" in markdown and "| Tea    |       3 |" in markdown
    assert "$$E = mc^2$$" in markdown
    assert markdown.count("Invoice 42") == 1


def test_the_markdown_is_the_documents_markdown_export(api: TestClient) -> None:
    pages = ocr(api, document_url(PNG, "image/png")).json()["pages"]
    whole = api.post("/ocr?format=markdown", content=PNG, headers={**A, "Content-Type": "image/png"})
    assert [page["markdown"] for page in pages] == [whole.text]


def test_pages_choose_pages_by_their_index(api: TestClient) -> None:
    for pages, indices in (([2, 0], [0, 2]), (1, [1]), ("1-2", [1, 2])):
        result = ocr(api, document_url(PDF), pages=pages).json()
        assert [page["index"] for page in result["pages"]] == indices
        assert result["usage_info"]["pages_processed"] == len(indices)
    assert_error(ocr(api, document_url(PDF), pages=[3]), 400, "pages")
    assert_error(ocr(api, document_url(PDF), pages=[-1]), 400)
    assert_error(ocr(api, document_url(PDF), pages="2-1"), 400, "pages")


def test_image_url_as_text_or_object_and_any_declared_type(api: TestClient) -> None:
    for document in (
        {"type": "image_url", "image_url": data_url(PNG)},
        {"type": "image_url", "image_url": {"url": data_url(PNG)}},
        {"image_url": data_url(PNG)},  # the SDK's default type
        document_url(PNG, "application/pdf"),  # Open WebUI's base64 mode calls every file a PDF
    ):
        result = ocr(api, document).json()
        assert result["usage_info"]["pages_processed"] == 1, document
        assert result["pages"][0]["dimensions"] == {"dpi": 72, "height": 240, "width": 320}


def test_open_webui_flow_upload_sign_read_delete(api: TestClient) -> None:
    file_id = upload(api, PNG)
    url = signed_url(api, file_id)
    result = ocr(api, {"type": "document_url", "document_url": url})
    assert result.status_code == 200, result.text
    assert result.json()["pages"][0]["markdown"].startswith("# Invoice 42")
    assert api.delete(f"/v1/files/{file_id}", headers=A).json()["deleted"] is True
    assert api.get(url).status_code == 404  # the URL outlives nothing


def test_a_signed_url_downloads_without_a_key_even_on_another_host_name(api: TestClient) -> None:
    file_id = upload(api, PDF)
    url = signed_url(api, file_id)
    assert api.get(url).content == PDF
    assert api.get(url, headers=B).content == PDF  # the signature is the authority, not the key
    other_host = url.replace("http://testserver", "http://gateway.internal:8000")
    assert ocr(api, {"type": "document_url", "document_url": other_host}).status_code == 200
    assert api.get(f"/v1/files/{file_id}/content").status_code == 401  # unsigned: the key is needed


def test_a_tampered_or_expired_url_is_refused(api: TestClient, tmp_path: Path) -> None:
    file_id, other = upload(api, PDF), upload(api, PNG)
    url = signed_url(api, file_id)
    secret = (tmp_path / "data" / SECRET_FILE).read_text().encode()
    expired = UrlSigner(secret, clock=lambda: time.time() - 7200).url("http://testserver", file_id, 1)
    for refused in (
        url.replace(file_id, other),
        url.replace("signature=", "signature=0"),
        url.replace("expires=", "expires=9"),
        expired,
        UrlSigner(b"another server's secret").url("http://testserver", file_id, 1),
    ):
        response = api.get(refused)
        assert response.status_code == 403, refused
        assert response.json()["error"]["code"] == "invalid_signature"
        assert api.get(refused, headers=A).status_code == 403  # a key does not mend a bad signature
        # Not ours after all: it goes to the SSRF guard, which refuses loopback.
        assert_error(ocr(api, {"type": "document_url", "document_url": refused}), 400, "document.document_url")


def test_files_and_their_urls_belong_to_their_key(api: TestClient) -> None:
    file_id = upload(api, PDF)
    assert_error(api.get(f"/v1/files/{file_id}/url", headers=B), 404)
    assert_error(ocr(api, {"type": "file", "file_id": file_id}, headers=B), 404, "document.file_id")
    assert ocr(api, {"type": "file", "file_id": file_id}).json()["usage_info"]["pages_processed"] == 3


def test_the_secret_survives_a_restart(make_client: MakeClient) -> None:
    first = make_client()
    url = signed_url(first, upload(first, PNG))
    die(first)
    assert make_client().get(url).content == PNG


def test_a_configured_signing_key_is_used(make_client: MakeClient, tmp_path: Path) -> None:
    client = make_client(batch={"url_signing_key": "shared by the pool"})
    file_id = upload(client, PNG)
    url = signed_url(client, file_id)
    assert not (tmp_path / "data" / SECRET_FILE).exists()
    assert UrlSigner(b"shared by the pool").own_file(url) == file_id


@pytest.mark.parametrize("expiry", ["0", "-1", "169", "soon"])
def test_an_expiry_out_of_range_gets_400(api: TestClient, expiry: str) -> None:
    file_id = upload(api, PNG)
    assert_error(api.get(f"/v1/files/{file_id}/url", params={"expiry": expiry}, headers=A), 400, "expiry")


BROKEN_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "m"}, 400, "document"),
        ({"document": document_url(BROKEN_PDF)}, 400, "document"),
        ({"document": document_url(b"PK\x03\x04 a docx")}, 400, "document"),
        ({"document": linked("data:application/pdf;base64,!!")}, 400, "document.document_url"),
        ({"document": linked("http://127.0.0.1:8000/a.pdf")}, 400, "document.document_url"),
        ({"document": linked("file:///etc/passwd")}, 400, "document.document_url"),
        ({"document": {"type": "image_url", "image_url": "http://[::1]/a.png"}}, 400, "document.image_url"),
        ({"document": {"type": "audio_url", "audio_url": "x"}}, 400, "document.type"),
        ({"document": {"type": "file", "file_id": "file-missing"}}, 404, "document.file_id"),
        ({"document": document_url(PNG), "document_annotation_format": {"type": "json_schema"}}, 400, None),
    ],
)
def test_bad_input_gets_a_4xx_and_nothing_is_lost(
    api: TestClient, body: dict[str, Any], status: int, param: str | None
) -> None:
    kept = upload(api, PNG)
    assert_error(api.post("/v1/ocr", json=body, headers=A), status, param)
    assert api.get(f"/v1/files/{kept}/content", headers=A).content == PNG
    assert ocr(api, document_url(PNG, "image/png")).status_code == 200


def test_a_body_past_the_limit_gets_413(make_client: MakeClient) -> None:
    client = make_client(media=MediaSettings(max_body_mb=0.1))
    big = base64.b64encode(b"\0" * 200_000).decode()
    response = ocr(client, {"type": "document_url", "document_url": f"data:application/pdf;base64,{big}"})
    assert response.status_code == 413


def test_a_stored_file_past_the_image_limit_gets_413(make_client: MakeClient) -> None:
    client = make_client(media=MediaSettings(max_image_mb=0.001))
    assert_error(ocr(client, {"type": "file", "file_id": upload(client, PDF)}), 413, "document")


def test_no_key_no_ocr(api: TestClient) -> None:
    assert api.post("/v1/ocr", json={"document": document_url(PNG)}).status_code == 401


def test_without_a_data_directory_inline_documents_still_work(make_client: MakeClient) -> None:
    client = make_client(batch={"data_dir": None})
    assert ocr(client, document_url(PNG)).status_code == 200
    assert_error(ocr(client, {"type": "file", "file_id": "file-abc"}), 400, "document.file_id")
    assert (
        client.post("/v1/files", files={"file": ("a.pdf", PDF)}, data={"purpose": "ocr"}, headers=A).status_code == 404
    )


def test_openapi_describes_the_routes(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert paths["/v1/ocr"]["post"]["operationId"] == "mistralOcr"
    assert paths["/v1/files/{file_id}/url"]["get"]["operationId"] == "getSignedUrl"
    content = {parameter["name"] for parameter in paths["/v1/files/{file_id}/content"]["get"]["parameters"]}
    assert {"expires", "signature"} <= content


def test_openapi_keeps_both_ocr_apis_apart(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "text" in schemas["OcrResponse"]["properties"]  # POST /ocr's
    assert "usage_info" in schemas["MistralOcrResponse"]["properties"]
