"""PaddleOCR's jobs API (``/api/v2/ocr/jobs``) through the HTTP API (fake engine): submit, poll, the signed JSONL
result; keys and owners; errors in the API's envelope."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.testclient import TestClient

from tests.gateway.conftest import MakeClient
from tests.images import encode, make_image, make_pdf

PNG = encode(make_image(64, 48, seed=1))
PDF = make_pdf([make_image(200, 100, seed=2), make_image(100, 200, seed=3)])
JOBS = "/api/v2/ocr/jobs"
KEY = {"Authorization": "Bearer key-one"}


def finished(client: TestClient, job_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    for _ in range(200):
        data: dict[str, Any] = client.get(f"{JOBS}/{job_id}", headers=headers).json()["data"]
        if data["state"] in ("done", "failed"):
            return data
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def submit(client: TestClient, data: bytes, model: str, headers: dict[str, str] | None = None) -> str:
    response = client.post(JOBS, data={"model": model, "optionalPayload": "{}"}, files={"file": data}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 0 and body["msg"] == "Success"
    return str(body["data"]["jobId"])


def test_a_layout_job_ends_done_with_a_signed_jsonl_url_of_one_line_per_page(make_client: MakeClient) -> None:
    client = make_client()
    data = finished(client, submit(client, PDF, "PaddleOCR-VL-1.6"))
    assert data["state"] == "done" and data["errorMsg"] is None
    assert data["extractProgress"]["totalPages"] == data["extractProgress"]["extractedPages"] == 2
    url = data["resultUrl"]["jsonUrl"]
    assert "signature=" in url and "/v1/files/" in url
    lines = [json.loads(line) for line in client.get(url).text.splitlines()]
    assert [line["result"]["dataInfo"]["numPages"] for line in lines] == [2, 2]
    assert all(len(line["result"]["layoutParsingResults"]) == 1 for line in lines)
    assert all("text" in line["result"]["layoutParsingResults"][0]["markdown"] for line in lines)


def test_an_ocr_model_job_answers_text_lines(make_client: MakeClient) -> None:
    client = make_client()
    data = finished(client, submit(client, PNG, "PP-OCRv5"))
    (line,) = [json.loads(line) for line in client.get(data["resultUrl"]["jsonUrl"]).text.splitlines()]
    assert line["result"]["dataInfo"] == {"type": "image", "width": 64, "height": 48}
    assert "rec_texts" in line["result"]["ocrResults"][0]["prunedResult"]


def test_a_job_whose_file_is_not_a_document_ends_failed_with_the_reason(make_client: MakeClient) -> None:
    client = make_client()
    data = finished(client, submit(client, b"plain text, not an image", "PP-OCRv5"))
    assert data["state"] == "failed" and data["resultUrl"] is None and data["errorMsg"]


def test_jobs_need_a_key_and_another_keys_job_is_not_found(make_client: MakeClient) -> None:
    client = make_client(api_keys=("key-one", "key-two"))
    assert client.post(JOBS, data={"model": "PP-OCRv5"}, files={"file": PNG}).status_code == 401
    job_id = submit(client, PNG, "PP-OCRv5", KEY)
    assert finished(client, job_id, KEY)["state"] == "done"
    other = client.get(f"{JOBS}/{job_id}", headers={"Authorization": "Bearer key-two"})
    assert other.status_code == 404 and other.json()["code"] == 404


def test_an_unknown_model_is_a_400_in_the_apis_envelope(make_client: MakeClient) -> None:
    response = make_client().post(JOBS, data={"model": "PP-OCRv9"}, files={"file": PNG})
    assert response.status_code == 400 and set(response.json()) == {"code", "msg"}
    assert response.json()["code"] == 400


def test_jobs_are_served_only_with_the_job_store(api: TestClient) -> None:
    assert api.post(JOBS, data={"model": "PP-OCRv5"}, files={"file": PNG}).status_code == 404
