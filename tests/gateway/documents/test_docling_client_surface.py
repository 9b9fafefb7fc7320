"""What docling's own service client (``docling.service_client``) asks of docling-serve beyond convert and poll,
on the fake engine: a presigned-URL target refused in the words its fallback looks for, the status websocket
(keyed as docling-serve keys it), ``/version`` and ``/ready``, and task statuses it knows to be final.
tests/integration/test_docling_client.py runs the client itself."""

from __future__ import annotations

import base64
from functools import partial
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.fakes import FakeEngine
from tests.gateway.conftest import MakeClient
from tests.gateway.documents.test_convert_api import DOCUMENT, PNG, SPOTTING

KEY, OTHER_KEY = "sk-docling", "sk-someone-else"
PRESIGNED_REFUSAL = "Presigned URL target requires artifact storage to be configured and enabled on the server."


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    fake = FakeEngine(replies={"document": DOCUMENT, "spotting": SPOTTING})
    return partial(make_client, fake, api_keys=(KEY, OTHER_KEY))()


def submit(client: TestClient, *files: tuple[str, bytes]) -> str:
    sent = [("files", (name, data, "application/octet-stream")) for name, data in files or [("scan.png", PNG)]]
    queued = client.post("/v1/convert/file/async", files=sent, headers={"X-Api-Key": KEY})
    assert queued.status_code == 200, queued.text
    return str(queued.json()["task_id"])


def watched(client: TestClient, task_id: str, url: str | None = None, **connect: Any) -> list[dict[str, Any]]:
    """Every message of the status websocket, answering each update with "next" as docling's client does."""
    messages = []
    with client.websocket_connect(url or f"/v1/status/ws/{task_id}?api_key={KEY}", **connect) as socket:
        while True:
            try:
                message = socket.receive_json()
            except WebSocketDisconnect:
                return messages
            messages.append(message)
            if message["message"] == "update":
                socket.send_text("next")


@pytest.mark.parametrize("route", ["file", "source"])
def test_a_presigned_url_target_is_refused_in_docling_serves_words_so_its_client_falls_back(
    client: TestClient, route: str
) -> None:
    if route == "file":
        files = {"files": ("scan.png", PNG, "image/png")}
        sent = client.post(
            "/v1/convert/file/async", files=files, data={"target_type": "presigned_url"}, headers={"X-Api-Key": KEY}
        )
    else:
        source = {"kind": "file", "base64_string": base64.b64encode(PNG).decode(), "filename": "scan.png"}
        body = {"sources": [source], "target": {"kind": "presigned_url"}}
        sent = client.post("/v1/convert/source/async", json=body, headers={"X-Api-Key": KEY})
    assert (sent.status_code, sent.json()) == (422, {"detail": PRESIGNED_REFUSAL})


def test_the_status_websocket_sends_the_task_until_it_is_done_then_closes(client: TestClient) -> None:
    task_id = submit(client)
    messages = watched(client, task_id)
    assert messages[0]["message"] == "connection" and messages[0]["task"]["task_id"] == task_id
    assert [message["message"] for message in messages[1:]] == ["update"] * (len(messages) - 1)
    assert messages[-1]["task"]["task_status"] == "success"
    assert all(message["task"]["task_status"] != "success" for message in messages[1:-1])  # closed once done


def test_the_status_websocket_takes_the_key_as_a_header_too(client: TestClient) -> None:
    task_id = submit(client)
    messages = watched(client, task_id, f"/v1/status/ws/{task_id}", headers={"X-Api-Key": KEY})
    assert messages[-1]["task"]["task_status"] == "success"


@pytest.mark.parametrize("query", ["", "?api_key=wrong"])
def test_the_status_websocket_is_refused_before_the_handshake_without_a_valid_key(
    client: TestClient, query: str
) -> None:
    task_id = submit(client)
    with pytest.raises(WebSocketDisconnect) as refused:
        watched(client, task_id, f"/v1/status/ws/{task_id}{query}")
    assert refused.value.code == 1008


def test_another_keys_task_or_an_unknown_one_is_not_found_on_the_websocket(client: TestClient) -> None:
    task_id = submit(client)
    for url in (f"/v1/status/ws/{task_id}?api_key={OTHER_KEY}", f"/v1/status/ws/no-such-task?api_key={KEY}"):
        assert watched(client, task_id, url) == [{"message": "error", "task": None, "error": "Task not found."}]


def test_a_task_with_one_broken_file_among_several_is_a_success_with_the_failure_counted(client: TestClient) -> None:
    """docling's client waits for "success" or "failure" only (a "partial_success" would be waited on until its
    timeout): as docling-serve's, a task that converted something is a success, each document's status is in the
    answer."""
    task_id = submit(client, ("scan.png", PNG), ("broken.pdf", b"%PDF-1.7 broken"))
    status = watched(client, task_id)[-1]["task"]
    assert status["task_status"] == "success" and status["task_meta"]["num_failed"] == 1


def test_version_and_ready_answer_as_docling_serve_s_without_a_key(client: TestClient) -> None:
    versions = client.get("/version").json()
    assert {"hunyuan-ocr-gateway", "docling-core", "python"} <= set(versions)
    assert all(isinstance(value, str) for value in versions.values())
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert client.get("/health").json()["status"] == "ok"
