"""The upstream engine's wire format: request bodies, stream chunks → engine outputs, upstream errors."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from adapters.engine import EngineRequest, SamplingOptions, Turn
from adapters.errors import (
    EngineBusy,
    EngineDown,
    EngineFailed,
    EngineFault,
    PromptTooLong,
    RequestRejected,
    UpstreamRejected,
)
from adapters.upstream_wire import StreamReader, UpstreamFailure, chat_body, encode_images, http_error, sampling_fields
from gateway.errors import from_engine_error
from tests.images import make_image


def request(turns: list[Turn], **sampling: object) -> EngineRequest:
    return EngineRequest("chatcmpl-1", "prompt", [], SamplingOptions(**sampling), turns=turns)  # type: ignore[arg-type]


def test_images_become_lossless_png_data_urls_in_conversation_order() -> None:
    first, second = make_image(64, 32, seed=1), make_image(32, 64, seed=2)
    turns = [Turn("system", [""]), Turn("user", [first, "compare", second])]
    encoded = encode_images(turns)
    decoded = [Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) for url in encoded.urls]
    assert all(url.startswith("data:image/png;base64,") for url in encoded.urls)
    assert [image.tobytes() for image in decoded] == [first.tobytes(), second.tobytes()]


def test_affinity_key_follows_the_first_images_pixels() -> None:
    image = make_image(64, 32, seed=1)
    key = encode_images([Turn("user", [image, "a"])]).affinity_key
    assert key == encode_images([Turn("user", [image.copy(), "another question"])]).affinity_key
    assert key != encode_images([Turn("user", [make_image(64, 32, seed=2), "a"])]).affinity_key
    assert encode_images([Turn("user", ["text only"])]).affinity_key is None


def test_turns_become_openai_messages_with_string_system_and_assistant_content() -> None:
    image = make_image(64, 32, seed=1)
    turns = [Turn("system", [""]), Turn("user", [image, "OCR"]), Turn("assistant", ["done"]), Turn("user", ["more"])]
    body = chat_body(request(turns), ["data:image/png;base64,AAAA"], "served-model")
    assert body["model"] == "served-model" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    assert body["messages"] == [
        {"role": "system", "content": ""},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "OCR"},
            ],
        },
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": [{"type": "text", "text": "more"}]},
    ]


def test_sampling_options_map_onto_vllm_request_fields() -> None:
    options = SamplingOptions(
        max_tokens=9,
        temperature=0.0,
        top_p=0.9,
        top_k=1,
        n=1,
        stop=["END"],
        stop_token_ids=[7, 8],
        seed=3,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        repetition_penalty=1.05,
        logprobs=2,
    )
    assert sampling_fields(options) == {
        "n": 1,
        "max_completion_tokens": 9,
        "temperature": 0.0,
        "top_p": 0.9,
        "top_k": 1,
        "seed": 3,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "repetition_penalty": 1.05,
        "stop": ["END"],
        "stop_token_ids": [7, 8],
        "skip_special_tokens": True,
        "include_stop_str_in_output": False,
        "logprobs": True,
        "top_logprobs": 2,
    }


def test_unset_sampling_fields_are_left_to_the_upstreams_model_defaults() -> None:
    assert sampling_fields(SamplingOptions()) == {
        "n": 1,
        "skip_special_tokens": True,
        "include_stop_str_in_output": False,
    }


@pytest.mark.parametrize(
    ("schema", "constraint"), [({"type": "object"}, {"json": {"type": "object"}}), ({}, {"json_object": True})]
)
def test_json_schema_becomes_compact_structured_output(schema: dict, constraint: dict) -> None:
    fields = sampling_fields(SamplingOptions(json_schema=schema))
    assert fields["structured_outputs"] == {**constraint, "disable_any_whitespace": True}


def chunk(index: int, content: str | None, completion_tokens: int, finish: str | None = None, **extra: object) -> dict:
    delta = {"content": content} if content is not None else {}
    return {
        "choices": [{"index": index, "delta": delta, "finish_reason": finish, **extra}],
        "usage": {"prompt_tokens": 70, "completion_tokens": completion_tokens},
    }


def test_stream_chunks_become_engine_outputs_with_per_choice_token_counts() -> None:
    reader = StreamReader()
    role = chunk(0, "", 0)
    role["choices"][0]["delta"]["role"] = "assistant"
    assert reader.read({**role, "prompt_text": "<prompt>"}) is None  # nothing generated yet
    assert reader.prompt_text == "<prompt>"
    first = reader.read(chunk(0, "ab", 2))
    assert first is not None and first.prompt_tokens == 70
    assert [(delta.index, delta.text, delta.num_tokens) for delta in first.choices] == [(0, "ab", 2)]
    held_back = reader.read(chunk(0, "", 3))  # a token whose text vLLM holds back still counts
    assert held_back is not None and held_back.choices[0].num_tokens == 1
    last = reader.read(chunk(0, "c", 4, "repetition"))
    assert last is not None and last.choices[0].finish_reason == "stop"
    usage = {"prompt_tokens": 70, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 64}}
    closing = reader.read({"choices": [], "usage": usage})
    assert closing is not None and closing.choices == [] and closing.cached_tokens == 64


def test_stream_logprobs_become_token_logprobs() -> None:
    logprobs = {"content": [{"token": "a", "logprob": -0.5, "top_logprobs": [{"token": "a", "logprob": -0.5}]}]}
    output = StreamReader().read(chunk(0, "a", 1, logprobs=logprobs))
    assert output is not None and output.choices[0].logprobs is not None
    [token] = output.choices[0].logprobs
    assert (token.token, token.logprob, token.top) == ("a", -0.5, [("a", -0.5)])


def test_error_event_in_a_stream_is_a_failure_another_replica_may_retry() -> None:
    with pytest.raises(UpstreamFailure) as raised:
        StreamReader().read({"error": {"message": "Internal server error", "type": "InternalServerError", "code": 500}})
    assert isinstance(raised.value.error, EngineFailed)


def test_an_aborted_upstream_request_is_unavailability() -> None:
    with pytest.raises(EngineDown):
        StreamReader().read(chunk(0, "", 1, "abort"))


@pytest.mark.parametrize(
    ("status", "message", "expected", "client_status"),
    [
        (400, "n must be 1 when using greedy sampling", RequestRejected, 400),
        (400, "This model's maximum context length is 8192 tokens", PromptTooLong, 400),
        (404, "The model `x` does not exist.", UpstreamRejected, 404),
        (413, "too large", UpstreamRejected, 413),
        (429, "busy", EngineBusy, 429),
        (500, "Internal server error", EngineFailed, 500),
        (502, "bad gateway", EngineDown, 503),
        (503, "sleeping", EngineDown, 503),
    ],
)
def test_upstream_http_errors_keep_their_4xx_status(
    status: int, message: str, expected: type[EngineFault], client_status: int
) -> None:
    error = http_error(
        status, {"error": {"message": message, "type": "BadRequestError", "param": None, "code": status}}
    )
    assert type(error) is expected
    assert from_engine_error(error).status_code == client_status
    if status < 500:
        assert error.message == message  # the client learns what was wrong with its request


def test_upstream_error_bodies_of_older_vllm_and_of_proxies_are_understood() -> None:
    assert http_error(400, {"object": "error", "message": "bad", "code": 400}).message == "bad"
    assert http_error(400, "<html>Bad Request</html>").message == "The upstream replica answered with HTTP 400."
