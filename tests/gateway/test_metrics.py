"""``GET /metrics`` (``gateway/metrics.py``): requests by route, tokens, engine state — fake engine, in-process."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import BatchSettings, Settings
from tests.fakes import FakeEngine
from tests.images import encode, make_image

HELLO = {"messages": [{"role": "user", "content": "hello"}]}


def requests_by_route(text: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for route, value in re.findall(r'^ocr_gateway_requests_total\{route="([^"]*)",status="\d+"\} (\S+)$', text, re.M):
        counts[route] = counts.get(route, 0) + float(value)
    return counts


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


def test_ocr_requests_are_counted_under_their_own_route(api: TestClient) -> None:
    png = encode(make_image(64, 48, seed=1))
    assert api.post("/ocr", content=png, headers={"Content-Type": "image/png"}).status_code == 200
    text = api.get("/metrics").text
    assert 'ocr_gateway_requests_total{route="/ocr",status="200"} 1.0' in text
    assert "other" not in requests_by_route(text)


def test_every_served_route_has_its_own_label_and_unknown_paths_share_one(
    prompts: HunyuanPromptBuilder, tmp_path: Path
) -> None:
    settings = Settings(served_model_name="fake-ocr", batch=BatchSettings(data_dir=str(tmp_path)))
    app = build_app(settings, FakeEngine(), prompts, on_engine_failure=lambda: None)
    expected: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for route in app.routes:
            if isinstance(route, WebSocketRoute):
                continue  # docling's task status stream: no HTTP request, so not in the request metrics
            assert isinstance(route, Route | Mount)
            concrete = re.sub(r"\{[^}]+\}", "x", route.path)
            methods = sorted((route.methods or {"GET"}) - {"HEAD"}) if isinstance(route, Route) else ["GET"]
            for method in methods:
                client.request(method, concrete + ("/app.js" if isinstance(route, Mount) else ""))
            expected.append(route.path)
        client.get("/no/such/route")
        counts = requests_by_route(client.get("/metrics").text)
    assert {"/v1/files", "/v1/batches/{batch_id}/cancel", "/ocr", "/v1/tasks/{task}", "/web"} <= set(expected)
    missing = [path for path in expected if path not in counts]
    assert not missing, f"routes counted as 'other' or not at all: {missing}"
    assert counts["other"] == 1
