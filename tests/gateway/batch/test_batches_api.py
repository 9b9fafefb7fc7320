"""``/v1/batches`` with OpenAI's semantics, on the real job store (SQLite) with a fake engine."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator

import pytest
from starlette.testclient import TestClient

from adapters.engine import EngineOutput, EngineRequest
from adapters.errors import PromptTooLong
from tests.fakes import FakeEngine
from tests.gateway.batch.conftest import MakeClient, create_batch, jsonl, request_line, upload, wait_for

DONE = ("completed", "failed", "cancelled", "expired")


def test_a_batch_runs_to_completed_with_output_lines_in_openai_shape(jobs: TestClient) -> None:
    file_id = upload(jobs, "\n".join(request_line(f"req-{n}") for n in range(6)))["id"]
    created = create_batch(jobs, file_id, metadata={"project": "receipts"})
    assert created["id"].startswith("batch_") and created["object"] == "batch"
    assert created["status"] == "validating" and created["metadata"] == {"project": "receipts"}
    assert created["expires_at"] == created["created_at"] + 24 * 3600
    batch = wait_for(jobs, created["id"], DONE)
    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 6, "completed": 6, "failed": 0}
    assert batch["created_at"] <= batch["in_progress_at"] <= batch["finalizing_at"] <= batch["completed_at"]
    assert batch["error_file_id"] is None
    lines = jsonl(jobs, batch["output_file_id"])
    assert [line["custom_id"] for line in lines] == [f"req-{n}" for n in range(6)]
    for line in lines:
        assert set(line) == {"id", "custom_id", "response", "error"} and line["error"] is None
        assert line["id"].startswith("batch_req_")
        assert line["response"]["status_code"] == 200
        assert line["response"]["request_id"] == line["response"]["body"]["id"]
        assert line["response"]["body"]["object"] == "chat.completion"
    output = jobs.get(f"/v1/files/{batch['output_file_id']}").json()
    assert output["purpose"] == "batch_output"


def test_bad_lines_go_to_the_error_file_and_the_rest_is_served(jobs: TestClient) -> None:
    lines = [
        request_line("good-1"),
        "{this is not json",
        json.dumps({"custom_id": "wrong-url", "method": "POST", "url": "/v1/embeddings", "body": {}}),
        request_line("bad-body", temperature=7),
        request_line("good-2"),
    ]
    batch = wait_for(jobs, create_batch(jobs, upload(jobs, "\n".join(lines))["id"])["id"], DONE)
    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 5, "completed": 2, "failed": 3}
    assert [line["custom_id"] for line in jsonl(jobs, batch["output_file_id"])] == ["good-1", "good-2"]
    errors = {line["custom_id"]: line for line in jsonl(jobs, batch["error_file_id"])}
    assert set(errors) == {None, "wrong-url", "bad-body"}
    assert errors[None]["response"] is None and errors[None]["error"]["code"] == "invalid_request"
    assert "Line 2" in errors[None]["error"]["message"]
    assert errors["wrong-url"]["error"]["code"] == "invalid_request"
    rejected = errors["bad-body"]["response"]
    assert rejected["status_code"] == 400 and rejected["body"]["error"]["param"] == "temperature"


def test_a_request_the_engine_rejects_gets_the_chat_apis_error_in_the_error_file(make_client: MakeClient) -> None:
    client = make_client(FakeEngine(fail_before_output=PromptTooLong("too long", param="messages")))
    batch = wait_for(client, create_batch(client, upload(client, request_line("long"))["id"])["id"], DONE)
    [line] = jsonl(client, batch["error_file_id"])
    assert line["response"]["status_code"] == 400
    assert line["response"]["body"]["error"] == {
        "message": "too long",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }


def test_duplicate_custom_ids_fail_the_batch_at_validation(jobs: TestClient) -> None:
    lines = [request_line("a"), request_line("b"), request_line("a")]
    batch = wait_for(jobs, create_batch(jobs, upload(jobs, "\n".join(lines))["id"])["id"], DONE)
    assert batch["status"] == "failed" and batch["failed_at"] is not None
    [error] = batch["errors"]["data"]
    assert (error["code"], error["param"], error["line"]) == ("duplicate_custom_id", "custom_id", 3)
    assert batch["output_file_id"] is None


def test_an_empty_file_fails_the_batch(jobs: TestClient) -> None:
    batch = wait_for(jobs, create_batch(jobs, upload(jobs, "\n\n")["id"])["id"], DONE)
    assert batch["status"] == "failed" and batch["errors"]["data"][0]["code"] == "empty_file"


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"endpoint": "/v1/embeddings"}, 400, "endpoint"),
        ({"completion_window": "1h"}, 400, "completion_window"),
        ({"input_file_id": "file-missing"}, 404, "input_file_id"),
    ],
)
def test_bad_batch_requests_are_refused(jobs: TestClient, change: dict, status: int, param: str) -> None:
    body = {"input_file_id": upload(jobs, request_line("a"))["id"], "endpoint": "/v1/chat/completions"}
    response = jobs.post("/v1/batches", json={**body, "completion_window": "24h", **change})
    assert response.status_code == status
    assert response.json()["error"]["param"] == param


def test_list_is_newest_first_with_paging(jobs: TestClient) -> None:
    file_id = upload(jobs, request_line("a"))["id"]
    ids = [create_batch(jobs, file_id)["id"] for _ in range(3)]
    page = jobs.get("/v1/batches", params={"limit": 2}).json()
    assert [item["id"] for item in page["data"]] == ids[:0:-1] and page["has_more"]
    rest = jobs.get("/v1/batches", params={"after": page["last_id"]}).json()
    assert [item["id"] for item in rest["data"]] == ids[:1] and not rest["has_more"]


class GatedEngine(FakeEngine):
    """Holds every request until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        while not self.gate.is_set():
            await asyncio.sleep(0.02)
        async for output in super().generate(request):
            yield output


def test_cancel_stops_the_batch_and_reports_unrun_requests(make_client: MakeClient) -> None:
    engine = GatedEngine()
    client = make_client(engine, batch={"batch_concurrency": 2})
    batch = create_batch(client, upload(client, "\n".join(request_line(f"r{n}") for n in range(10)))["id"])
    wait_for(client, batch["id"], ("in_progress",))
    cancelling = client.post(f"/v1/batches/{batch['id']}/cancel").json()
    assert cancelling["status"] == "cancelling" and cancelling["cancelling_at"] is not None
    cancelled = wait_for(client, batch["id"], DONE)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None
    errors = jsonl(client, cancelled["error_file_id"])
    assert sorted(line["custom_id"] for line in errors) == sorted(f"r{n}" for n in range(10))
    assert {line["error"]["code"] for line in errors} == {"batch_cancelled"}
    assert client.post(f"/v1/batches/{batch['id']}/cancel").json()["status"] == "cancelled"


def test_a_finished_batch_cannot_be_cancelled(jobs: TestClient) -> None:
    batch = wait_for(jobs, create_batch(jobs, upload(jobs, request_line("a"))["id"])["id"], DONE)
    response = jobs.post(f"/v1/batches/{batch['id']}/cancel")
    assert response.status_code == 409


def test_one_key_cannot_see_another_keys_batches(make_client: MakeClient) -> None:
    client = make_client(api_keys=("alice-key", "bob-key"))
    alice, bob = {"Authorization": "Bearer alice-key"}, {"Authorization": "Bearer bob-key"}
    file_id = client.post(
        "/v1/files", files={"file": ("a.jsonl", request_line("a").encode())}, data={"purpose": "batch"}, headers=alice
    ).json()["id"]
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    assert client.post("/v1/batches", json=body, headers=bob).status_code == 404  # bob cannot use alice's file
    batch_id = client.post("/v1/batches", json=body, headers=alice).json()["id"]
    assert client.get(f"/v1/batches/{batch_id}", headers=bob).status_code == 404
    assert client.post(f"/v1/batches/{batch_id}/cancel", headers=bob).status_code == 404
    assert client.get("/v1/batches", headers=bob).json()["data"] == []
    assert client.get(f"/v1/batches/{batch_id}", headers=alice).status_code == 200


def test_a_batch_past_its_window_expires_with_unrun_requests_reported(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.jobstore.jobs.COMPLETION_WINDOW_SECONDS", 0)
    engine = GatedEngine()  # never lets a request finish
    client = make_client(engine, batch={"batch_concurrency": 2})
    batch = create_batch(client, upload(client, "\n".join(request_line(f"r{n}") for n in range(4)))["id"])
    expired = wait_for(client, batch["id"], DONE)
    assert expired["status"] == "expired" and expired["expired_at"] is not None
    errors = jsonl(client, expired["error_file_id"])
    assert {line["error"]["code"] for line in errors} == {"batch_expired"} and len(errors) == 4
