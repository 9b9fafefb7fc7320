"""The gateway's greedy answers equal transformers ``generate`` on the same checkpoint, images and prompt.

Proof that image parts become the right image tokens, that each image gets its
own embeddings (vLLM on CPU mixes them up without our plugin), and that
engine batching keeps concurrent requests apart.
"""

from __future__ import annotations

import asyncio

import pytest
from openai import AsyncOpenAI, OpenAI

from prompts.catalog import TaskRequest, load_prompt_set
from tests.conftest import Gateway
from tests.images import image_part, make_image
from tests.reference import TransformersReference, user_turn

MAX_TOKENS = 24
INSTRUCTION = "Extract all text in this image."
# What the gateway sends the model for that instruction: HunyuanOCR's official prompt for the text task.
OFFICIAL = load_prompt_set("1.0").resolve(TaskRequest("text", lang="en")).prompt


def ask(client: OpenAI, gateway: Gateway, messages: list[dict]) -> str:
    completion = client.chat.completions.create(
        model=gateway.model, messages=messages, max_tokens=MAX_TOKENS, temperature=0
    )
    return completion.choices[0].message.content or ""


@pytest.mark.parametrize("size", [(32, 32), (64, 200), (217, 235), (300, 40), (256, 256), (640, 480), (33, 1000)])
def test_one_image_of_any_size_matches_transformers(
    size: tuple[int, int], client: OpenAI, gateway: Gateway, reference: TransformersReference
) -> None:
    image = make_image(*size, seed=size[0] * 7 + size[1])
    messages = [{"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]}]
    expected = reference.generate([user_turn(image, OFFICIAL)], [image], MAX_TOKENS)
    assert ask(client, gateway, messages) == expected


@pytest.mark.parametrize("count", [2, 3])
def test_several_images_in_one_message_match_transformers(
    count: int, client: OpenAI, gateway: Gateway, reference: TransformersReference
) -> None:
    images = [make_image(60 + 50 * index, 200 - 40 * index, seed=100 + index) for index in range(count)]
    parts = [image_part(image) for image in images] + [{"type": "text", "text": INSTRUCTION}]
    expected = reference.generate([user_turn(*images, OFFICIAL)], images, MAX_TOKENS)
    assert ask(client, gateway, [{"role": "user", "content": parts}]) == expected


def test_images_between_text_parts_keep_their_order(
    client: OpenAI, gateway: Gateway, reference: TransformersReference
) -> None:
    first, second = make_image(90, 90, seed=201), make_image(120, 60, seed=202)
    parts = [
        {"type": "text", "text": "Page one:"},
        image_part(first),
        {"type": "text", "text": "Page two:"},
        image_part(second),
    ]
    expected = reference.generate([user_turn("Page one:", first, "Page two:", second)], [first, second], MAX_TOKENS)
    completion = client.chat.completions.create(
        model=gateway.model,
        messages=[{"role": "user", "content": parts}],
        max_tokens=MAX_TOKENS,
        temperature=0,
        extra_body={"task": "none"},  # the words as written, not a task's prompt
    )
    assert completion.choices[0].message.content == expected


def test_system_message_matches_transformers(
    client: OpenAI, gateway: Gateway, reference: TransformersReference
) -> None:
    image = make_image(128, 96, seed=301)
    system = "You are an OCR engine."
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]},
    ]
    expected = reference.generate(
        [{"role": "system", "content": system}, user_turn(image, OFFICIAL)], [image], MAX_TOKENS
    )
    assert ask(client, gateway, messages) == expected


def test_two_turn_conversation_matches_transformers(
    client: OpenAI, gateway: Gateway, reference: TransformersReference
) -> None:
    image = make_image(160, 120, seed=401)
    first_answer = ask(
        client, gateway, [{"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]}]
    )
    messages = [
        {"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]},
        {"role": "assistant", "content": first_answer},
        {"role": "user", "content": "Now translate it into English."},
    ]
    expected = reference.generate(
        [
            user_turn(image, INSTRUCTION),
            {"role": "assistant", "content": first_answer},
            user_turn(load_prompt_set("1.0").resolve(TaskRequest("translate", target_lang="en", lang="en")).prompt),
        ],
        [image],
        MAX_TOKENS,
    )
    assert ask(client, gateway, messages) == expected


def test_text_only_request_matches_transformers(
    client: OpenAI, gateway: Gateway, reference: TransformersReference
) -> None:
    text = "What can you read?"
    expected = reference.generate([user_turn(text)], [], MAX_TOKENS)
    assert ask(client, gateway, [{"role": "user", "content": text}]) == expected


def test_sixteen_concurrent_requests_with_different_images_each_match_transformers(
    gateway: Gateway, reference: TransformersReference
) -> None:
    images = [make_image(40 + 23 * index, 260 - 11 * index, seed=500 + index) for index in range(16)]

    async def ask_all() -> list[str]:
        async with AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=300) as async_client:
            return await asyncio.gather(*(one(async_client, image) for image in images))

    async def one(async_client: AsyncOpenAI, image: object) -> str:
        completion = await async_client.chat.completions.create(
            model=gateway.model,
            messages=[{"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]}],
            max_tokens=MAX_TOKENS,
            temperature=0,
        )
        return completion.choices[0].message.content or ""

    answers = asyncio.run(ask_all())
    expected = [reference.generate([user_turn(image, OFFICIAL)], [image], MAX_TOKENS) for image in images]
    assert answers == expected
    assert len(set(expected)) > 8  # the images really lead to different answers
