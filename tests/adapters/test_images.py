"""The model's image size rules, as its own processor applies them."""

from __future__ import annotations

import pytest

from adapters.images import ImageBudget, smart_resize


def test_images_are_resized_exactly_as_the_model_processor_would() -> None:
    from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import smart_resize as reference

    for width, height in [(1, 1), (7, 300), (640, 480), (4000, 3000), (33, 1000), (2048, 31), (255, 257)]:
        expected_height, expected_width = reference(height, width, factor=32, min_pixels=1024, max_pixels=65536)
        assert smart_resize(width, height, 32, 1024, 65536) == (expected_width, expected_height)


def test_an_image_past_the_aspect_ratio_cap_has_no_target_size() -> None:
    with pytest.raises(ValueError):
        ImageBudget().target_size(201, 1)
