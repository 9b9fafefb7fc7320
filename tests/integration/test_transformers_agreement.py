"""Both engines give the same greedy answers, token for token, and both equal transformers ``generate``.

The vLLM gateway (``gateway``) and the transformers-engine gateway
(``transformers_gateway``) get the same requests; their texts, finish
reasons and token counts must be identical (the tiny checkpoint's vocabulary
is one token per character, so equal text is equal tokens), and the text must
equal plain transformers ``generate`` on HF's own chat template
(``tests/reference.py``). Proof that image parts become the right image
tokens, that each image gets its own embeddings (vLLM on CPU mixes them up
without our plugin), and that both engines' batching keeps concurrent
requests apart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Answer:
    texts: tuple[str, ...]  # one per choice
    finish_reasons: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int

    @property
    def text(self) -> str:
        return self.texts[0]


def answer(client: OpenAI, messages: list[dict], **options: Any) -> Answer:
    options = {"max_tokens": MAX_TOKENS, "temperature": 0, **options}
    completion = client.chat.completions.create(model="hunyuan-ocr-tiny", messages=messages, **options)
    assert completion.usage is not None
    return Answer(
        tuple(choice.message.content or "" for choice in completion.choices),
        tuple(choice.finish_reason for choice in completion.choices),
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
    )


@pytest.fixture(scope="module")
def ask(client: OpenAI, transformers_client: OpenAI) -> Any:
    """Ask both engines; they must agree exactly. Returns the (common) answer."""

    def ask_both(messages: list[dict], **options: Any) -> Answer:
        from_vllm = answer(client, messages, **options)
        assert answer(transformers_client, messages, **options) == from_vllm
        return from_vllm

    return ask_both


@pytest.mark.parametrize("size", [(32, 32), (64, 200), (217, 235), (300, 40), (256, 256), (640, 480), (33, 1000)])
def test_one_image_of_any_size_matches_transformers(
    size: tuple[int, int], ask: Any, reference: TransformersReference
) -> None:
    image = make_image(*size, seed=size[0] * 7 + size[1])
    messages = [{"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]}]
    expected = reference.generate([user_turn(image, OFFICIAL)], [image], MAX_TOKENS)
    assert ask(messages).text == expected


@pytest.mark.parametrize("count", [2, 3])
def test_several_images_in_one_message_match_transformers(
    count: int, ask: Any, reference: TransformersReference
) -> None:
    images = [make_image(60 + 50 * index, 200 - 40 * index, seed=100 + index) for index in range(count)]
    parts = [image_part(image) for image in images] + [{"type": "text", "text": INSTRUCTION}]
    expected = reference.generate([user_turn(*images, OFFICIAL)], images, MAX_TOKENS)
    assert ask([{"role": "user", "content": parts}]).text == expected


def test_images_between_text_parts_keep_their_order(ask: Any, reference: TransformersReference) -> None:
    first, second = make_image(90, 90, seed=201), make_image(120, 60, seed=202)
    parts = [
        {"type": "text", "text": "Page one:"},
        image_part(first),
        {"type": "text", "text": "Page two:"},
        image_part(second),
    ]
    expected = reference.generate([user_turn("Page one:", first, "Page two:", second)], [first, second], MAX_TOKENS)
    # "task": "none": the words as written, not a task's prompt.
    got = ask([{"role": "user", "content": parts}], extra_body={"task": "none"})
    assert got.text == expected


def test_system_message_matches_transformers(ask: Any, reference: TransformersReference) -> None:
    image = make_image(128, 96, seed=301)
    system = "You are an OCR engine."
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]},
    ]
    expected = reference.generate(
        [{"role": "system", "content": system}, user_turn(image, OFFICIAL)], [image], MAX_TOKENS
    )
    assert ask(messages).text == expected


def test_two_turn_conversation_matches_transformers(ask: Any, reference: TransformersReference) -> None:
    image = make_image(160, 120, seed=401)
    first_answer = ask([{"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]}]).text
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
    assert ask(messages).text == expected


def test_text_only_request_matches_transformers(ask: Any, reference: TransformersReference) -> None:
    text = "What can you read?"
    expected = reference.generate([user_turn(text)], [], MAX_TOKENS)
    assert ask([{"role": "user", "content": text}]).text == expected


# Options that change the answer, each built from the plain answer (so stop strings do occur in it).
SAMPLING_OPTIONS: dict[str, Any] = {
    "stop": lambda text: {"stop": [text[6:9]]},
    "earliest_of_two_stops": lambda text: {"stop": [text[12], text[4:6]]},
    "max_tokens": lambda text: {"max_tokens": 5},
    "repetition_penalty": lambda text: {"extra_body": {"repetition_penalty": 1.5}},
    "presence_and_frequency_penalties": lambda text: {"presence_penalty": 1.0, "frequency_penalty": 0.5},
}


@pytest.mark.parametrize("option", SAMPLING_OPTIONS)
def test_sampling_options_give_the_same_answer_on_both_engines(option: str, ask: Any) -> None:
    image = make_image(96, 160, seed=601)
    messages = [{"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]}]
    plain = ask(messages)
    got = ask(messages, **SAMPLING_OPTIONS[option](plain.text))
    assert got != plain  # the option changed the answer, so agreeing on it means something


def test_logprobs_agree_between_engines(client: OpenAI, transformers_client: OpenAI) -> None:
    image = make_image(128, 128, seed=701)
    messages = [{"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]}]

    def logprobs(engine: OpenAI) -> list[tuple[str, float, list[str]]]:
        completion = engine.chat.completions.create(
            model="hunyuan-ocr-tiny", messages=messages, max_tokens=8, temperature=0, logprobs=True, top_logprobs=3
        )
        content = completion.choices[0].logprobs.content  # type: ignore[union-attr]
        return [(item.token, item.logprob, [top.token for top in item.top_logprobs]) for item in content or []]

    from_vllm, from_transformers = logprobs(client), logprobs(transformers_client)
    assert len(from_vllm) == 8
    assert [(token, tops) for token, _, tops in from_transformers] == [(token, tops) for token, _, tops in from_vllm]
    for (_, ours, _), (_, theirs, _) in zip(from_transformers, from_vllm, strict=True):
        assert ours == pytest.approx(theirs, abs=1e-3)


def test_sixteen_concurrent_requests_with_different_images_each_match_transformers(
    gateway: Gateway, transformers_gateway: Gateway, reference: TransformersReference
) -> None:
    images = [make_image(40 + 23 * index, 260 - 11 * index, seed=500 + index) for index in range(16)]

    async def ask_all(server: Gateway) -> list[str]:
        async with AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=300) as async_client:
            return await asyncio.gather(*(one(async_client, image) for image in images))

    async def one(async_client: AsyncOpenAI, image: object) -> str:
        completion = await async_client.chat.completions.create(
            model=gateway.model,
            messages=[{"role": "user", "content": [image_part(image), {"type": "text", "text": INSTRUCTION}]}],
            max_tokens=MAX_TOKENS,
            temperature=0,
        )
        return completion.choices[0].message.content or ""

    expected = [reference.generate([user_turn(image, OFFICIAL)], [image], MAX_TOKENS) for image in images]
    assert asyncio.run(ask_all(gateway)) == expected
    assert asyncio.run(ask_all(transformers_gateway)) == expected
    assert len(set(expected)) > 8  # the images really lead to different answers
