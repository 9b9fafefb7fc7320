from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import Settings
from tests.fakes import FakeEngine


@pytest.fixture(params=["dir", "db"])
def blob_store(request: pytest.FixtureRequest) -> str:
    """``--blob-store``: the job-store tests run with file contents in a folder and in the database."""
    return str(request.param)


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def api(fake_engine: FakeEngine, prompts: HunyuanPromptBuilder) -> Iterator[TestClient]:
    """The real app in-process with a fake engine (no sockets, no vLLM)."""
    app = build_app(Settings(served_model_name="fake-ocr"), fake_engine, prompts, on_engine_failure=lambda: None)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
