"""The lookup-table preprocessing gives transformers' HunYuanVL pixel values byte for byte, for the images the
gateway hands over (RGB at the target size) and for those it does not (other sizes, modes, settings)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image
from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import HunYuanVLImageProcessorPil

from adapters import image_tables

RNG = np.random.default_rng(7)


def random_image(height: int, width: int, mode: str = "RGB") -> Image.Image:
    bands = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = RNG.integers(0, 256, (height, width, bands), dtype=np.uint8)
    return Image.fromarray(pixels[..., 0] if bands == 1 else pixels, mode)


IMAGES = {
    "screenshot at its size": random_image(800, 1280),
    "needs resizing": random_image(37, 53),
    "large photo": random_image(1536, 2048),
    "portrait": random_image(300, 200),
    "grey": random_image(100, 120, "L"),
    "with alpha": random_image(100, 120, "RGBA"),
}
PROCESSORS = {
    "HunyuanOCR's budget": {"min_pixels": 512 * 512, "max_pixels": 2048 * 2048},
    "the tiny checkpoint's": {"min_pixels": 32 * 32, "max_pixels": 256 * 256},
    "other mean and std": {"image_mean": [0.1, 0.2, 0.3], "image_std": [0.9, 0.5, 0.25]},
    "no normalising": {"do_normalize": False},
    "neither": {"do_normalize": False, "do_rescale": False},
}


class Both:
    """transformers' own ``_preprocess`` and the installed table's, on the processor class in turn."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        installed = HunYuanVLImageProcessorPil._preprocess  # an engine started in this process may have installed it
        self.original = getattr(installed, "original", installed)
        monkeypatch.setattr(HunYuanVLImageProcessorPil, "_preprocess", self.original)  # restored afterwards
        self.table_images = 0
        patches_by_table = image_tables.patches_by_table

        def counted(*args: Any, **kwargs: Any) -> tuple[np.ndarray, int, int]:
            self.table_images += 1
            return patches_by_table(*args, **kwargs)

        monkeypatch.setattr(image_tables, "patches_by_table", counted)
        assert image_tables.install() and image_tables.install()  # a second install changes nothing
        self.table = HunYuanVLImageProcessorPil._preprocess
        assert self.table is not self.original

    def run(self, processor: HunYuanVLImageProcessorPil, images: list[Image.Image], preprocess: Any) -> Any:
        HunYuanVLImageProcessorPil._preprocess = preprocess  # type: ignore[method-assign]
        return processor(images=images, return_tensors="np")

    def assert_equal(self, processor: HunYuanVLImageProcessorPil, images: list[Image.Image], name: str) -> None:
        ours, theirs = self.run(processor, images, self.table), self.run(processor, images, self.original)
        assert ours["pixel_values"].dtype == theirs["pixel_values"].dtype == np.float32, name
        assert np.array_equal(ours["pixel_values"], theirs["pixel_values"]), name
        assert np.array_equal(ours["image_grid_thw"], theirs["image_grid_thw"]), name


@pytest.mark.parametrize("settings", PROCESSORS.values(), ids=PROCESSORS.keys())
def test_pixel_values_are_transformers_own_byte_for_byte(
    settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    both, processor = Both(monkeypatch), HunYuanVLImageProcessorPil(**settings)
    for name, image in IMAGES.items():
        both.assert_equal(processor, [image], name)
    assert both.table_images == len(IMAGES)  # every image went through the table, none the original way


def test_several_images_in_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    both = Both(monkeypatch)
    processor = HunYuanVLImageProcessorPil(min_pixels=32 * 32, max_pixels=512 * 512)
    both.assert_equal(processor, [IMAGES["portrait"], IMAGES["needs resizing"], IMAGES["grey"]], "three")
    assert both.table_images == 3


def test_a_processor_of_another_shape_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def _preprocess(self: Any, images: list[np.ndarray], **kwargs: Any) -> Any:
        raise AssertionError("not called here")

    monkeypatch.setattr(HunYuanVLImageProcessorPil, "_preprocess", _preprocess)
    assert image_tables.install() is False
    assert HunYuanVLImageProcessorPil._preprocess is _preprocess
