"""Fixes for transformers' HunYuanVL, applied from outside the library.

1. The image processor, loadable on machines without torchvision.
transformers registers two image processors for ``hunyuan_vl``: a torchvision
one and a PIL one. The PIL one is decorated as needing torchvision too (it does
not: it only uses numpy and Pillow), so without torchvision — the CPU install,
where PyPI's CUDA-linked torchvision cannot be used — ``AutoProcessor`` gets a
placeholder that refuses to load. We point transformers' lazy module at the
real PIL class. Nothing changes where torchvision is installed.

2. Image numbering in a batch. The third multimodal-RoPE axis numbers a
prompt's images 0, 1, 2…; transformers 5.19's ``get_rope_index`` keeps
counting across the prompts of a batch, so every prompt after the first gets
positions it would not get alone (or in vLLM), and answers drift.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any


def install_pil_image_processor() -> None:
    """Expose the real PIL HunYuanVL image processor when torchvision is absent."""
    if importlib.util.find_spec("torchvision") is not None:
        return
    import transformers

    # import_module, not `from package import submodule`: the lazy package
    # would hand back its placeholder.
    pil_module = importlib.import_module("transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl")
    real_class = pil_module.HunYuanVLImageProcessorPil
    # The lazy `transformers` module resolves attributes from its own cache
    # first, then from the submodule; seed both so every lookup path agrees.
    for package in (transformers, importlib.import_module("transformers.models.hunyuan_vl")):
        setattr(package, "HunYuanVLImageProcessorPil", real_class)


def number_images_per_prompt(model: Any) -> None:
    """Make ``model`` (a ``HunYuanVLForConditionalGeneration``) number images per prompt in batched RoPE."""
    import torch

    inner = model.model
    batch_wide = inner.get_rope_index

    def get_rope_index(
        input_ids: torch.Tensor,
        mm_token_type_ids: torch.Tensor,
        image_grid_thw: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if image_grid_thw is None or input_ids.shape[0] == 1:
            return batch_wide(input_ids, mm_token_type_ids, image_grid_thw, attention_mask, **kwargs)
        positions, deltas, first = [], [], 0
        for row, types in enumerate(mm_token_type_ids):
            images = int((types[0] == 1) + ((types[1:] == 1) & (types[:-1] != 1)).sum())  # runs of image tokens
            mask = None if attention_mask is None else attention_mask[row : row + 1]
            grid = image_grid_thw[first : first + images] if images else None
            row_positions, row_delta = batch_wide(input_ids[row : row + 1], types[None], grid, mask, **kwargs)
            positions.append(row_positions)
            deltas.append(row_delta)
            first += images
        return torch.cat(positions, dim=1), torch.cat(deltas)

    inner.get_rope_index = get_rope_index
