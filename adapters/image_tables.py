"""HunyuanOCR's image preprocessing through a lookup table: the same pixel values, at about half the CPU.

transformers' ``HunYuanVLImageProcessorPil`` turns each uint8 pixel into float64, scales, casts, subtracts the
channel's mean and divides by its standard deviation, then rearranges the floats into patches: several passes
over a 24 MB array per 1280×800 image, on vLLM's single multimodal-processing thread. A uint8 value has 256
possibilities per channel, so this module runs the processor's own ``rescale`` and ``normalize`` once on those
256 values (a table of 3×256 floats, bit-identical to what they give per pixel: the operations are
elementwise), rearranges the uint8 pixels into patches (a quarter of the bytes) and looks each one up.

``install()`` puts it in place of the processor's ``_preprocess`` in this process (the gateway's own engines),
for uint8 RGB images; anything else goes the original way. tests/adapters/test_image_tables.py checks the
result equal to transformers' byte for byte.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def _table(processor: Any, rescale: bool, factor: float, normalize: bool, mean: Any, std: Any) -> np.ndarray:
    """Every uint8 value of each channel through the processor's own rescale and normalize: (3, 256) floats."""
    values = np.broadcast_to(np.arange(256, dtype=np.uint8), (3, 1, 256)).copy()
    image: np.ndarray = values
    if rescale:
        image = processor.rescale(image, factor)
    if normalize:
        image = processor.normalize(image, mean, std)
    return np.ascontiguousarray(image.reshape(3, 256), dtype=np.float32)  # what the processor's patchify casts to


def patches_by_table(
    image: np.ndarray, table: np.ndarray, patch_size: int, merge_size: int, temporal_patch_size: int
) -> tuple[np.ndarray, int, int]:
    """A uint8 (3, H, W) image → (grid_h × grid_w, 3 × T × P × P) float patches in the processor's order."""
    channels, height, width = image.shape
    grid_h, grid_w = height // patch_size, width // patch_size
    count, area = grid_h * grid_w, patch_size * patch_size
    # Each channel's pixels in patch order (gh, mh, gw, mw, ph, pw), still uint8: a quarter of the bytes to move.
    blocks = image.reshape(
        channels, grid_h // merge_size, merge_size, patch_size, grid_w // merge_size, merge_size, patch_size
    ).transpose(0, 1, 2, 4, 5, 3, 6)
    blocks = np.ascontiguousarray(blocks).reshape(channels, count, area)
    out = np.empty((count, channels, temporal_patch_size, area), dtype=table.dtype)
    for channel in range(channels):
        values = table[channel].take(blocks[channel])
        for frame in range(temporal_patch_size):  # a still image repeats in every frame, as the processor's does
            out[:, channel, frame, :] = values
    return out.reshape(count, -1), grid_h, grid_w


def install() -> bool:
    """Use the table in this process's HunyuanOCR image processor; False (and nothing changed) when this
    transformers has no such processor or a ``_preprocess`` of another shape."""
    try:
        from transformers.feature_extraction_utils import BatchFeature
        from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import HunYuanVLImageProcessorPil
    except ImportError:
        return False
    original = HunYuanVLImageProcessorPil._preprocess
    if getattr(original, "by_table", False):
        return True
    if original.__code__.co_varnames[1:14] != _EXPECTED_PARAMETERS:
        logger.warning("transformers' HunYuanVL image processor changed: images are preprocessed its own way")
        return False

    def _preprocess(
        self: Any,
        images: list[np.ndarray],
        do_resize: bool,
        size: Any,
        resample: Any,
        do_rescale: bool,
        rescale_factor: float,
        do_normalize: bool,
        image_mean: Any,
        image_std: Any,
        patch_size: int,
        temporal_patch_size: int,
        merge_size: int,
        return_tensors: Any,
        **kwargs: Any,
    ) -> Any:
        own_steps = type(self).patchify is HunYuanVLImageProcessorPil.patchify  # a subclass's own patchify: theirs
        if not own_steps or not all(
            image.dtype == np.uint8 and image.ndim == 3 and image.shape[0] == 3 for image in images
        ):
            return original(
                self, images, do_resize, size, resample, do_rescale, rescale_factor, do_normalize, image_mean,
                image_std, patch_size, temporal_patch_size, merge_size, return_tensors, **kwargs,
            )  # fmt: skip
        table = _table(self, do_rescale, rescale_factor, do_normalize, image_mean, image_std)
        all_patches, all_grids = [], []
        for image in images:
            if do_resize:
                image = self.resize(image, size=size, resample=resample, factor=patch_size * merge_size)
            patches, grid_h, grid_w = patches_by_table(image, table, patch_size, merge_size, temporal_patch_size)
            all_patches.append(patches)
            all_grids.append([1, grid_h, grid_w])
        pixel_values = all_patches[0] if len(all_patches) == 1 else np.concatenate(all_patches, axis=0)
        image_grid_thw = np.array(all_grids, dtype=np.int64)
        return BatchFeature(
            data={"pixel_values": pixel_values, "image_grid_thw": image_grid_thw}, tensor_type=return_tensors
        )

    _preprocess.by_table = True  # type: ignore[attr-defined]
    _preprocess.original = original  # type: ignore[attr-defined]
    HunYuanVLImageProcessorPil._preprocess = _preprocess  # type: ignore[method-assign]
    return True


_EXPECTED_PARAMETERS = (
    "images",
    "do_resize",
    "size",
    "resample",
    "do_rescale",
    "rescale_factor",
    "do_normalize",
    "image_mean",
    "image_std",
    "patch_size",
    "temporal_patch_size",
    "merge_size",
    "return_tensors",
)
