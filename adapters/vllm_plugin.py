"""vLLM general plugin: fixes for serving HunYuanVL (HunyuanOCR) on vLLM.

Registered under the ``vllm.general_plugins`` entry point, so vLLM loads it in
every one of its processes in this environment — our in-process engine and a
plain ``python -m vllm.entrypoints.openai.api_server`` alike. Each fix checks
that it applies and is a no-op otherwise.

1. CPU start-up crash: vLLM's oneDNN linear kernel requires a contiguous
   activation, but HunYuanVL's vision patch merger feeds its ``mlp`` a permuted
   view ("Expected a.stride(-1) == 1"). We hand the kernel a contiguous input
   (free when it already is).
2. Wrong answers for several images in one encoder batch: the Transformers
   modeling backend splits the concatenated vision output by each image's
   patch count (before the 2x2 merge) instead of its token count, so every
   image after the first gets another image's embeddings. We encode
   HunYuanVL images one at a time, which gives each its own exact tokens.
"""

from __future__ import annotations

import logging
from typing import Any

from adapters.hunyuan_compat import install_pil_image_processor

logger = logging.getLogger(__name__)


def register() -> None:
    """Entry point vLLM calls in each of its processes."""
    install_pil_image_processor()
    _make_cpu_gemm_accept_strided_inputs()
    _encode_hunyuan_images_one_by_one()


def _make_cpu_gemm_accept_strided_inputs() -> None:
    from vllm.model_executor.layers import utils
    from vllm.platforms import current_platform

    if not current_platform.is_cpu() or getattr(utils.cpu_unquantized_gemm, "accepts_strided", False):
        return
    original = utils.cpu_unquantized_gemm

    def cpu_unquantized_gemm(layer: Any, x: Any, weight: Any, bias: Any = None) -> Any:
        return original(layer, x.contiguous(), weight, bias)

    cpu_unquantized_gemm.accepts_strided = True  # type: ignore[attr-defined]
    # dispatch_unquantized_gemm() looks this name up when each layer is built.
    setattr(utils, "cpu_unquantized_gemm", cpu_unquantized_gemm)


def _encode_hunyuan_images_one_by_one() -> None:
    from vllm.model_executor.models.transformers.multimodal import MultiModalMixin

    original = MultiModalMixin._process_vision_input
    if getattr(original, "per_image", False):
        return

    def _process_vision_input(self: Any, modality: str, pixel_values: Any, num_patches: Any, **kwargs: Any) -> Any:
        if getattr(self.config, "model_type", None) != "hunyuan_vl" or not hasattr(pixel_values, "split"):
            return original(self, modality, pixel_values, num_patches, **kwargs)
        patch_counts = num_patches.flatten().tolist()
        embeddings = []
        for index, patches in enumerate(pixel_values.split(patch_counts)):
            item_kwargs = self._select_item_kwargs(kwargs, index, len(patch_counts))
            features = self._get_features(modality, patches, **item_kwargs)
            embeddings.append(features.reshape(-1, features.shape[-1]))
        return embeddings

    _process_vision_input.per_image = True  # type: ignore[attr-defined]
    setattr(MultiModalMixin, "_process_vision_input", _process_vision_input)
