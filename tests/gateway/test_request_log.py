"""Request ids and the JSON access log (``gateway/middleware/request_log.py``), fake engine, in-process."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import Settings
from tests.fakes import FakeEngine

HELLO = {"messages": [{"role": "user", "content": "hello"}]}


def access_records(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [json.loads(record.getMessage()) for record in caplog.records if record.name == "gateway.access"]


def test_request_id_is_kept_or_made_and_logged_as_one_json_line(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        given = api.post("/v1/chat/completions", json=HELLO, headers={"X-Request-ID": "abc-123"})
        made = api.get("/v1/models")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    records = access_records(caplog)
    chat = next(record for record in records if record["request_id"] == "abc-123")
    assert chat["route"] == "/v1/chat/completions" and chat["status"] == 200
    assert chat["prompt_tokens"] > 0 and chat["completion_tokens"] == 4 and chat["latency_ms"] >= 0
    assert "hello" not in json.dumps(records)  # no document text in logs by default


def test_the_record_names_the_path_and_the_route_template_that_served_it(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        api.get("/v1/models/fake-ocr")
        api.get("/no/such/route")
    served, unknown = access_records(caplog)
    assert (served["path"], served["route"]) == ("/v1/models/fake-ocr", "/v1/models/{model:path}")
    assert (unknown["path"], unknown["route"], unknown["status"]) == ("/no/such/route", None, 404)


def test_log_requests_adds_the_words_but_never_images(
    prompts: HunyuanPromptBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(Settings(log_requests=True), FakeEngine(), prompts, on_engine_failure=lambda: None)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="gateway.access"):
        client.post("/v1/chat/completions", json=HELLO)
    assert any("hello" in record.getMessage() for record in caplog.records if record.name == "gateway.access")
