"""API keys and CORS (``gateway/middleware/auth.py``, Starlette's CORS middleware), fake engine, in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import Settings
from tests.fakes import FakeEngine

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


def test_a_websocket_key_in_the_query_never_reaches_the_log() -> None:
    """uvicorn logs a websocket's path with its query; docling's client puts its key there (``?api_key=``)."""
    import logging

    from gateway.middleware.auth import QueryKeyRedaction

    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/v1/status/ws/abc?api_key=sk-secret&x=1"),
        None,
    )
    assert QueryKeyRedaction().filter(record)
    assert "sk-secret" not in record.getMessage() and "api_key=[redacted]&x=1" in record.getMessage()
