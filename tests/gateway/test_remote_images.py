"""Image URLs through the whole HTTP API (fake engine): refused by default, fetched when the policy allows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import MediaSettings, Settings
from tests.fakes import FakeEngine
from tests.images import encode, make_image
from tests.servers import MediaServer, media_server


@pytest.fixture
def server() -> Iterator[MediaServer]:
    with media_server() as running:
        running.routes["/scan.png"] = (200, {"Content-Type": "image/png"}, encode(make_image(64, 64, seed=1)))
        yield running


def ask_for(server: MediaServer, media: MediaSettings, prompts: HunyuanPromptBuilder) -> tuple[int, dict, FakeEngine]:
    engine = FakeEngine()
    app = build_app(
        Settings(served_model_name="fake-ocr", media=media), engine, prompts, on_engine_failure=lambda: None
    )
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"{server.base_url}/scan.png"}}]}
        ]
    }
    with TestClient(app) as client:
        response = client.post("/v1/chat/completions", json=body)
    return response.status_code, response.json(), engine


def test_image_urls_on_the_local_network_are_refused_by_default(
    server: MediaServer, prompts: HunyuanPromptBuilder
) -> None:
    status, body, engine = ask_for(server, MediaSettings(), prompts)
    assert (status, body["error"]["message"]) == (400, "image URL not allowed")
    assert server.hits == [] and engine.requests == []


def test_image_urls_are_fetched_when_private_media_is_allowed(
    server: MediaServer, prompts: HunyuanPromptBuilder
) -> None:
    status, _, engine = ask_for(server, MediaSettings(allow_private_media=True), prompts)
    assert status == 200 and server.hits == ["/scan.png"]
    [image] = engine.requests[0].images
    assert image.size == (64, 64) and image.mode == "RGB"


def test_no_remote_media_refuses_every_url(server: MediaServer, prompts: HunyuanPromptBuilder) -> None:
    status, body, _ = ask_for(server, MediaSettings(remote_media=False, allow_private_media=True), prompts)
    assert status == 400 and "data: URL" in body["error"]["message"]
    assert server.hits == []
