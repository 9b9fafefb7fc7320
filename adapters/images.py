"""The model's image size rules: what a prompt builder states and the gateway's media loader applies.

Every image reaches the engine already at the size the model's processor
would pick (the same arithmetic as HunyuanOCR's ``smart_resize``), so the
engine does no resizing of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

MAX_ASPECT_RATIO = 200  # HunyuanOCR's processor refuses anything longer
LOW_DETAIL_PIXELS = 512 * 512
Detail = Literal["auto", "low", "high"]
# Image.info key: an id of the image's pixels, set by whoever made them (the gateway: a hash of the file, the
# detail level and the page). Engines may hand it on so the pixels are not hashed again (vLLM's multimodal UUIDs).
CONTENT_ID = "content_id"


@dataclass(frozen=True)
class ImageBudget:
    """The model's image size rules: sides a multiple of ``factor``, area within [min, max], longest side capped."""

    min_pixels: int = 512 * 512
    max_pixels: int = 2048 * 2048
    factor: int = 32
    max_side: int = 2048

    def target_size(self, width: int, height: int, detail: Detail = "auto") -> tuple[int, int]:
        """(width, height) to resize to; raises ``ValueError`` past the aspect-ratio cap."""
        max_pixels = min(self.max_pixels, LOW_DETAIL_PIXELS) if detail == "low" else self.max_pixels
        if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
            raise ValueError("aspect ratio")
        scale = min(1.0, self.max_side / max(width, height))
        return smart_resize(width * scale, height * scale, self.factor, self.min_pixels, max_pixels)


def smart_resize(width: float, height: float, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """HunyuanOCR's (Qwen2-VL's) rule, as its image processor applies it; returns (width, height)."""
    h_bar, w_bar = round(height / factor) * factor, round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar
