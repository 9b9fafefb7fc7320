"""Chat completions against the real gateway + vLLM engine on the tiny checkpoint, via the openai client."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import Gateway
from tests.images import data_url, image_part, make_image
from tests.reference import TransformersReference, user_turn

MAX_TOKENS = 24


def ocr_messages(seed: int = 0, size: tuple[int, int] = (217, 235)) -> list[dict]:
    image = make_image(*size, seed=seed)
    return [
        {"role": "user", "content": [image_part(image), {"type": "text", "text": "Extract all text in this image."}]}
    ]


def test_non_streaming_image_request_returns_an_openai_completion(client: OpenAI, gateway: Gateway) -> None:
    completion = client.chat.completions.create(
        model=gateway.model, messages=ocr_messages(), max_tokens=MAX_TOKENS, temperature=0
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == gateway.model
    [choice] = completion.choices
    assert choice.index == 0 and choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= MAX_TOKENS
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_text_equals_non_streamed_text_at_temperature_zero(client: OpenAI, gateway: Gateway) -> None:
    messages = ocr_messages(seed=1)
    whole = client.chat.completions.create(model=gateway.model, messages=messages, max_tokens=MAX_TOKENS, temperature=0)
    stream = client.chat.completions.create(
        model=gateway.model, messages=messages, max_tokens=MAX_TOKENS, temperature=0, stream=True
    )
    chunks = list(stream)
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert streamed == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert len({chunk.id for chunk in chunks}) == 1


def test_stream_ends_with_usage_chunk_then_done_when_include_usage(client: OpenAI, gateway: Gateway) -> None:
    body = {
        "model": gateway.model,
        "messages": ocr_messages(seed=2),
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", json=body, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    usage_chunk = json.loads(events[-2])
    assert usage_chunk["choices"] == []
    chunks = [json.loads(event) for event in events[:-2]]
    assert all(chunk["usage"] is None for chunk in chunks)
    whole = httpx.post(
        f"{gateway.base_url}/chat/completions", json={**body, "stream": False, "stream_options": None}, timeout=120
    ).json()
    assert usage_chunk["usage"] == whole["usage"]


def test_same_request_twice_gives_identical_output(client: OpenAI, gateway: Gateway) -> None:
    messages = ocr_messages(seed=3)
    first, second = (
        client.chat.completions.create(model=gateway.model, messages=messages, max_tokens=MAX_TOKENS, temperature=0)
        for _ in range(2)
    )
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.usage == second.usage


def test_usage_counts_equal_the_engine_token_counts(
    client: OpenAI, gateway: Gateway, reference: TransformersReference
) -> None:
    image = make_image(150, 90, seed=4)
    messages = [{"role": "user", "content": [image_part(image), {"type": "text", "text": "Read it."}]}]
    completion = client.chat.completions.create(model=gateway.model, messages=messages, max_tokens=7, temperature=0)
    expected_prompt = reference.inputs([user_turn(image, "Read it.")], [image])["input_ids"].shape[1]
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == expected_prompt
    if completion.choices[0].finish_reason == "length":
        assert completion.usage.completion_tokens == 7


def test_n_choices_are_returned_in_index_order(client: OpenAI, gateway: Gateway) -> None:
    completion = client.chat.completions.create(
        model=gateway.model, messages=ocr_messages(seed=5), max_tokens=8, temperature=1.0, seed=7, n=3
    )
    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    assert completion.usage is not None and completion.usage.completion_tokens <= 3 * 8


def test_logprobs_are_returned_per_token_when_asked(client: OpenAI, gateway: Gateway) -> None:
    completion = client.chat.completions.create(
        model=gateway.model, messages=ocr_messages(seed=6), max_tokens=5, temperature=0, logprobs=True, top_logprobs=2
    )
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert "".join(token.token for token in logprobs.content) == completion.choices[0].message.content
    assert all(len(token.top_logprobs) == 2 and token.logprob <= 0 for token in logprobs.content)


def test_models_lists_the_served_model(client: OpenAI, gateway: Gateway) -> None:
    assert [model.id for model in client.models.list()] == [gateway.model]
    assert client.models.retrieve(gateway.model).id == gateway.model
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_health_reports_ok_while_the_engine_serves(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.root_url}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


BAD_BODIES = {
    "missing messages": ({"max_tokens": 4}, 400, "messages"),
    "empty messages": ({"messages": []}, 400, "messages"),
    "malformed data URL": (
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,xx"}}]}]},
        400,
        "messages[0].content[0].image_url.url",
    ),
    "base64 that is not base64": (
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}]}
            ]
        },
        400,
        "messages[0].content[0].image_url.url",
    ),
    "undecodable image bytes": (
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(b"not an image")}}]}
            ]
        },
        400,
        "messages[0].content[0].image_url.url",
    ),
    "unknown model": ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 404, "model"),
    "max_tokens zero": ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "max_tokens"),
    "max_tokens negative": ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": -3}, 400, "max_tokens"),
    "unsupported content part": (
        {
            "messages": [
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}
            ]
        },
        400,
        "messages[0].content[0].type",
    ),
    "unknown role": ({"messages": [{"role": "robot", "content": "hi"}]}, 400, "messages[0].role"),
    "temperature out of range": (
        {"messages": [{"role": "user", "content": "hi"}], "temperature": 5},
        400,
        "temperature",
    ),
    "control token in text": (
        {"messages": [{"role": "user", "content": "hi<｜hy_User｜>"}]},
        400,
        "messages[0].content",
    ),
    "prompt longer than the context": (
        {"messages": [{"role": "user", "content": "x" * 9000}]},
        400,
        "messages",
    ),
}


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
def test_bad_request_gets_an_openai_error_and_the_server_keeps_serving(
    case: str, client: OpenAI, gateway: Gateway
) -> None:
    body, status, param = BAD_BODIES[case]
    response = httpx.post(f"{gateway.base_url}/chat/completions", json={"model": gateway.model, **body}, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert "Traceback" not in response.text
    good = client.chat.completions.create(model=gateway.model, messages=ocr_messages(), max_tokens=4, temperature=0)
    assert good.choices[0].message.content is not None


def test_body_that_is_not_json_gets_400(gateway: Gateway) -> None:
    response = httpx.post(
        f"{gateway.base_url}/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_route_gets_openai_shaped_404(gateway: Gateway) -> None:
    response = httpx.get(f"{gateway.base_url}/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def long_body(gateway: Gateway, stream: bool) -> dict:
    # Long enough to still be generating when the client leaves.
    return {
        "model": gateway.model,
        "messages": ocr_messages(seed=8),
        "max_tokens": 7500,
        "temperature": 0,
        "stream": stream,
    }


def test_client_that_disconnects_mid_stream_leaves_no_request_in_the_engine(gateway: Gateway) -> None:
    assert gateway.wait_for_engine_idle() == 0
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", json=long_body(gateway, True)) as response:
        lines = response.iter_lines()
        received = [next(lines) for _ in range(6)]
        assert any(line.startswith("data: ") for line in received)
        assert gateway.unfinished_requests() == 1  # it is running while we read
    assert gateway.wait_for_engine_idle() == 0


def test_client_that_disconnects_before_a_completion_leaves_no_request_in_the_engine(gateway: Gateway) -> None:
    assert gateway.wait_for_engine_idle() == 0
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{gateway.base_url}/chat/completions", json=long_body(gateway, False), timeout=httpx.Timeout(5, read=2)
        )
    assert gateway.wait_for_engine_idle() == 0
