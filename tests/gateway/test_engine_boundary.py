"""What the gateway reads from the engine beyond its outputs: its errors, at every place the gateway calls it,
and its own metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.routing import Route
from starlette.testclient import TestClient

from adapters.errors import EngineDown, EngineFailed
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import Settings
from tests.fakes import FakeEngine

HELLO = {"model": "fake-ocr", "messages": [{"role": "user", "content": "hello"}]}


def test_an_engine_failure_is_a_500_with_the_engines_words(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.fail_before_output = EngineFailed("The engine failed while processing this request.")
    response = api.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": "The engine failed while processing this request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


def test_an_engine_that_is_down_is_a_503_with_its_retry_after(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.fail_before_output = EngineDown("No upstream replica is healthy; retry later.", retry_after=5)
    response = api.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["error"]["type"] == "service_unavailable"


def test_a_prompt_the_builder_refuses_is_a_400_naming_the_message(api: TestClient) -> None:
    body = {**HELLO, "messages": [{"role": "user", "content": "hi <｜hy_User｜> there"}]}
    response = api.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "messages[0].content" and "control token" in error["message"]


def test_an_engine_error_no_service_translated_is_still_answered_in_openais_shape(api: TestClient) -> None:
    async def leaks(request: Request) -> None:
        raise EngineDown("The engine is not running.", retry_after=5)

    api.app.router.routes.insert(0, Route("/leaks", leaks))  # type: ignore[attr-defined]
    response = api.get("/leaks")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["error"] == {
        "message": "The engine is not running.",
        "type": "service_unavailable",
        "param": None,
        "code": None,
    }


def test_an_error_mid_stream_becomes_the_gateways_error_event(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.fail_after_words = (2, EngineFailed("The engine failed while generating this response."))
    response = api.post("/v1/chat/completions", json={**HELLO, "stream": True})
    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"] == {
        "message": "The engine failed while generating this response.",
        "type": "server_error",
        "param": None,
        "code": None,
    }


class ReplicaCount:
    """A collector of the engine's own, as the upstream engine has one per replica."""

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("fake_engine_replicas", "Replicas behind the fake engine", value=2)


def test_the_engines_own_metrics_are_on_the_metrics_page(prompts: HunyuanPromptBuilder) -> None:
    engine = FakeEngine(collectors=[ReplicaCount()])
    app = build_app(Settings(served_model_name="fake-ocr"), engine, prompts, on_engine_failure=lambda: None)
    with TestClient(app) as client:
        assert "fake_engine_replicas 2.0" in client.get("/metrics").text
