"""Chat-completions protocol edge cases, in-process with a fake engine."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from adapters.errors import EngineDown, PromptTooLong
from tests.fakes import FakeEngine

HELLO = {"model": "fake-ocr", "messages": [{"role": "user", "content": "hello"}]}


def sse_events(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]


def test_completion_joins_engine_deltas_and_counts_usage(api: TestClient) -> None:
    body = api.post("/v1/chat/completions", json={**HELLO, "max_tokens": 3}).json()
    assert body["object"] == "chat.completion"
    assert len(body["choices"][0]["message"]["content"].split()) == 3
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 3


def test_stream_sends_role_first_for_every_choice_then_deltas_finish_usage_and_done(api: TestClient) -> None:
    response = api.post(
        "/v1/chat/completions", json={**HELLO, "n": 2, "stream": True, "stream_options": {"include_usage": True}}
    )
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert [choice["delta"] for choice in chunks[0]["choices"]] == [{"role": "assistant", "content": ""}] * 2
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 8
    finishes = [choice for chunk in chunks for choice in chunk["choices"] if choice["finish_reason"]]
    assert sorted(choice["index"] for choice in finishes) == [0, 1]


def test_stream_without_include_usage_has_no_usage_chunk(api: TestClient) -> None:
    events = sse_events(api.post("/v1/chat/completions", json={**HELLO, "stream": True}).text)
    assert all(json.loads(event)["usage"] is None for event in events[:-1])


def test_stream_options_without_stream_is_rejected(api: TestClient) -> None:
    response = api.post("/v1/chat/completions", json={**HELLO, "stream_options": {"include_usage": True}})
    assert response.status_code == 400
    assert "stream_options" in response.json()["error"]["message"]


def test_engine_rejection_before_first_token_is_an_http_error_even_when_streaming(
    api: TestClient, fake_engine: FakeEngine
) -> None:
    fake_engine.fail_before_output = PromptTooLong("too long", param="messages")
    response = api.post("/v1/chat/completions", json={**HELLO, "stream": True})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


def test_error_after_the_stream_started_is_a_final_error_event_then_done(
    api: TestClient, fake_engine: FakeEngine
) -> None:
    fake_engine.fail_after_words = (2, EngineDown("engine died"))
    events = sse_events(api.post("/v1/chat/completions", json={**HELLO, "stream": True}).text)
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["type"] == "service_unavailable"


def test_unexpected_engine_failure_is_a_500_without_internals(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.fail_after_words = (0, RuntimeError("secret internal detail"))
    response = api.post("/v1/chat/completions", json=HELLO)
    assert response.status_code == 500
    assert "secret" not in response.text and response.json()["error"]["type"] == "server_error"


def test_unknown_fields_are_ignored_like_openai_does(api: TestClient) -> None:
    response = api.post("/v1/chat/completions", json={**HELLO, "metadata": {"a": 1}, "store": False, "x_vendor": 1})
    assert response.status_code == 200


def test_max_completion_tokens_wins_over_max_tokens(api: TestClient, fake_engine: FakeEngine) -> None:
    api.post("/v1/chat/completions", json={**HELLO, "max_tokens": 9, "max_completion_tokens": 2})
    assert fake_engine.requests[-1].sampling.max_tokens == 2


def test_sampling_fields_reach_the_engine(api: TestClient, fake_engine: FakeEngine) -> None:
    api.post(
        "/v1/chat/completions",
        json={
            **HELLO,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": "END",
            "seed": 3,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "top_k": 5,
            "repetition_penalty": 1.05,
            "logprobs": True,
            "top_logprobs": 3,
        },
    )
    sampling = fake_engine.requests[-1].sampling
    assert (sampling.temperature, sampling.top_p, sampling.stop, sampling.seed) == (0.5, 0.9, ["END"], 3)
    assert (sampling.presence_penalty, sampling.frequency_penalty) == (0.1, 0.2)
    assert (sampling.top_k, sampling.repetition_penalty, sampling.logprobs) == (5, 1.05, 3)
    assert sampling.stop_token_ids  # the model's turn-end tokens always stop generation


def test_json_response_format_asks_the_engine_for_json(api: TestClient, fake_engine: FakeEngine) -> None:
    schema = {"type": "object", "properties": {"total": {"type": "string"}}}
    api.post("/v1/chat/completions", json={**HELLO, "response_format": {"type": "json_object"}})
    assert fake_engine.requests[-1].sampling.json_schema == {}
    api.post(
        "/v1/chat/completions",
        json={**HELLO, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}},
    )
    assert fake_engine.requests[-1].sampling.json_schema == schema


def test_model_may_be_omitted(api: TestClient) -> None:
    response = api.post("/v1/chat/completions", json={"messages": HELLO["messages"]})
    assert response.status_code == 200 and response.json()["model"] == "fake-ocr"


def test_wrong_method_gets_an_openai_error(api: TestClient) -> None:
    response = api.get("/v1/chat/completions")
    assert response.status_code == 405
    assert response.json()["error"]["message"]


def test_body_that_is_a_json_array_is_rejected(api: TestClient) -> None:
    response = api.post("/v1/chat/completions", json=[HELLO])
    assert response.status_code == 400


def test_health_is_503_when_the_engine_is_not_serving(api: TestClient, fake_engine: FakeEngine) -> None:
    fake_engine.started = False
    assert api.get("/health").status_code == 503


def test_explicit_nulls_mean_defaults_as_with_openai(api: TestClient) -> None:
    response = api.post("/v1/chat/completions", json={**HELLO, "stream": None, "n": None, "logprobs": None})
    assert response.status_code == 200 and len(response.json()["choices"]) == 1


def test_integers_the_engine_cannot_carry_are_400(api: TestClient) -> None:
    for field in ("seed", "max_tokens", "top_k"):
        response = api.post("/v1/chat/completions", json={**HELLO, field: 2**64})
        assert response.status_code == 400 and response.json()["error"]["param"] == field


def test_deeply_nested_json_is_400(api: TestClient) -> None:
    response = api.post("/v1/chat/completions", content=b"[" * 100_000, headers={"content-type": "application/json"})
    assert response.status_code == 400


def test_body_over_the_limit_is_413_before_it_is_read(api: TestClient) -> None:
    response = api.post("/v1/chat/completions", content=b"x" * 200, headers={"content-length": str(200 * 2**20)})
    assert response.status_code == 413


def test_huge_json_integers_and_odd_schemas_are_400_not_500(api: TestClient) -> None:
    response = api.post(
        "/v1/chat/completions", content=b'{"seed": ' + b"9" * 5000 + b"}", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    odd = {**HELLO, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": "not a schema"}}}
    assert api.post("/v1/chat/completions", json=odd).status_code < 500
