"""Tasks on the real engine: official prompts reach the model, JSON schemas hold, loops stop, caches hit."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from openai import OpenAI

from prompts.catalog import TaskRequest, load_prompt_set
from tests.conftest import Gateway
from tests.images import image_part, make_image
from tests.reference import TransformersReference, user_turn

PROMPTS = load_prompt_set("1.0")
TASKS = [
    TaskRequest("text", lang="en"),
    TaskRequest("text", lang="zh"),
    TaskRequest("document", lang="en"),
    TaskRequest("table", lang="en"),
    TaskRequest("formula", lang="zh"),
    TaskRequest("chart", lang="en"),
    TaskRequest("spotting", lang="en"),
    TaskRequest("subtitles", lang="zh"),
    TaskRequest("field", key="Total", fields=("Total",), lang="en"),
    TaskRequest("fields", fields=("name", "date"), lang="en"),
    TaskRequest("translate", target_lang="en", lang="en"),
    TaskRequest("translate", target_lang="zh", lang="zh"),
]


def ocr_extension(completion: Any) -> dict[str, Any]:
    return dict(completion.model_extra["ocr"])


@pytest.mark.parametrize("task", TASKS, ids=[f"{t.task}-{t.lang}" for t in TASKS])
def test_each_task_reaches_the_model_as_its_official_prompt(
    task: TaskRequest, client: OpenAI, gateway: Gateway, reference: TransformersReference
) -> None:
    image = make_image(120, 90, seed=700)
    completion = client.chat.completions.create(
        model=gateway.model,
        messages=[
            {"role": "user", "content": [image_part(image), {"type": "text", "text": "whatever the user wrote"}]}
        ],
        max_tokens=8,
        temperature=0,
        extra_body={"task": task.task, "target_lang": task.target_lang, "fields": list(task.fields), "lang": task.lang},
    )
    prompt = PROMPTS.resolve(task).prompt
    inputs = reference.inputs([user_turn(image, prompt)], [image])
    assert completion.usage is not None and completion.usage.prompt_tokens == inputs["input_ids"].shape[1]
    assert completion.choices[0].message.content == reference.generate([user_turn(image, prompt)], [image], 8)
    assert ocr_extension(completion)["task"] == task.task


def test_plain_words_are_mapped_to_a_task(client: OpenAI, gateway: Gateway) -> None:
    completion = client.chat.completions.create(
        model=gateway.model,
        max_tokens=4,
        messages=[
            {
                "role": "user",
                "content": [
                    image_part(make_image(80, 80, seed=701)),
                    {"type": "text", "text": "translate this menu to English"},
                ],
            }
        ],
    )
    assert ocr_extension(completion)["task"] == "translate"


def test_json_schema_reply_is_valid_json_matching_the_schema(client: OpenAI, gateway: Gateway) -> None:
    schema = {
        "type": "object",
        "properties": {
            "invoice_number": {"type": "string", "maxLength": 12},
            "total": {"type": "string", "maxLength": 8},
        },
        "required": ["invoice_number", "total"],
        "additionalProperties": False,
    }
    completion = client.chat.completions.create(
        model=gateway.model,
        max_tokens=80,
        temperature=0,
        messages=[
            {
                "role": "user",
                "content": [
                    image_part(make_image(100, 60, seed=702)),
                    {"type": "text", "text": "Give me the invoice number and total."},
                ],
            }
        ],
        response_format={"type": "json_schema", "json_schema": {"name": "invoice", "schema": schema, "strict": True}},
    )
    assert completion.choices[0].finish_reason == "stop"
    reply = json.loads(completion.choices[0].message.content or "")
    assert set(reply) == {"invoice_number", "total"}
    assert all(isinstance(value, str) for value in reply.values())
    assert ocr_extension(completion)["task"] == "fields"


def test_json_object_reply_is_a_json_object(client: OpenAI, gateway: Gateway) -> None:
    completion = client.chat.completions.create(
        model=gateway.model,
        max_tokens=60,
        temperature=0,
        response_format={"type": "json_object"},
        messages=[
            {
                "role": "user",
                "content": [
                    image_part(make_image(100, 60, seed=703)),
                    {"type": "text", "text": "Extract name and date as JSON"},
                ],
            }
        ],
    )
    content = completion.choices[0].message.content or ""
    assert content.startswith("{")  # constrained from the first token (a random model may never close it)
    if completion.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(content), dict)


def test_a_follow_up_about_the_same_image_reuses_the_prefix_cache(client: OpenAI, gateway: Gateway) -> None:
    # Four pages: a prompt several KV-cache blocks long (the cache reuses whole blocks).
    pages = [image_part(make_image(256, 256, seed=704 + index)) for index in range(4)]
    first_turn = [{"role": "user", "content": [*pages, {"type": "text", "text": "Extract all text in this image."}]}]
    first = client.chat.completions.create(model=gateway.model, messages=first_turn, max_tokens=6, temperature=0)
    follow_up = [
        *first_turn,
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "Now translate it into English."},
    ]
    second = client.chat.completions.create(model=gateway.model, messages=follow_up, max_tokens=6, temperature=0)
    assert first.usage is not None and second.usage is not None
    cached = second.usage.prompt_tokens_details.cached_tokens  # type: ignore[union-attr]
    assert cached >= first.usage.prompt_tokens // 2  # the system prompt and the image's tokens came from the cache


Answer = tuple[str, list[str], dict[str, Any]]  # text, finish reasons, the ocr extension


def ask_what_loops(client: OpenAI, gateway: Gateway, stream: bool) -> Answer:
    # The random model falls into a repeating cycle; without the guard it would write up to the context's end.
    messages: Any = [
        {"role": "user", "content": [image_part(make_image(64, 64, seed=705)), {"type": "text", "text": "OCR"}]}
    ]
    if stream:
        chunks = list(client.chat.completions.create(model=gateway.model, messages=messages, stream=True))
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        finish = [
            chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason
        ]
        ocr = next(chunk.model_extra["ocr"] for chunk in reversed(chunks) if chunk.model_extra.get("ocr"))
        return text, finish, ocr
    completion = client.chat.completions.create(model=gateway.model, messages=messages)
    return completion.choices[0].message.content or "", [completion.choices[0].finish_reason], ocr_extension(completion)


@pytest.fixture(scope="module")
def looping_answers(client: OpenAI, gateway: Gateway) -> dict[bool, Answer]:
    """The looping request asked plain and streamed at the same time: the engine writes both answers in one batch,
    so the pair takes about as long as one (each runs to the guard's first check, thousands of tokens)."""
    with ThreadPoolExecutor(2) as threads:
        answers = threads.map(lambda stream: ask_what_loops(client, gateway, stream), (False, True))
        return dict(zip((False, True), answers, strict=True))


@pytest.mark.parametrize("stream", [False, True])
def test_a_looping_answer_is_stopped_early_and_flagged(stream: bool, looping_answers: dict[bool, Answer]) -> None:
    text, finish, ocr = looping_answers[stream]
    assert finish[-1] == "stop"
    assert ocr["loop_truncated"] is True
    assert len(text) <= 8000  # the context would allow about 8,100 characters: it was cut, not full
