"""``GET /openapi.json`` (``gateway/openapi.py``): built from the route table the app routes with."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.routing import Route
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import BatchSettings, Settings
from tests.fakes import FakeEngine

UNDESCRIBED = {("GET", "/"), ("GET", "/openapi.json")}  # the web page, and the document itself


def refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [ref for key, item in value.items() for ref in ([item] if key == "$ref" else refs(item))]
    return [ref for item in value for ref in refs(item)] if isinstance(value, list) else []


def test_openapi_describes_our_routes(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert {"/v1/chat/completions", "/v1/models", "/health", "/ocr"} <= set(document["paths"])
    assert "ChatCompletionRequest" in document["components"]["schemas"]


def test_every_served_operation_is_described_and_every_reference_resolves(
    prompts: HunyuanPromptBuilder, tmp_path: Path
) -> None:
    settings = Settings(served_model_name="fake-ocr", batch=BatchSettings(data_dir=str(tmp_path)))
    app = build_app(settings, FakeEngine(), prompts, on_engine_failure=lambda: None)
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    served = {
        (method, re.sub(r":path}", "}", route.path))
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    described = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert described == served - UNDESCRIBED
    schemas = document["components"]["schemas"]
    assert all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs(document))
    ocr = document["paths"]["/ocr"]["post"]
    assert ocr["security"] == [{"bearer": []}] and "security" not in document["paths"]["/health"]["get"]


def test_the_batch_routes_are_described_only_when_served(api: TestClient) -> None:
    assert not any(path.startswith(("/v1/files", "/v1/batches")) for path in api.get("/openapi.json").json()["paths"])
