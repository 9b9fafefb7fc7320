"""``/health`` and ``/health/ready`` (``gateway/routes/health.py``) while the engine loads."""

from __future__ import annotations

import asyncio

from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import Settings
from tests.fakes import FakeEngine


def test_health_ready_reports_loading_until_the_engine_is_up(prompts: HunyuanPromptBuilder) -> None:
    class SlowEngine(FakeEngine):
        async def start(self) -> None:
            await asyncio.sleep(3600)

    with TestClient(build_app(Settings(), SlowEngine(), prompts, on_engine_failure=lambda: None)) as client:
        response = client.get("/health")
        assert response.status_code == 503 and response.json()["status"] == "loading"
        assert client.get("/health/ready").status_code == 503
        for refused in (
            client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hello"}]}),
            client.post("/ocr", content=b"\x89PNG", headers={"Content-Type": "image/png"}),
        ):
            assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
