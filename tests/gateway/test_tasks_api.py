"""Task selection through the HTTP API (fake engine): what prompt the engine receives."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from prompts.catalog import TaskRequest, load_prompt_set
from tests.fakes import FakeEngine
from tests.images import image_part, make_image
from tests.tiny_checkpoint import IMAGE_END, USER

OFFICIAL = load_prompt_set("1.0")


def official(task: str, **arguments: object) -> str:
    return OFFICIAL.resolve(TaskRequest(task, **arguments)).prompt  # type: ignore[arg-type]


def ask(api: TestClient, text: str | None, **extra: object) -> dict:
    content = [image_part(make_image(64, 64, seed=1))] + ([{"type": "text", "text": text}] if text else [])
    response = api.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": content}], **extra})
    assert response.status_code == 200, response.text
    return response.json()


def sent_prompt(engine: FakeEngine) -> str:
    return engine.requests[-1].prompt


@pytest.mark.parametrize(
    "text,task,arguments",
    [
        ("translate this menu to English", "translate", {"target_lang": "en", "lang": "en"}),
        ("把表格转成markdown", "table", {"lang": "zh", "convert_to": "markdown"}),
        (
            "give me the invoice number, date and total as JSON",
            "fields",
            {"fields": ("invoice number", "date", "total"), "lang": "en"},
        ),
    ],
)
def test_natural_language_becomes_the_official_prompt(
    api: TestClient, fake_engine: FakeEngine, text: str, task: str, arguments: dict
) -> None:
    body = ask(api, text)
    assert sent_prompt(fake_engine).endswith(IMAGE_END + official(task, **arguments) + USER)
    assert body["ocr"]["task"] == task and body["ocr"]["prompt_set"] == "1.0"


def test_an_image_without_words_gets_the_default_task(api: TestClient, fake_engine: FakeEngine) -> None:
    assert ask(api, None)["ocr"]["task"] == "document"
    assert official("document", lang="en") in sent_prompt(fake_engine)


@pytest.mark.parametrize("task", sorted(name for name, spec in OFFICIAL.tasks.items() if "{" not in spec["en"]))
def test_an_official_prompt_pasted_verbatim_keeps_its_task(api: TestClient, fake_engine: FakeEngine, task: str) -> None:
    # The document prompt mentions tables and formulas; the words alone would pick the table task.
    assert ask(api, official(task, lang="en"))["ocr"]["task"] == task
    assert sent_prompt(fake_engine).endswith(IMAGE_END + official(task, lang="en") + USER)


def test_explicit_task_wins_over_the_words(api: TestClient, fake_engine: FakeEngine) -> None:
    ask(api, "translate this", task="fields", fields=["name", "total"], lang="zh")
    assert official("fields", fields=("name", "total"), lang="zh") in sent_prompt(fake_engine)


def test_json_schema_properties_become_the_fields_to_extract(api: TestClient, fake_engine: FakeEngine) -> None:
    schema = {"type": "object", "properties": {"invoice_number": {"type": "string"}, "total": {"type": "string"}}}
    ask(api, "read this", response_format={"type": "json_schema", "json_schema": {"name": "invoice", "schema": schema}})
    assert official("fields", fields=("invoice_number", "total"), lang="en") in sent_prompt(fake_engine)
    assert fake_engine.requests[-1].sampling.json_schema == schema


def test_unmatched_words_pass_through_unchanged(api: TestClient, fake_engine: FakeEngine) -> None:
    body = ask(api, "find all phone numbers in this image")
    assert "find all phone numbers in this image" + USER in sent_prompt(fake_engine)
    assert body["ocr"]["task"] is None


def test_task_none_sends_the_words_as_they_are(api: TestClient, fake_engine: FakeEngine) -> None:
    ask(api, "Extract all text in this image.", task="none")
    assert "Extract all text in this image." + USER in sent_prompt(fake_engine)


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"task": "poetry"}, "task"),
        ({"task": "fields"}, "task"),
        ({"task": "translate", "target_lang": "xx"}, "target_lang"),
        ({"task": "translate", "target_lang": "Elvish"}, "target_lang"),
        ({"task": "translate", "target_lang": "Klingonese-42"}, "target_lang"),  # starts with a name: not one
    ],
)
def test_unknown_task_or_language_is_400_naming_the_param(api: TestClient, extra: dict, param: str) -> None:
    content = [image_part(make_image(32, 32, seed=2))]
    response = api.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": content}], **extra})
    assert response.status_code == 400 and response.json()["error"]["param"] == param


@pytest.mark.parametrize("target_lang", ["English", "en-US", "english", "英文", "Englisch"])
def test_target_lang_may_be_a_language_name_or_tag(api: TestClient, fake_engine: FakeEngine, target_lang: str) -> None:
    # Regression: "English" was a 400 asking for one of en, zh, …
    ask(api, None, task="translate", target_lang=target_lang)
    assert official("translate", target_lang="en", lang="en") in sent_prompt(fake_engine)


def test_official_decoding_settings_fill_unset_fields(api: TestClient, fake_engine: FakeEngine) -> None:
    ask(api, "Extract all text")
    sampling = fake_engine.requests[-1].sampling
    assert (sampling.temperature, sampling.top_k, sampling.repetition_penalty) == (0.0, 1, 1.0)
    ask(api, "Extract all text", temperature=0.7)
    assert fake_engine.requests[-1].sampling.temperature == 0.7


TABLE_HTML = "<table><tr><td>Item</td><td>Cost</td></tr><tr><td>Tea</td><td>3</td></tr></table>"
TABLE_MARKDOWN = "| Item | Cost |\n|---|---|\n| Tea | 3 |"


def test_a_table_asked_for_in_markdown_comes_back_in_markdown(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.reply = TABLE_HTML
    assert ask(api, "Turn this table into Markdown")["choices"][0]["message"]["content"] == TABLE_MARKDOWN
    content = [image_part(make_image(64, 64, seed=1)), {"type": "text", "text": "table as markdown please"}]
    response = api.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": content}], "stream": True}
    )
    streamed = "".join(
        choice["delta"].get("content") or ""
        for line in response.text.splitlines()
        if line.startswith("data: {")
        for choice in json.loads(line[6:])["choices"]
    )
    assert streamed == TABLE_MARKDOWN


def test_a_table_without_markdown_stays_html(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.reply = TABLE_HTML
    assert ask(api, "Parse the table")["choices"][0]["message"]["content"] == TABLE_HTML


def test_spotting_asked_for_as_json_returns_pixel_boxes(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.reply = "Total(500,0),(1000,100)Tea(0,500),(250,1000)"
    content = [image_part(make_image(640, 480, seed=3)), {"type": "text", "text": "text with bounding boxes"}]
    body = {"messages": [{"role": "user", "content": content}], "response_format": {"type": "json_object"}}
    reply = api.post("/v1/chat/completions", json=body).json()
    assert json.loads(reply["choices"][0]["message"]["content"]) == {
        "boxes": [{"text": "Total", "box": [320, 0, 640, 48]}, {"text": "Tea", "box": [0, 240, 160, 480]}]
    }
    assert fake_engine.requests[-1].sampling.json_schema is None  # the model writes its own format
    assert reply["ocr"]["boxes"][0]["box"] == [320, 0, 640, 48]
