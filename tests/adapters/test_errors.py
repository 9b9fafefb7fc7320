"""Engine errors: the hierarchy, and the one translation into what the client gets (complete, and the same JSON
as the gateway sent before engines had errors of their own)."""

from __future__ import annotations

import json

import pytest

import adapters.errors
from adapters.errors import (
    EngineBusy,
    EngineDown,
    EngineFailed,
    EngineFault,
    PromptTooLong,
    RequestRejected,
    UnknownModel,
    UpstreamRejected,
    is_context_overflow,
)
from gateway.errors import ENGINE_ERRORS, error_response, from_engine_error


def engine_error_classes() -> list[type[EngineFault]]:
    def subclasses(cls: type[EngineFault]) -> list[type[EngineFault]]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]

    return [cls for cls in subclasses(EngineFault) if cls.__module__ == adapters.errors.__name__]


def test_every_engine_error_class_has_its_own_line_in_the_translation() -> None:
    translated = [engine_class for engine_class, _ in ENGINE_ERRORS]
    assert sorted(translated, key=str) == sorted(engine_error_classes(), key=str)


def test_the_translation_lists_the_most_specific_classes_first() -> None:
    for position, (engine_class, _) in enumerate(ENGINE_ERRORS):
        later = [cls for cls, _ in ENGINE_ERRORS[position + 1 :]]
        assert not any(issubclass(cls, engine_class) for cls in later), engine_class


def test_the_module_docstring_draws_every_class() -> None:
    assert adapters.errors.__doc__ is not None
    for cls in engine_error_classes():
        assert f" {cls.__name__} " in adapters.errors.__doc__, cls


# What the client got before engines raised errors of their own: status, body, headers.
AS_BEFORE = [
    (
        PromptTooLong("too long", param="messages"),
        400,
        {
            "message": "too long",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        },
        {},
    ),
    (
        UnknownModel("no such model", param="model"),
        404,
        {"message": "no such model", "type": "invalid_request_error", "param": "model", "code": "model_not_found"},
        {},
    ),
    (
        UpstreamRejected("too large", status=413),
        413,
        {"message": "too large", "type": "invalid_request_error", "param": None, "code": None},
        {},
    ),
    (
        RequestRejected("control token", param="messages[0].content"),
        400,
        {"message": "control token", "type": "invalid_request_error", "param": "messages[0].content", "code": None},
        {},
    ),
    (
        RequestRejected("needs HunyuanOCR", param="response_format", code="unsupported_task"),
        400,
        {
            "message": "needs HunyuanOCR",
            "type": "invalid_request_error",
            "param": "response_format",
            "code": "unsupported_task",
        },
        {},
    ),
    (
        EngineBusy("busy", retry_after=1),
        429,
        {"message": "busy", "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"},
        {"retry-after": "1"},
    ),
    (
        EngineDown("No upstream replica is healthy; retry later.", retry_after=5),
        503,
        {
            "message": "No upstream replica is healthy; retry later.",
            "type": "service_unavailable",
            "param": None,
            "code": None,
        },
        {"retry-after": "5"},
    ),
    (
        EngineDown("The engine is not running."),
        503,
        {"message": "The engine is not running.", "type": "service_unavailable", "param": None, "code": None},
        {},
    ),
    (
        EngineFailed("The engine failed."),
        500,
        {"message": "The engine failed.", "type": "server_error", "param": None, "code": None},
        {},
    ),
    (
        EngineFault("something else"),
        500,
        {"message": "something else", "type": "server_error", "param": None, "code": None},
        {},
    ),
]


@pytest.mark.parametrize(
    ("error", "status", "body", "headers"), AS_BEFORE, ids=[type(case[0]).__name__ for case in AS_BEFORE]
)
def test_the_client_gets_what_it_got_before(
    error: EngineFault, status: int, body: dict[str, object], headers: dict[str, str]
) -> None:
    response = error_response(from_engine_error(error))
    assert response.status_code == status
    assert json.loads(bytes(response.body)) == {"error": body}
    assert {name: value for name, value in response.headers.items() if name == "retry-after"} == headers


def test_every_engine_error_class_is_among_the_cases_above() -> None:
    assert {type(case[0]) for case in AS_BEFORE} == set(engine_error_classes())


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 8192 tokens.",
        "The decoder prompt (length 9000) is longer than the maximum model length of 8192.",
        "prompt exceeds the model's context length",
    ],
)
def test_vllms_ways_of_saying_the_prompt_is_too_long_are_recognised(message: str) -> None:
    assert is_context_overflow(message)


def test_other_messages_are_not_context_overflows() -> None:
    assert not is_context_overflow("n must be 1 when using greedy sampling")
