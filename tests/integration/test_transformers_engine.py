"""``ocr-gateway serve --engine transformers`` through HTTP: what differs from the vLLM engine, and aborts."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import Gateway
from tests.images import image_part, make_image


def ocr_messages(seed: int) -> list[dict]:
    content = [image_part(make_image(100, 100, seed=seed)), {"type": "text", "text": "Extract all text."}]
    return [{"role": "user", "content": content}]


def test_json_response_format_is_refused_with_a_400_naming_the_engine(
    transformers_client: OpenAI, transformers_gateway: Gateway
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        transformers_client.chat.completions.create(
            model=transformers_gateway.model,
            messages=[{"role": "user", "content": "Give me JSON."}],
            response_format={"type": "json_object"},
            max_tokens=8,
        )
    error = raised.value.body
    assert isinstance(error, dict)
    assert "transformers engine does not support constrained decoding" in error["message"]
    assert error["param"] == "response_format"


def test_client_that_disconnects_mid_stream_stops_its_generation_and_the_engine_keeps_serving(
    transformers_client: OpenAI, transformers_gateway: Gateway
) -> None:
    # This image's answer runs to max_tokens (8,000 tokens: tens of seconds) without stopping on its own.
    body = {"messages": ocr_messages(seed=7), "max_tokens": 8000, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{transformers_gateway.base_url}/chat/completions", json=body) as response:
        lines = response.iter_lines()
        assert any(next(lines).startswith("data: ") for _ in range(6))
        assert transformers_gateway.unfinished_requests() == 1
    assert transformers_gateway.wait_for_engine_idle(timeout=10) == 0  # stopped at the next step, long before 8,000
    completion = transformers_client.chat.completions.create(
        model=transformers_gateway.model, messages=ocr_messages(seed=8), max_tokens=8, temperature=0
    )
    assert completion.usage is not None and completion.usage.completion_tokens > 0
