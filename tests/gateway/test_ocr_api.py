"""``POST /ocr`` through the HTTP API (fake engine): bodies, options, the response, streams, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from adapters.engine import EngineInfo
from adapters.errors import EngineFailed
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import MediaSettings, Settings
from prompts.catalog import TaskRequest, load_prompt_set
from tests.fakes import FakeEngine
from tests.images import encode, make_image, make_pdf

PNG = encode(make_image(64, 48, seed=1))
OFFICIAL = load_prompt_set("1.0")


def official(task: str, **arguments: object) -> str:
    return OFFICIAL.resolve(TaskRequest(task, **arguments)).prompt  # type: ignore[arg-type]


def error_of(response: object) -> dict:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_a_raw_image_body_gets_the_default_task(api: TestClient, fake_engine: FakeEngine) -> None:
    response = api.post("/ocr", content=PNG, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "document" and body["model"] == "fake-ocr" and body["prompt_set"] == "1.0"
    assert body["text"] == "".join(FakeEngine.word(fake_engine.requests[0], 0, step) for step in range(4))
    assert body["pages"] is None and body["data"] is None and body["boxes"] is None
    assert body["usage"]["completion_tokens"] == 4
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 4
    assert body["timings"]["total_ms"] >= body["timings"]["media_ms"] >= 0
    assert official("document", lang="en") in fake_engine.requests[0].prompt


def test_a_body_sent_like_curl_data_binary_is_recognised_by_its_bytes(api: TestClient) -> None:
    response = api.post("/ocr", content=PNG, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text


def test_query_options_pick_the_task_and_its_arguments(api: TestClient, fake_engine: FakeEngine) -> None:
    response = api.post(
        "/ocr?task=translate&target_lang=fr&lang=zh&max_tokens=2", content=PNG, headers={"Content-Type": "image/png"}
    )
    assert response.json()["task"] == "translate"
    assert official("translate", target_lang="fr", lang="zh") in fake_engine.requests[0].prompt
    assert fake_engine.requests[0].sampling.max_tokens == 2


def test_a_prompt_in_plain_words_goes_through_the_intent_matcher(api: TestClient, fake_engine: FakeEngine) -> None:
    response = api.post(
        "/ocr", params={"prompt": "Parse the table"}, content=PNG, headers={"Content-Type": "image/png"}
    )
    assert response.json()["task"] == "table"


def test_multipart_files_become_pages_in_upload_order(api: TestClient, fake_engine: FakeEngine) -> None:
    pdf = make_pdf([make_image(120, 160, seed=seed) for seed in (2, 3)])
    files = [
        ("file", ("a.png", PNG, "image/png")),
        ("file", ("doc.pdf", pdf, "application/pdf")),
        ("file", ("c.png", encode(make_image(50, 70, seed=4)), "image/png")),
    ]
    response = api.post("/ocr", files=files, data={"task": "text"})
    assert response.status_code == 200, response.text
    body = response.json()
    pages = [(page["index"], page["file"], page["page"]) for page in body["pages"]]
    assert pages == [(0, "a.png", None), (1, "doc.pdf", 1), (2, "doc.pdf", 2), (3, "c.png", None)]
    assert body["text"] == "\n\n".join(page["text"] for page in body["pages"])
    assert body["usage"]["completion_tokens"] == sum(page["usage"]["completion_tokens"] for page in body["pages"])
    assert all(official("text", lang="en") in request.prompt for request in fake_engine.requests)
    assert len(fake_engine.requests) == 4  # one engine request per page


def test_fields_come_back_parsed_as_data(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.reply = '{"invoice number": "A-17", "total": "12.50"}'
    response = api.post(
        "/ocr?task=fields&fields=invoice number&fields=total", content=PNG, headers={"Content-Type": "image/png"}
    )
    body = response.json()
    assert body["task"] == "fields"
    assert body["data"] == {"invoice number": "A-17", "total": "12.50"}
    schema = fake_engine.requests[0].sampling.json_schema
    assert schema is not None and schema["required"] == ["invoice number", "total"]
    assert official("fields", fields=("invoice number", "total"), lang="en") in fake_engine.requests[0].prompt


def test_fields_may_be_one_comma_separated_value(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.reply = "not json"
    response = api.post("/ocr", files={"file": ("a.png", PNG, "image/png")}, data={"task": "fields", "fields": "a, b"})
    assert response.json()["data"] is None  # asked for, but the answer did not parse
    assert official("fields", fields=("a", "b"), lang="en") in fake_engine.requests[0].prompt


def test_spotting_reports_boxes_in_the_uploaded_images_pixels(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.reply = "Total(100,250),(500,750)"
    image = encode(make_image(400, 200, seed=5))
    body = api.post("/ocr?task=spotting", content=image, headers={"Content-Type": "image/png"}).json()
    assert body["boxes"] == [{"text": "Total", "box": [40, 50, 200, 150]}]


def _events(response: object, sse: bool) -> list[dict]:
    lines = response.text.splitlines()  # type: ignore[attr-defined]
    if sse:
        lines = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    return [json.loads(line) for line in lines if line]


@pytest.mark.parametrize("mode,media_type", [("ndjson", "application/x-ndjson"), ("sse", "text/event-stream")])
def test_a_stream_reports_each_page_then_the_whole_answer(api: TestClient, mode: str, media_type: str) -> None:
    pdf = make_pdf([make_image(120, 160, seed=seed) for seed in (6, 7)])
    response = api.post(f"/ocr?stream={mode}", content=pdf, headers={"Content-Type": "application/pdf"})
    assert response.status_code == 200 and response.headers["content-type"].startswith(media_type)
    events = _events(response, sse=mode == "sse")
    assert events[0] == {"type": "start", "model": "fake-ocr", "pages": 2}
    assert events[-1]["type"] == "done"
    pages = {event["index"]: event for event in events if event["type"] == "page"}
    for index, page in pages.items():
        deltas = [event["text"] for event in events if event["type"] == "delta" and event["index"] == index]
        assert page["text"] == "".join(deltas) and page["page"] == index + 1
    done = events[-1]
    assert [page["text"] for page in done["pages"]] == [pages[0]["text"], pages[1]["text"]]
    assert done["usage"]["completion_tokens"] == 8 and done["timings"]["first_token_ms"] is not None


def test_stream_true_means_ndjson(api: TestClient) -> None:
    response = api.post("/ocr?stream=true", content=PNG, headers={"Content-Type": "image/png"})
    assert [event["type"] for event in _events(response, sse=False)][-1] == "done"


@pytest.mark.parametrize(
    "failure,message",
    [(EngineFailed("engine broke"), "engine broke"), (RuntimeError("internals"), "The stream failed.")],
)
def test_a_failure_mid_stream_ends_it_with_an_error_event(
    api: TestClient, fake_engine: FakeEngine, failure: Exception, message: str
) -> None:
    fake_engine.fail_after_words = (2, failure)
    response = api.post("/ocr?stream=ndjson", content=PNG, headers={"Content-Type": "image/png"})
    events = _events(response, sse=False)
    assert [event["type"] for event in events] == ["start", "delta", "delta", "error"]
    assert events[-1]["error"] == {"message": message, "type": "server_error", "param": None, "code": None}


@pytest.mark.parametrize(
    "params,content,content_type,status,param",
    [
        ({}, b"hello", "text/plain", 415, None),
        ({}, b"", "image/png", 400, "file"),
        ({}, b"not an image at all", "image/png", 400, "file[0]"),
        ({}, b"%PDF-1.7\n%%EOF", "application/pdf", 400, "file[0]"),
        ({}, PNG, "application/pdf", 400, "file[0]"),
        ({"task": "poetry"}, PNG, "image/png", 400, "task"),
        ({"lang": "fr"}, PNG, "image/png", 400, "lang"),
        ({"stream": "websocket"}, PNG, "image/png", 400, "stream"),
        ({"max_tokens": "0"}, PNG, "image/png", 400, "max_tokens"),
        ({"task": "fields"}, PNG, "image/png", 400, "task"),
    ],
)
def test_bad_requests_get_the_chat_apis_error_shape(
    api: TestClient, params: dict, content: bytes, content_type: str, status: int, param: str | None
) -> None:
    response = api.post("/ocr", params=params, content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert error_of(response)["param"] == param


@pytest.fixture
def small_api(fake_engine: FakeEngine, prompts: HunyuanPromptBuilder) -> Iterator[TestClient]:
    settings = Settings(
        served_model_name="fake-ocr", api_keys=("k1",), media=MediaSettings(max_pdf_pages=2, max_body_mb=0.01)
    )
    with TestClient(build_app(settings, fake_engine, prompts, on_engine_failure=lambda: None)) as client:
        yield client


def test_limits_and_keys_are_the_chat_apis(small_api: TestClient) -> None:
    key = {"Authorization": "Bearer k1"}
    assert small_api.post("/ocr", content=PNG, headers={"Content-Type": "image/png"}).status_code == 401
    assert small_api.post("/ocr", content=PNG, headers={"Content-Type": "image/png", **key}).status_code == 200
    too_large = small_api.post("/ocr", content=b"x" * 20_000, headers={"Content-Type": "image/png", **key})
    assert too_large.status_code == 413
    three = [("file", (f"{n}.png", PNG, "image/png")) for n in range(3)]
    assert small_api.post("/ocr", files=three, headers=key).status_code == 400
    pdf = make_pdf([make_image(60, 80, seed=seed) for seed in (8, 9, 10)])
    too_long = small_api.post("/ocr", content=pdf, headers={"Content-Type": "application/pdf", **key})
    assert too_long.status_code == 400 and "at most 2" in error_of(too_long)["message"]


def test_empty_form_fields_mean_not_set(api: TestClient, fake_engine: FakeEngine) -> None:
    form = {"task": "", "lang": "", "max_tokens": "", "target_lang": "", "fields": ""}
    response = api.post("/ocr", data=form, files=[("file", ("a.png", PNG, "image/png"))])
    assert response.status_code == 200, response.text
    assert response.json()["task"] == "document"


def test_deeply_nested_fields_are_a_400_not_a_crash(api: TestClient) -> None:
    response = api.post(
        "/ocr", params={"task": "fields", "fields": "[" * 3000}, content=PNG, headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("stream", [None, "ndjson"])
def test_pages_beyond_the_servers_capacity_are_refused_before_any_work(
    fake_engine: FakeEngine, prompts: HunyuanPromptBuilder, stream: str | None
) -> None:
    settings = Settings(served_model_name="fake-ocr", max_running_requests=1, max_queued_requests=1)
    app = build_app(settings, fake_engine, prompts, on_engine_failure=lambda: None)
    files = [("file", (f"{n}.png", PNG, "image/png")) for n in range(3)]
    params = {"stream": stream} if stream else {}
    with TestClient(app) as client:
        too_many = client.post("/ocr", files=files, params=params)
        assert too_many.status_code == 400 and "at most 2" in error_of(too_many)["message"]
        app.state.admission.running = 1  # as if a request ran: room for one more page, not two
        busy = client.post("/ocr", files=files[:2], params=params)
        assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
        app.state.admission.running = 0
        assert client.post("/ocr", files=files[:2], params=params).status_code == 200
    assert len(fake_engine.requests) == 2  # only the last request's two pages reached the engine


def test_fields_without_constrained_decoding_still_parse_what_they_can(
    prompts: HunyuanPromptBuilder,
) -> None:
    class UnconstrainedEngine(FakeEngine):
        @property
        def info(self) -> EngineInfo:
            return replace(super().info, constrained_decoding=False)

    engine = UnconstrainedEngine(reply='{"total": "12"}')
    app = build_app(Settings(served_model_name="fake-ocr"), engine, prompts, on_engine_failure=lambda: None)
    with TestClient(app) as client:
        response = client.post("/ocr?task=fields&fields=total", content=PNG, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert engine.requests[0].sampling.json_schema is None
    assert response.json()["data"] == {"total": "12"}
