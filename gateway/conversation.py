"""OpenAI messages → template turns, with every image and PDF of the request loaded concurrently."""

from __future__ import annotations

import asyncio

from PIL import Image

from adapters.engine import Turn
from gateway import protocol as wire
from gateway.errors import InvalidRequest
from gateway.media.loader import MediaLoader


async def load_turns(messages: list[wire.Message], media: MediaLoader, max_images: int) -> list[Turn]:
    """The conversation as turns; at most ``max_images`` images and PDF pages in all."""
    references = [
        (index, part_index, part)
        for index, message in enumerate(messages)
        if isinstance(message, wire.UserMessage) and not isinstance(message.content, str)
        for part_index, part in enumerate(message.content)
        if not isinstance(part, wire.TextPart)
    ]
    if len(references) > max_images:
        raise InvalidRequest(f"At most {max_images} images per request.", param="messages")
    loaded = await asyncio.gather(*(_load(media, part, f"messages[{i}].content[{j}]") for i, j, part in references))
    if (count := sum(len(images) for images in loaded)) > max_images:
        raise InvalidRequest(f"The request holds {count} images and PDF pages; at most {max_images}.", param="messages")
    by_position = dict(zip(((i, j) for i, j, _ in references), loaded, strict=True))
    return [_turn(index, message, by_position) for index, message in enumerate(messages)]


def _turn(index: int, message: wire.Message, media: dict[tuple[int, int], list[Image.Image]]) -> Turn:
    if isinstance(message, wire.SystemMessage):
        return Turn("system", [wire.text_of(message.content)])
    if isinstance(message, wire.AssistantMessage):
        return Turn("assistant", [wire.text_of(message.content)])
    if isinstance(message.content, str):
        return Turn("user", [message.content])
    parts: list[str | Image.Image] = []
    for part_index, part in enumerate(message.content):
        parts.extend([part.text] if isinstance(part, wire.TextPart) else media[index, part_index])
    return Turn("user", parts)


async def _load(media: MediaLoader, part: wire.ImagePart | wire.FilePart, param: str) -> list[Image.Image]:
    if isinstance(part, wire.ImagePart):
        return await media.load(part.image_url.url, detail=part.image_url.detail, param=f"{param}.image_url.url")
    if part.file.file_data is None:
        raise InvalidRequest(
            "Only inline files are supported: send file.file_data as a data: URL.", param=f"{param}.file.file_data"
        )
    return await media.load(part.file.file_data, param=f"{param}.file.file_data")
