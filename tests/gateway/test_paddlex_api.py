"""PaddleX serving's ``/paddlex/ocr`` and ``/paddlex/layout-parsing`` through the HTTP API (fake engine): the
envelope, the answers' shapes, errors in PaddleX's envelope, PaddleX's ``token`` scheme."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import MediaSettings, Settings
from tests.fakes import FakeEngine
from tests.images import encode, make_image, make_pdf

PNG = encode(make_image(64, 48, seed=1))
PDF = make_pdf([make_image(200, 100, seed=2), make_image(100, 200, seed=3)])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def refused(response: object, status: int) -> str:
    """The error message, once the response is PaddleX's error envelope with ``status``."""
    body = response.json()  # type: ignore[attr-defined]
    assert response.status_code == status, body  # type: ignore[attr-defined]
    assert set(body) == {"logId", "errorCode", "errorMsg"} and body["errorCode"] == status
    return str(body["errorMsg"])


@pytest.fixture
def small(prompts: HunyuanPromptBuilder) -> Iterator[TestClient]:
    """A gateway with a 1 MB body limit and API keys."""
    settings = Settings(served_model_name="fake-ocr", api_keys=("key-one",), media=MediaSettings(max_body_mb=1))
    with TestClient(build_app(settings, FakeEngine(), prompts, on_engine_failure=lambda: None)) as client:
        yield client


def test_ocr_answers_each_line_with_its_box_in_paddlex_envelope(api: TestClient) -> None:
    response = api.post("/paddlex/ocr", json={"file": b64(PNG), "fileType": 1, "visualize": False})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errorCode"] == 0 and body["errorMsg"] == "Success" and body["logId"]
    assert body["result"]["dataInfo"] == {"type": "image", "width": 64, "height": 48}
    (page,) = body["result"]["ocrResults"]
    pruned = page["prunedResult"]
    assert pruned["rec_texts"] and all(text.strip() for text in pruned["rec_texts"])
    lines = len(pruned["rec_texts"])
    assert len(pruned["rec_scores"]) == len(pruned["rec_boxes"]) == len(pruned["rec_polys"]) == lines
    assert all(len(box) == 4 for box in pruned["rec_boxes"]) and all(len(poly) == 4 for poly in pruned["rec_polys"])


def test_layout_parsing_answers_each_pdf_page_in_markdown(api: TestClient) -> None:
    response = api.post("/paddlex/layout-parsing", json={"file": b64(PDF)})  # no fileType: the bytes decide
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["dataInfo"]["type"] == "pdf" and result["dataInfo"]["numPages"] == 2
    assert len(result["dataInfo"]["pages"]) == 2
    pages = result["layoutParsingResults"]
    assert [page["prunedResult"]["page_index"] for page in pages] == [0, 1]
    assert all(page["markdown"]["text"].strip() and page["markdown"]["images"] == {} for page in pages)


@pytest.mark.parametrize("pipeline", ["ocr", "layout-parsing"])
def test_page_index_is_the_pages_index_in_its_pdf_and_none_for_an_image_in_both_pipelines(
    api: TestClient, pipeline: str
) -> None:
    # The two pipelines computed it two ways; PaddleX's is the 0-based page of the PDF, None for an image.
    key = "ocrResults" if pipeline == "ocr" else "layoutParsingResults"
    indexes = []
    for document in (PDF, PNG):
        response = api.post(f"/paddlex/{pipeline}", json={"file": b64(document)})
        assert response.status_code == 200, response.text
        indexes.append([page["prunedResult"]["page_index"] for page in response.json()["result"][key]])
    assert indexes == [[0, 1], [None]]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"file": "not base64!"}, "base64"),
        ({"file": b64(PNG), "fileType": 2}, "fileType"),
        ({"file": b64(PDF), "fileType": 1}, "fileType"),
        ({"file": b64(b"plain text, not an image")}, ""),
        ({"fileType": 1}, "file"),
    ],
)
def test_a_request_paddlex_cannot_take_is_a_422_in_its_envelope(api: TestClient, body: dict, param: str) -> None:
    assert param in refused(api.post("/paddlex/ocr", json=body), 422)


def test_a_url_to_a_private_host_is_refused(api: TestClient) -> None:
    refused(api.post("/paddlex/layout-parsing", json={"file": "http://127.0.0.1:9/scan.png"}), 422)


def test_a_body_over_the_limit_is_a_413_in_the_envelope(small: TestClient) -> None:
    body = {"file": "A" * (2 * 2**20)}
    refused(small.post("/paddlex/ocr", json=body, headers={"Authorization": "token key-one"}), 413)


@pytest.mark.parametrize("scheme", ["token", "Bearer"])
def test_paddlex_routes_take_the_key_as_token_or_bearer(small: TestClient, scheme: str) -> None:
    response = small.post("/paddlex/ocr", json={"file": b64(PNG)}, headers={"Authorization": f"{scheme} key-one"})
    assert response.status_code == 200, response.text


def test_without_a_key_paddlex_routes_are_refused_and_token_works_only_there(small: TestClient) -> None:
    assert small.post("/paddlex/ocr", json={"file": b64(PNG)}).status_code == 401
    assert small.post("/paddlex/ocr", json={"file": b64(PNG)}, headers={"Authorization": "token no"}).status_code == 401
    assert small.get("/v1/models", headers={"Authorization": "token key-one"}).status_code == 401
