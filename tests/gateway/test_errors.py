"""Validation errors name the offending ``param`` the way OpenAI does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.errors import ClientError, GatewayError, ServerError, from_validation_error
from gateway.protocol import ChatCompletionRequest


def first_error(body: dict) -> tuple[str | None, str]:
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate(body)
    error = from_validation_error(caught.value)
    return error.param, error.message


def test_missing_messages_names_messages() -> None:
    assert first_error({})[0] == "messages"


def test_unknown_part_type_names_the_type_field() -> None:
    param, message = first_error({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]})
    assert param == "messages[0].content[0].type"
    assert "input_audio" in message


def test_missing_image_url_names_the_nested_field() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}
    assert first_error(body)[0] == "messages[0].content[0].image_url.url"


def test_unknown_role_names_the_role() -> None:
    assert first_error({"messages": [{"role": "robot", "content": "x"}]})[0] == "messages[0].role"


@pytest.mark.parametrize("field,value", [("max_tokens", 0), ("n", 0), ("top_p", 0), ("temperature", -1)])
def test_out_of_range_numbers_name_their_field(field: str, value: float) -> None:
    assert first_error({"messages": [{"role": "user", "content": "x"}], field: value})[0] == field


def test_every_error_class_is_a_client_or_server_error_with_matching_status() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]

    for cls in subclasses(GatewayError)[1:]:
        assert issubclass(cls, ClientError) != issubclass(cls, ServerError), cls
        assert (400 <= cls.status_code < 500) == issubclass(cls, ClientError), cls


def test_union_branch_labels_never_reach_the_param() -> None:
    assert first_error({"messages": [{"role": "user", "content": "x"}], "stop": 5})[0] == "stop"
    param, message = first_error({"messages": [{"role": "user", "content": []}]})
    assert param == "messages[0].content" and "at least 1" in message
