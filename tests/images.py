"""Seeded test images and data URLs."""

from __future__ import annotations

import base64
import io
import random

from PIL import Image, ImageDraw, ImageFont


def make_image(width: int, height: int, seed: int) -> Image.Image:
    """A deterministic RGB image with a coloured background and random strokes, different per seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), tuple(rng.randint(0, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        box = sorted(rng.randint(0, width - 1) for _ in range(2)), sorted(rng.randint(0, height - 1) for _ in range(2))
        draw.rectangle(
            [box[0][0], box[1][0], box[0][1], box[1][1]], outline=tuple(rng.randint(0, 255) for _ in range(3))
        )
    return image


def encode(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_part(image: Image.Image) -> dict:
    return {"type": "image_url", "image_url": {"url": data_url(encode(image))}}


def make_pdf(pages: list[Image.Image]) -> bytes:
    """A PDF with one page per image."""
    buffer = io.BytesIO()
    pages[0].save(buffer, "PDF", save_all=True, append_images=pages[1:])
    return buffer.getvalue()


def render_text(lines: list[str], font_path: str, size: int) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """Black text lines on white in a ``size``-pixel font, half a line apart; also each line's ink box."""
    font = ImageFont.truetype(font_path, size)
    width = max(int(font.getlength(line)) for line in lines) + 2 * size
    image = Image.new("RGB", (width, 2 * size + len(lines) * size * 3 // 2), "white")
    draw = ImageDraw.Draw(image)
    boxes = []
    for index, line in enumerate(lines):
        position = (size, size + index * size * 3 // 2)
        draw.text(position, line, font=font, fill="black")
        left, top, right, bottom = draw.textbbox(position, line, font=font)
        boxes.append((int(left), int(top), int(right), int(bottom)))
    return image, boxes
