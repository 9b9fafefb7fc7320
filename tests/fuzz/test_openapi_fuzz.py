"""Schema-based fuzzing (schemathesis) of every operation in ``/openapi.json``: never a 5xx, never a crash.

Two bounded runs over real sockets: the HTTP layer with a fake engine (many examples, fast), and the real
gateway with the vLLM engine (fewer: each valid body really runs the model).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import BatchSettings, Settings
from gateway.middleware.auth import DOCLING_PREFIXES, PADDLEX_PREFIX
from tests.conftest import Gateway
from tests.fakes import FakeEngine
from tests.servers import serve_app

# Per operation (about 35). The fake run's requests take ~0.1 s each on 2 cores (docling's conversions ~0.3 s): 100
# made it ~3,200 requests in 2-5 min; 30 still sends each operation its edge cases and a spread of valid bodies.
FAKE_EXAMPLES = 30
REAL_EXAMPLES = 4  # each valid body runs the model: ~4 min at 10 on 2 cores, ~3 at 6, for little more found
# A valid body without max_tokens runs to the context's end (~1 min each on 2 cores; six such pushed the run
# past its 10-minute limit): the fuzz looks for errors, not long answers, so valid lengths are cut to this.
REAL_MAX_TOKENS = 16
PADDLEOCR_JOBS = "/api/v2/ocr/jobs"  # gateway/routes/paddleocr_jobs.py


@pytest.fixture
def fake_gateway(prompts: HunyuanPromptBuilder, tmp_path: Path) -> Iterator[str]:
    """The real app (fake engine, job store in ``tmp_path``) served by uvicorn on 127.0.0.1 in a thread."""
    settings = Settings(served_model_name="fake-ocr", batch=BatchSettings(data_dir=str(tmp_path)))
    app = build_app(settings, FakeEngine(), prompts, on_engine_failure=lambda: None)
    with serve_app(app) as root_url:
        yield root_url


def max_tokens_places(document: dict[str, Any]) -> dict[tuple[str, str], tuple[str, ...]]:
    """Where each operation takes the answer's length: the path to its field, ``("query", "max_tokens")``,
    ``("body", "max_tokens")``, ``("body", "options", "max_tokens")`` (docling-serve's convert),
    ``("body", "convert_options", "max_tokens")`` or ``("body", "convert_max_tokens")`` (its chunk, JSON or form)."""
    schemas = document["components"]["schemas"]
    places = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            key = (method.upper(), path)
            if any(parameter["name"] == "max_tokens" for parameter in operation.get("parameters", [])):
                places[key] = ("query", "max_tokens")
            for content in operation.get("requestBody", {}).get("content", {}).values():
                for place in _body_places(_properties(content.get("schema", {}), schemas), schemas):
                    places[key] = place
    return places


def _properties(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    return dict(schema.get("properties") or {})


def _body_places(fields: dict[str, Any], schemas: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    yield from (("body", name) for name in ("max_tokens", "convert_max_tokens") if name in fields)
    for name in ("options", "convert_options"):
        if "max_tokens" in _properties(fields.get(name, {}), schemas):
            yield ("body", name, "max_tokens")


def bound_answer_length(case: schemathesis.Case, place: tuple[str, ...], limit: int) -> None:
    """Set an absent or valid answer length above ``limit`` to ``limit``, and a valid ``max_completion_tokens``
    beside it above it (which takes precedence) too; invalid ones stay, to be refused."""
    if place[0] == "query" and case.query is None:
        case.query = {}
    fields = case.query if place[0] == "query" else case.body
    for key in place[1:-1]:
        fields = fields.setdefault(key, {}) if isinstance(fields, dict) else None
    if not isinstance(fields, dict):
        return
    for name in (place[-1], "max_completion_tokens"):
        value = fields.get(name)
        if (value is None and name == place[-1]) or (type(value) is int and limit < value < 2**31):
            fields[name] = limit


def fuzz(root_url: str, examples: int, max_tokens: int | None = None) -> int:
    """Every operation of the served schema with ``examples`` generated requests each; returns the count sent.

    With ``max_tokens``, every answer the model may write is bounded to that length.
    """
    schema = schemathesis.openapi.from_url(f"{root_url}/openapi.json")
    places = max_tokens_places(httpx.get(f"{root_url}/openapi.json", timeout=10).json())
    assert {path for _, path in places} >= {
        "/v1/chat/completions",
        "/ocr",
        "/v1/convert/source",
        "/v1/chunk/{chunker}/file",
    }
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
            place = places.get((case.method.upper(), case.path))
            if max_tokens is not None and place is not None:
                bound_answer_length(case, place, max_tokens)
            response = case.call(base_url=root_url, timeout=120)
            sent += 1
            assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:300]}"
            content_type = (response.headers.get("content-type") or [""])[0]
            if response.status_code >= 400 and content_type.startswith("application/json"):
                if case.path.startswith(DOCLING_PREFIXES):  # docling-serve's own error shape
                    assert set(response.json()) == {"detail"}, response.text
                elif case.path.startswith(PADDLEX_PREFIX):  # PaddleX's envelope, errorCode the status
                    assert response.json()["errorCode"] == response.status_code, response.text
                elif case.path.startswith(PADDLEOCR_JOBS):  # PaddleOCR's jobs API: {code, msg}, code the status
                    assert response.json()["code"] == response.status_code, response.text
                else:
                    assert set(response.json()["error"]) == {"message", "type", "param", "code"}

        never_a_server_error()
    print(f"fuzzed {root_url}: {sent} requests")
    return sent


def test_http_layer_never_answers_5xx(fake_gateway: str) -> None:
    assert fuzz(fake_gateway, FAKE_EXAMPLES) >= 150


def test_real_gateway_never_answers_5xx_and_keeps_serving(gateway: Gateway) -> None:
    assert fuzz(gateway.root_url, REAL_EXAMPLES, REAL_MAX_TOKENS) >= 20
    assert httpx.get(f"{gateway.root_url}/health", timeout=10).status_code == 200
