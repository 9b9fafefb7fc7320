"""The request edge (``gateway/edge.py``) both APIs share: bodies, parsing, deadlines, task headers — fake engine,
in-process."""

from __future__ import annotations

import ast
import asyncio
import json
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from pathlib import Path

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.testclient import TestClient

from adapters.engine import EngineOutput, EngineRequest
from adapters.errors import EngineBusy, EngineFault, RequestRejected
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway import edge
from gateway.app import build_app
from gateway.config import Settings
from gateway.errors import EngineUnavailable, InvalidRequest, SlowRequestBody
from tests.fakes import FakeEngine
from tests.images import data_url, encode, make_image

HELLO = {"messages": [{"role": "user", "content": "hello"}]}
PNG = encode(make_image(64, 48, seed=1))
ROUTES = Path(__file__).resolve().parents[2] / "gateway" / "routes"


def test_a_body_that_never_finishes_arriving_gets_408(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge, "BODY_READ_TIMEOUT", 0.3)
    pieces = [{"type": "http.request", "body": b'{"messages": ', "more_body": True}]

    async def receive() -> dict:
        if pieces:
            return pieces.pop()
        await asyncio.sleep(5)  # the rest never comes in time
        return {"type": "http.request", "body": b"[]}", "more_body": False}

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": [], "app": api.app}, receive)
    with pytest.raises(SlowRequestBody) as caught:
        asyncio.run(edge.read_json(request))
    assert caught.value.status_code == 408


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ('{"messages": [{"role": "user", "content": "\\ud800"}]}', "messages[0].content"),
        ('{"messages": [{"role": "user", "content": [{"type": "text", "text": "a\\udfffb"}]}]}',
         "messages[0].content[0].text"),
        ('{"messages": [{"role": "user", "content": "hi"}], "stop": ["\\ud83d"]}', "stop[0]"),
        ('{"messages": [{"role": "user", "content": "hi"}], "\\udc00": 1}', None),
    ],
)  # fmt: skip
def test_text_with_a_lone_surrogate_is_a_400_naming_where_it_is(api: TestClient, body: str, param: str | None) -> None:
    response = api.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and "surrogate" in error["message"]
    assert api.post("/v1/chat/completions", json=HELLO).status_code == 200  # nothing else broke


def test_a_lone_surrogate_sent_as_utf8_bytes_is_a_400_too(api: TestClient) -> None:
    body = b'{"messages": [{"role": "user", "content": "a\xed\xa0\x80b"}]}'  # Python's JSON reader takes these bytes
    response = api.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "messages[0].content"


def test_escaped_surrogate_pairs_are_ordinary_text(api: TestClient, fake_engine: FakeEngine) -> None:
    body = '{"messages": [{"role": "user", "content": "smile \\ud83d\\ude00"}]}'  # how json.dumps sends an emoji
    response = api.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert "smile \U0001f600" in fake_engine.requests[0].prompt


def test_chat_and_ocr_answers_name_their_task_in_headers(api: TestClient) -> None:
    image = {"type": "image_url", "image_url": {"url": data_url(PNG)}}
    asked = {"messages": [{"role": "user", "content": [image, {"type": "text", "text": "Extract all text."}]}]}
    chat = api.post("/v1/chat/completions", json=asked)
    assert (chat.headers["x-ocr-task"], chat.headers["x-ocr-prompt-set"]) == (chat.json()["ocr"]["task"], "1.0")
    words_only = api.post("/v1/chat/completions", json=HELLO)
    assert words_only.headers["x-ocr-task"] == "none"
    ocr = api.post("/ocr?task=table", content=PNG, headers={"Content-Type": "image/png"})
    assert (ocr.headers["x-ocr-task"], ocr.headers["x-ocr-prompt-set"]) == ("table", "1.0")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/ocr?task=formula&stream=ndjson", "/ocr?stream=sse"])
def test_streams_name_their_task_in_headers_before_the_first_chunk(api: TestClient, path: str) -> None:
    if path.startswith("/ocr"):
        request = {"content": PNG, "headers": {"Content-Type": "image/png"}}
    else:
        image = {"type": "image_url", "image_url": {"url": data_url(PNG)}}
        request = {"json": {"messages": [{"role": "user", "content": [image]}], "stream": True}}
    with api.stream("POST", path, **request) as response:  # type: ignore[arg-type]
        task = response.headers["x-ocr-task"]
        body = response.read().decode()
    assert task == ("formula" if "formula" in path else "document")
    assert f'"task":"{task}"' in body.replace(" ", "")


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


@pytest.mark.parametrize("mode", ["ndjson", "sse"])
def test_an_ocr_stream_past_the_request_timeout_ends_with_a_timeout_event(stalling: TestClient, mode: str) -> None:
    response = stalling.post(f"/ocr?stream={mode}", content=PNG, headers={"Content-Type": "image/png"})
    lines = [line.removeprefix("data: ") for line in response.text.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert events[0]["type"] == "start"
    assert events[-1]["type"] == "error" and events[-1]["error"]["type"] == "timeout"


def test_no_route_module_imports_another() -> None:
    for module in ROUTES.glob("*.py"):
        if module.name == "__init__.py":
            continue  # the route table lists them all
        tree = ast.parse(module.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not {name for name in imported if name.startswith("gateway.routes")}, module.name


@pytest.mark.parametrize(
    ("raised", "unprocessable", "status"),
    [
        (InvalidRequest("bad"), False, 400),
        (InvalidRequest("bad"), True, 422),  # FastAPI's status, for the APIs that mimic a FastAPI server
        (HTTPException(400, "Too many files"), True, 422),
        (HTTPException(413, "too big"), True, 413),
        (EngineUnavailable("later", headers={"Retry-After": "5"}), True, 503),
        (EngineBusy("full"), False, 429),  # the engine's errors are translated first
        (RequestRejected("bad"), True, 422),
    ],
)
def test_shaped_errors_render_every_kind_of_error_in_the_apis_shape(
    raised: Exception, unprocessable: bool, status: int
) -> None:
    def render(code: int, message: str, headers: object) -> Response:
        return JSONResponse({"code": code, "message": message}, status_code=code, headers=headers)  # type: ignore[arg-type]

    @edge.shaped_errors(render, unprocessable=unprocessable)
    async def handler(request: Request) -> Response:
        raise raised

    response = asyncio.run(handler(Request({"type": "http", "method": "GET", "path": "/", "headers": []})))
    assert response.status_code == status and json.loads(bytes(response.body))["code"] == status
    assert isinstance(raised, EngineFault) or json.loads(bytes(response.body))["message"] in str(raised)
