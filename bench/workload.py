"""The requests every system gets: screenshots or 12 MP photos with HunyuanOCR's own text-extraction prompt.

The instruction is the official prompt the gateway would choose for "extract the text", so every system sees
the same prompt tokens and (greedy) writes the same answer: throughput numbers compare like with like.
"""

from __future__ import annotations

import base64
import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench.media import jpeg, photo_like_image

INSTRUCTION = "Extract the text in the image."
FOLLOW_UP = "What is the title of this document?"
MAX_TOKENS = 64


@dataclass(frozen=True)
class ImageKind:
    name: str
    mime: str


SCREENSHOT = ImageKind("screenshot", "image/png")
PHOTO = ImageKind("photo-12mp", "image/jpeg")
KINDS = {kind.name: kind for kind in (SCREENSHOT, PHOTO)}


def screenshot_png(seed: int) -> bytes:
    """A 1280×800 screenshot-like page: a title bar and lines of text that differ per seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 1280, 48], fill=(40, 60, 90))
    draw.text((16, 16), f"Invoice {seed:05d}", fill="white")
    for row in range(30):
        words = " ".join(rng.choice(("total", "date", "amount", "item", "tax", "paid", "due")) for _ in range(12))
        draw.text((24, 64 + row * 24), f"{row + 1:02d}. {words} {rng.randint(0, 99999)}", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


class Workload:
    """Request images by index; the photos are files made once (``make_photos``) and shared by all processes."""

    def __init__(self, photo_dir: Path, photos: int) -> None:
        self._photo_dir = photo_dir
        self.photos = photos  # 12 MP JPEGs are costly to make; requests cycle through this many

    def make_photos(self) -> None:
        self._photo_dir.mkdir(parents=True, exist_ok=True)
        base = np.asarray(photo_like_image())  # one costly picture; the others are shifted copies of it
        for seed in range(self.photos):
            path = self._photo_dir / f"photo-{seed}.jpg"
            if not path.exists():
                shifted = np.roll(base, (seed * 31, seed * 97), axis=(0, 1))
                path.write_bytes(jpeg(Image.fromarray(shifted, "RGB")))

    def image_bytes(self, kind: ImageKind, index: int) -> bytes:
        if kind is SCREENSHOT:
            return screenshot_png(index)
        photo = (self._photo_dir / f"photo-{index % self.photos}.jpg").read_bytes()
        # Bytes after the JPEG's end marker change no pixel but make every request's file its own: no
        # server may skip decoding a photo because it saw the same bytes before.
        return photo + index.to_bytes(8, "big")

    def data_url(self, kind: ImageKind, index: int) -> str:
        return f"data:{kind.mime};base64,{base64.b64encode(self.image_bytes(kind, index)).decode()}"


def messages(url: str, answer: str | None = None) -> list[dict]:
    """The first turn, or (with the first answer) the follow-up turn about the same image."""
    first = [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": INSTRUCTION}],
        }
    ]
    if answer is None:
        return first
    return [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": FOLLOW_UP}]
