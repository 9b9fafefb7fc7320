"""``GET /v1/models``: the served model, with our extensions (the engine, and what its document parsing gives)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import Settings
from tests.fakes import FakeEngine


@pytest.mark.parametrize("parses_layout", [True, False])
def test_the_model_card_says_whether_document_parsing_gives_structure(
    prompts: HunyuanPromptBuilder, parses_layout: bool
) -> None:
    """The folder CLI reads it to ask each page for what ``/ocr?format=…`` would (``plan_pages``)."""
    engine = FakeEngine(parses_layout=parses_layout)
    app = build_app(Settings(served_model_name="fake-ocr"), engine, prompts, on_engine_failure=lambda: None)
    with TestClient(app) as client:
        models = client.get("/v1/models").json()
        model = client.get("/v1/models/fake-ocr").json()
    assert models["data"][0]["id"] == "fake-ocr"
    assert models["data"][0]["parses_layout"] is parses_layout and model["parses_layout"] is parses_layout
