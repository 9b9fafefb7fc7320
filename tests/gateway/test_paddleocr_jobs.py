"""PaddleOCR's jobs API (``/api/v2/ocr/jobs``) through the HTTP API (fake engine): submit, poll, the signed JSONL
result; keys and owners; errors in the API's envelope."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.admission import AdmissionControl
from gateway.errors import InvalidRequest
from gateway.ocr import Document, Page
from gateway.paddlex import jobs as jobs_module
from gateway.paddlex.jobs import LOADING, PaddleOcrJobs, Source
from tests.fakes import FakeEngine
from tests.gateway.conftest import MakeClient, die
from tests.images import encode, make_image, make_pdf
from tests.waiting import wait_until, wait_until_async

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


def test_a_key_past_its_queued_job_limit_gets_a_429_in_the_apis_envelope(make_client: MakeClient) -> None:
    client = make_client(FakeEngine(delay=30.0), api_keys=("key-one", "key-two"), batch={"max_queued_tasks_per_key": 1})
    submit(client, PNG, "PP-OCRv5", KEY)
    refused = client.post(JOBS, data={"model": "PP-OCRv5"}, files={"file": PNG}, headers=KEY)
    assert refused.status_code == 429 and refused.json()["code"] == 429
    assert "--max-queued-tasks-per-key 1" in refused.json()["msg"]
    submit(client, PNG, "PP-OCRv5", {"Authorization": "Bearer key-two"})  # another key's jobs are its own


def result_file(client: TestClient, job_id: str) -> str:
    """The path of a finished job's result file in /v1/files."""
    url = finished(client, job_id)["resultUrl"]["jsonUrl"]
    return "/v1/files/" + url.split("/v1/files/")[1].split("/")[0]


def test_result_files_past_their_keeping_time_are_swept_at_start_up(make_client: MakeClient) -> None:
    # Only a later submission dropped them, from a table a restart empties: they stayed forever.
    client = make_client()
    result = result_file(client, submit(client, PNG, "PP-OCRv5"))
    uploaded = client.post("/v1/files", data={"purpose": "batch"}, files={"file": ("in.jsonl", b"{}\n")}).json()
    time.sleep(1.5)  # created_at counts whole seconds
    die(client)
    restarted = make_client(batch={"task_results_hours": 0.0001})
    wait_until(lambda: restarted.get(result).status_code == 404, 5, "the old result file to be swept")
    assert restarted.get(f"/v1/files/{uploaded['id']}").status_code == 200  # files of other purposes stay


def test_result_files_past_their_keeping_time_are_swept_while_the_gateway_runs(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs_module, "SWEEP_INTERVAL", 0.1)
    client = make_client(batch={"task_results_hours": 0.0005})  # 1.8 s
    result = result_file(client, submit(client, PNG, "PP-OCRv5"))
    assert client.get(result).status_code == 200
    wait_until(lambda: client.get(result).status_code == 404, 10, "the result file to be swept")


class SlowReader:
    """A PaddleX whose decoding waits until ``go`` is set, counting the files decoded at once; its engine work
    fails (these tests are about what comes before)."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.reading = self.most = 0

    async def read(self, data: bytes) -> Document:
        self.reading += 1
        self.most = max(self.most, self.reading)
        await self.go.wait()
        self.reading -= 1
        page = Page(index=0, filename=None, number=None, image=make_image(8, 8, seed=1))
        return Document(pages=[page], paged=False, media_ms=0.0, started=0.0)

    async def ocr(self, document: Document, report: object, *, at_once: int) -> None:
        raise InvalidRequest("not read in this test")


def make_jobs(reader: SlowReader, admission: AdmissionControl) -> PaddleOcrJobs:
    return PaddleOcrJobs(reader, admission, None, request_timeout=30.0, keep_seconds=60.0)  # type: ignore[arg-type]


def test_only_a_few_jobs_decode_their_files_at_once() -> None:
    # Every job fetched and rendered its file at once, before waiting for engine slots.
    async def scenario() -> None:
        reader = SlowReader()
        jobs = make_jobs(reader, AdmissionControl(max_running=4, max_waiting=4))
        ids = [await jobs.submit("key", "PP-OCRv5", Source(data=b"scan"), None, "http://t/") for _ in range(6)]  # type: ignore[arg-type]
        await wait_until_async(lambda: reader.reading == LOADING, 5, "the first jobs to decode their files")
        await asyncio.sleep(0.1)
        assert reader.most == LOADING
        reader.go.set()
        await wait_until_async(
            lambda: all(jobs.status("key", job_id).state == "failed" for job_id in ids), 5, "every job to end"
        )
        await jobs.stop()

    asyncio.run(scenario())


def test_a_job_lets_its_uploads_bytes_go_once_decoded() -> None:
    # Each job kept its upload (up to --max-body-mb) in memory until it finished.
    async def scenario() -> None:
        reader = SlowReader()
        reader.go.set()
        admission = AdmissionControl(max_running=1, max_waiting=0)
        held = await admission.enter()  # the job, once its file is decoded, waits for this slot
        jobs = make_jobs(reader, admission)
        data = os.urandom(4096)
        alone = sys.getrefcount(data)
        job_id = await jobs.submit("key", "PP-OCRv5", Source(data=data), None, "http://t/")  # type: ignore[arg-type]

        def decoded() -> bool:
            progress = jobs.status("key", job_id).extractProgress
            return progress is not None and progress.totalPages == 1

        await wait_until_async(decoded, 5, "the job to decode its file")
        assert sys.getrefcount(data) == alone
        held.release()
        await wait_until_async(lambda: jobs.status("key", job_id).state == "failed", 5, "the job to end")
        await jobs.stop()

    asyncio.run(scenario())
