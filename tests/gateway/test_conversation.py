"""OpenAI messages → template turns: roles, parts in order, media loaded in place, and the image limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from adapters.engine import Turn
from adapters.images import ImageBudget
from gateway import protocol as wire
from gateway.conversation import load_turns
from gateway.errors import InvalidRequest
from gateway.media.fetch import FetchPolicy, MediaFetcher
from gateway.media.loader import MediaLimits, MediaLoader
from tests.fakes import FakeEngine
from tests.images import data_url, image_part, make_image, make_pdf

BUDGET = ImageBudget(min_pixels=32 * 32, max_pixels=256 * 256, factor=32)
LIMITS = MediaLimits(max_bytes=2**20, max_decoded_pixels=50_000_000, max_pdf_pages=5, pdf_timeout=30)
PNG_PART = image_part(make_image(64, 48, seed=1))


def turns_of(messages: list[dict[str, Any]], max_images: int = 4) -> list[Turn]:
    request = wire.ChatCompletionRequest.model_validate({"messages": messages})

    async def run() -> list[Turn]:
        fetcher = MediaFetcher(FetchPolicy(remote_media=False))
        try:
            return await load_turns(request.messages, MediaLoader(BUDGET, LIMITS, fetcher), max_images)
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def refusal(messages: list[dict[str, Any]], max_images: int = 4) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as refused:
        turns_of(messages, max_images)
    return refused.value


def pdf_part(pages: int) -> dict[str, Any]:
    pdf = make_pdf([make_image(80, 60, seed=page) for page in range(pages)])
    return {"type": "file", "file": {"file_data": data_url(pdf, "application/pdf"), "filename": "scan.pdf"}}


def test_each_message_becomes_one_turn_with_its_role_and_text() -> None:
    turns = turns_of(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Plain "}, {"type": "text", "text": "text."}]},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": None},
            {"role": "assistant", "content": "Hi"},
        ]
    )
    assert turns == [
        Turn("system", ["Be brief."]),
        Turn("system", ["Plain text."]),
        Turn("user", ["Hello"]),
        Turn("assistant", [""]),
        Turn("assistant", ["Hi"]),
    ]


def test_user_parts_keep_their_order_and_images_arrive_model_ready() -> None:
    [turn] = turns_of(
        [{"role": "user", "content": [{"type": "text", "text": "Before"}, PNG_PART, {"type": "text", "text": "after"}]}]
    )
    before, image, after = turn.parts
    assert (turn.role, before, after) == ("user", "Before", "after")
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    assert image.width % BUDGET.factor == 0 and image.height % BUDGET.factor == 0


def test_a_pdf_file_part_becomes_its_pages_in_place() -> None:
    [turn] = turns_of([{"role": "user", "content": [pdf_part(3), {"type": "text", "text": "Read it"}]}])
    assert [type(part) for part in turn.parts] == [Image.Image, Image.Image, Image.Image, str]


def test_images_are_counted_across_the_conversation_before_any_is_loaded() -> None:
    broken = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    error = refusal(
        [{"role": "user", "content": [broken, broken]}, {"role": "user", "content": [broken]}], max_images=2
    )
    assert (error.param, str(error)) == ("messages", "At most 2 images per request.")


def test_pdf_pages_count_as_images() -> None:
    error = refusal([{"role": "user", "content": [PNG_PART, pdf_part(3)]}], max_images=3)
    assert error.param == "messages" and "4 images and PDF pages; at most 3" in str(error)


def test_a_file_part_without_file_data_is_refused_naming_the_field() -> None:
    by_id = {"type": "file", "file": {"file_id": "file-abc123"}}
    error = refusal([{"role": "user", "content": "Hi"}, {"role": "user", "content": [PNG_PART, by_id]}])
    assert error.param == "messages[1].content[1].file.file_data" and "file_data" in str(error)


def test_a_bad_image_is_refused_naming_its_part() -> None:
    bad = {"type": "image_url", "image_url": {"url": data_url(b"not an image")}}
    error = refusal(
        [{"role": "user", "content": "Hi"}, {"role": "user", "content": [{"type": "text", "text": "x"}, bad]}]
    )
    assert error.param == "messages[1].content[1].image_url.url"


def test_a_file_part_without_file_data_is_a_400_in_openai_shape(api: TestClient, fake_engine: FakeEngine) -> None:
    content = [{"type": "file", "file": {"file_id": "file-abc123", "filename": "a.pdf"}}]
    response = api.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": content}]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", "messages[0].content[0].file.file_data")
    assert fake_engine.requests == []


def test_inline_pdf_pages_reach_the_engine_as_images(api: TestClient, fake_engine: FakeEngine) -> None:
    pdf = make_pdf([make_image(80, 60, seed=page) for page in range(2)])
    content = [
        {"type": "file", "file": {"file_data": data_url(pdf, "application/pdf")}},
        {"type": "text", "text": "Hi"},
    ]
    response = api.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": content}]})
    assert response.status_code == 200, response.text
    assert len(fake_engine.requests[-1].images) == 2
