"""The web page's routes (fake engine): the page and its files, and the task catalog it shows prompts from."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import Settings
from gateway.routes.web import WEB_DIR
from tests.fakes import FakeEngine
from tests.images import image_part, make_image

ASSETS = {
    "/web/app.js": "javascript",
    "/web/markdown.js": "javascript",
    "/web/documents.js": "javascript",
    "/web/style.css": "text/css",
}


@pytest.fixture
def secured(prompts: HunyuanPromptBuilder) -> Iterator[TestClient]:
    app = build_app(Settings(served_model_name="fake-ocr", api_keys=("k1",)), FakeEngine(), prompts, lambda: None)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_the_page_is_served_at_the_root_with_its_assets(api: TestClient) -> None:
    page = api.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for path, kind in ASSETS.items():
        assert f'"{path}"' in page.text
        asset = api.get(path)
        assert asset.status_code == 200 and kind in asset.headers["content-type"]


def test_the_page_loads_nothing_from_other_hosts() -> None:
    for file in WEB_DIR.iterdir():
        text = file.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), file.name
        assert "@import" not in text and "url(" not in text, file.name


def test_the_page_needs_no_key_but_the_api_does(secured: TestClient) -> None:
    assert secured.get("/").status_code == 200
    assert secured.get("/web/app.js").status_code == 200
    assert secured.get("/v1/tasks").status_code == 401
    assert secured.get("/v1/tasks", headers={"Authorization": "Bearer k1"}).status_code == 200


def test_unknown_asset_is_a_404_in_openai_shape(api: TestClient) -> None:
    response = api.get("/web/nothing.js")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_task_catalog_lists_the_prompt_set_tasks_and_languages(api: TestClient) -> None:
    catalog = api.get("/v1/tasks").json()
    assert catalog["prompt_set"] == "1.0" and catalog["default_task"] == "document"
    tasks = {task["id"]: task for task in catalog["data"]}
    assert {"text", "document", "table", "formula", "chart", "fields", "translate"} <= set(tasks)
    assert tasks["text"]["prompts"] == {"en": "Extract the text in the image.", "zh": "提取图中的文字。"}
    assert catalog["target_languages"]["fr"] == "French"


@pytest.mark.parametrize(
    "task,query,body",
    [
        ("translate", {"target_lang": "fr"}, {"target_lang": "fr"}),
        ("translate", {"target_lang": "français", "lang": "zh"}, {"target_lang": "French"}),
        ("fields", {"fields": ["invoice number", "total"], "lang": "zh"}, {"fields": ["invoice number", "total"]}),
        ("fields", {"fields": "invoice number, total"}, {"fields": ["invoice number", "total"]}),  # as /ocr reads it
        ("table", {"lang": "zh"}, {"lang": "zh"}),
    ],
)
def test_resolved_prompt_is_the_one_the_chat_endpoint_sends(
    api: TestClient, fake_engine: FakeEngine, task: str, query: dict, body: dict
) -> None:
    shown = api.get(f"/v1/tasks/{task}", params=query).json()
    content = [image_part(make_image(64, 64, seed=3))]
    answer = api.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": content}], "task": task, "lang": query.get("lang"), **body},
    )
    assert answer.status_code == 200, answer.text
    assert shown["task"] == task and shown["prompt"] in fake_engine.requests[-1].prompt


def test_a_task_prompt_names_the_target_language_however_it_was_written(api: TestClient) -> None:
    for target_lang in ("fr", "français", "French", "fr-CA"):
        shown = api.get("/v1/tasks/translate", params={"target_lang": target_lang, "lang": "zh"}).json()
        assert "再将文字内容翻译为法文。" in shown["prompt"]


@pytest.mark.parametrize(
    "path,param",
    [
        ("/v1/tasks/poetry", "task"),
        ("/v1/tasks/fields", "task"),  # no field names
        ("/v1/tasks/translate?target_lang=xx", "target_lang"),
        ("/v1/tasks/text?lang=de", "lang"),
    ],
)
def test_bad_task_arguments_are_a_400_naming_the_param(api: TestClient, path: str, param: str) -> None:
    response = api.get(path)
    assert response.status_code == 400 and response.json()["error"]["param"] == param
