"""Schema-based fuzzing (schemathesis) of every operation in ``/openapi.json``: never a 5xx, never a crash.

Two bounded runs over real sockets: the HTTP layer with a fake engine (many examples, fast), and the real
gateway with the vLLM engine (fewer: each valid body really runs the model).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import BatchSettings, Settings
from gateway.middleware.auth import DOCLING_PREFIXES
from tests.conftest import Gateway
from tests.fakes import FakeEngine
from tests.servers import serve_app

FAKE_EXAMPLES = 100
REAL_EXAMPLES = 6  # each valid body runs the model: ~4 min at 10 on 2 cores, for little more found


@pytest.fixture
def fake_gateway(prompts: HunyuanPromptBuilder, tmp_path: Path) -> Iterator[str]:
    """The real app (fake engine, job store in ``tmp_path``) served by uvicorn on 127.0.0.1 in a thread."""
    settings = Settings(served_model_name="fake-ocr", batch=BatchSettings(data_dir=str(tmp_path)))
    app = build_app(settings, FakeEngine(), prompts, on_engine_failure=lambda: None)
    with serve_app(app) as root_url:
        yield root_url


def fuzz(root_url: str, examples: int) -> int:
    """Every operation of the served schema with ``examples`` generated requests each; returns the count sent."""
    schema = schemathesis.openapi.from_url(f"{root_url}/openapi.json")
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def never_a_server_error(case: schemathesis.Case) -> None:
            nonlocal sent
            response = case.call(base_url=root_url, timeout=120)
            sent += 1
            assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:300]}"
            content_type = (response.headers.get("content-type") or [""])[0]
            if response.status_code >= 400 and content_type.startswith("application/json"):
                if case.path.startswith(DOCLING_PREFIXES):  # docling-serve's own error shape
                    assert set(response.json()) == {"detail"}, response.text
                else:
                    assert set(response.json()["error"]) == {"message", "type", "param", "code"}

        never_a_server_error()
    print(f"fuzzed {root_url}: {sent} requests")
    return sent


def test_http_layer_never_answers_5xx(fake_gateway: str) -> None:
    assert fuzz(fake_gateway, FAKE_EXAMPLES) >= 150


def test_real_gateway_never_answers_5xx_and_keeps_serving(gateway: Gateway) -> None:
    assert fuzz(gateway.root_url, REAL_EXAMPLES) >= 20
    assert httpx.get(f"{gateway.root_url}/health", timeout=10).status_code == 200
