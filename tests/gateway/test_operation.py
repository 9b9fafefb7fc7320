"""Operating the gateway (fake engine, in-process): keys, CORS, request ids, backpressure, health, metrics, OpenAPI."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from adapters.engine import EngineOutput, EngineRequest
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.admission import AdmissionControl
from gateway.app import build_app
from gateway.config import Settings
from gateway.errors import RateLimited
from tests.fakes import FakeEngine
from tests.images import encode, make_image

HELLO = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def secured(prompts: HunyuanPromptBuilder) -> Iterator[TestClient]:
    settings = Settings(
        served_model_name="fake-ocr", api_keys=("key-one", "key-two"), cors_origins=("https://ocr.example",)
    )
    with TestClient(build_app(settings, FakeEngine(), prompts, on_engine_failure=lambda: None)) as client:
        yield client


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/models", "/v1/models/fake-ocr"])
@pytest.mark.parametrize("header", [None, "Bearer wrong", "key-one", "Basic key-one", "Bearer key-one-and-more"])
def test_protected_routes_refuse_missing_or_wrong_keys_with_401(
    secured: TestClient, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    method = secured.post if path.endswith("completions") else secured.get
    response = method(path, headers=headers, **({"json": HELLO} if method == secured.post else {}))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("key", ["key-one", "key-two"])
def test_any_configured_key_is_accepted(secured: TestClient, key: str) -> None:
    response = secured.post("/v1/chat/completions", json=HELLO, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


def test_health_metrics_and_openapi_stay_open(secured: TestClient) -> None:
    for path in ("/health", "/metrics", "/openapi.json"):
        assert secured.get(path).status_code == 200


def test_the_host_header_does_not_change_the_decision(secured: TestClient) -> None:
    response = secured.get("/v1/models", headers={"Host": "health"})
    assert response.status_code == 401


def test_cors_preflight_and_response_headers_for_allowed_origins(secured: TestClient) -> None:
    preflight = secured.options(
        "/v1/chat/completions",
        headers={
            "Origin": "https://ocr.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://ocr.example"
    other = secured.options(
        "/v1/chat/completions", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in other.headers


def test_request_id_is_kept_or_made_and_logged_as_one_json_line(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        given = api.post("/v1/chat/completions", json=HELLO, headers={"X-Request-ID": "abc-123"})
        made = api.get("/v1/models")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    records = [json.loads(record.getMessage()) for record in caplog.records if record.name == "gateway.access"]
    chat = next(record for record in records if record["request_id"] == "abc-123")
    assert chat["route"] == "/v1/chat/completions" and chat["status"] == 200
    assert chat["prompt_tokens"] > 0 and chat["completion_tokens"] == 4 and chat["latency_ms"] >= 0
    assert "hello" not in json.dumps(records)  # no document text in logs by default


def test_log_requests_adds_the_words_but_never_images(
    prompts: HunyuanPromptBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(Settings(log_requests=True), FakeEngine(), prompts, on_engine_failure=lambda: None)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="gateway.access"):
        client.post("/v1/chat/completions", json=HELLO)
    assert any("hello" in record.getMessage() for record in caplog.records if record.name == "gateway.access")


def test_admission_queues_up_to_its_limit_then_refuses_with_retry_after() -> None:
    async def scenario() -> None:
        admission = AdmissionControl(max_running=1, max_waiting=1)
        first = await admission.enter()
        queued = asyncio.create_task(admission.enter())
        await asyncio.sleep(0)
        with pytest.raises(RateLimited) as refused:
            await admission.enter()
        assert refused.value.status_code == 429 and refused.value.headers["Retry-After"] == "1"
        first.release()
        second = await queued
        assert (admission.running, admission.waiting) == (1, 0)
        second.release()
        second.release()  # releasing twice is harmless
        assert admission.running == 0

    asyncio.run(scenario())


def test_a_client_that_leaves_while_queued_frees_its_place_and_never_reaches_the_engine(
    prompts: HunyuanPromptBuilder,
) -> None:
    engine = FakeEngine()
    app = build_app(Settings(max_running_requests=1), engine, prompts, on_engine_failure=lambda: None)

    async def scenario() -> list[dict]:
        admission: AdmissionControl = app.state.admission
        held = await admission.enter()  # the one engine slot is busy
        body = json.dumps(HELLO).encode()
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        left = asyncio.Event()

        async def receive() -> dict:
            if messages:
                return messages.pop(0)
            await left.wait()
            return {"type": "http.disconnect"}

        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": [], "query_string": b"",
            "app": app, "root_path": "", "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
        }  # fmt: skip
        app.state.lifecycle.state = "ready"
        call = asyncio.create_task(app.router(scope, receive, send))
        while admission.waiting == 0:
            await asyncio.sleep(0.01)
        left.set()
        await asyncio.wait_for(call, 5)
        assert admission.waiting == 0
        held.release()
        assert admission.running == 0
        return sent

    sent = asyncio.run(scenario())
    assert sent[0]["status"] == 499
    assert engine.requests == []


def test_a_full_server_answers_429_in_openai_shape(prompts: HunyuanPromptBuilder) -> None:
    engine = FakeEngine()
    app = build_app(
        Settings(max_running_requests=1, max_queued_requests=0), engine, prompts, on_engine_failure=lambda: None
    )
    with TestClient(app) as client:
        app.state.admission._slots._value = 0  # every slot taken
        response = client.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_metrics_count_requests_tokens_and_engine_state(api: TestClient) -> None:
    api.post("/v1/chat/completions", json=HELLO)
    api.post("/v1/chat/completions", json={"messages": []})
    text = api.get("/metrics").text
    assert 'ocr_gateway_requests_total{route="/v1/chat/completions",status="200"} 1.0' in text
    assert 'ocr_gateway_requests_total{route="/v1/chat/completions",status="400"} 1.0' in text
    assert 'ocr_gateway_tokens_total{kind="completion"} 4.0' in text
    for name in (
        "ocr_gateway_request_seconds_bucket",
        "ocr_gateway_queue_depth",
        "ocr_gateway_engine_running",
        "ocr_gateway_prefix_cache_hit_rate",
        "ocr_gateway_time_to_first_token_seconds",
    ):
        assert name in text


def test_openapi_describes_our_routes(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {"/v1/chat/completions", "/v1/models", "/health"} <= set(document["paths"])
    assert "ChatCompletionRequest" in document["components"]["schemas"]


def test_health_ready_reports_loading_until_the_engine_is_up(prompts: HunyuanPromptBuilder) -> None:
    class SlowEngine(FakeEngine):
        async def start(self) -> None:
            await asyncio.sleep(3600)

    with TestClient(build_app(Settings(), SlowEngine(), prompts, on_engine_failure=lambda: None)) as client:
        response = client.get("/health")
        assert response.status_code == 503 and response.json()["status"] == "loading"
        assert client.get("/health/ready").status_code == 503
        refused = client.post("/v1/chat/completions", json=HELLO)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"


def test_a_body_that_never_finishes_arriving_gets_408(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.routes.chat as chat_route
    from gateway.errors import SlowRequestBody

    monkeypatch.setattr(chat_route, "BODY_READ_TIMEOUT", 0.3)
    pieces = [{"type": "http.request", "body": b'{"messages": ', "more_body": True}]

    async def receive() -> dict:
        if pieces:
            return pieces.pop()
        await asyncio.sleep(5)  # the rest never comes in time
        return {"type": "http.request", "body": b"[]}", "more_body": False}

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": [], "app": api.app}, receive)
    with pytest.raises(SlowRequestBody) as caught:
        asyncio.run(chat_route.read_json(request))
    assert caught.value.status_code == 408


class StallingEngine(FakeEngine):
    """Sends its first step, then stalls (a request that outlives the server's request timeout)."""

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        async with aclosing(super().generate(request)) as outputs:
            yield await anext(outputs)
        await asyncio.sleep(60)
        yield await anext(outputs)  # never reached


@pytest.fixture
def stalling(prompts: HunyuanPromptBuilder) -> Iterator[TestClient]:
    app = build_app(Settings(request_timeout=0.5), StallingEngine(), prompts, on_engine_failure=lambda: None)
    with TestClient(app) as client:
        yield client


def test_a_request_past_the_request_timeout_is_a_504(stalling: TestClient) -> None:
    response = stalling.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout"


def test_a_stream_past_the_request_timeout_ends_with_a_timeout_event(stalling: TestClient) -> None:
    with stalling.stream("POST", "/v1/chat/completions", json={**HELLO, "stream": True}) as response:
        assert response.status_code == 200
        data = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert json.loads(data[0])["choices"][0]["delta"]["role"] == "assistant"
    assert json.loads(data[-2])["error"]["type"] == "timeout" and data[-1] == "[DONE]"


def test_an_ocr_stream_past_the_request_timeout_ends_with_a_timeout_event(stalling: TestClient) -> None:
    png = encode(make_image(64, 48, seed=1))
    response = stalling.post("/ocr?stream=ndjson", content=png, headers={"Content-Type": "image/png"})
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events[0]["type"] == "start"
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "timeout"
