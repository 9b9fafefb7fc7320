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
   image after the first gets another image's embeddings. We split it by
   each image's token count, computed from its grid as the processor does.
3. A broken system prompt through vLLM's OpenAI server: HunyuanOCR's chat
   template iterates over user content parts, so vLLM hands every message's
   content to it as a list of parts — but the template prints system (and
   assistant) content as one string, and the empty system message HunyuanOCR's
   clients send renders as ``[{'type': 'text', 'text': ''}]``. For
   ``hunyuan_vl`` we pass text-only system and assistant content as one string,
   as vLLM already does for tool messages, so the server's prompt equals the
   template's (and the gateway's ``upstream`` engine gets the same answers as
   its in-process one).
4. Engine processes outliving a SIGKILLed gateway: vLLM's EngineCore does not
   watch its parent, so it and its Workers lived on under init, holding the
   model's memory. Each process vLLM starts asks the kernel to kill it when its
   parent dies (``adapters/parent_death.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from adapters import parent_death
from adapters.hunyuan_compat import install_pil_image_processor

logger = logging.getLogger(__name__)


def register() -> None:
    """Entry point vLLM calls in each of its processes; a fix that cannot apply is skipped, never fatal."""
    for fix in (
        parent_death.install,
        install_pil_image_processor,
        _make_cpu_gemm_accept_strided_inputs,
        _split_hunyuan_images_by_tokens,
        _pass_hunyuan_text_turns_as_strings,
    ):
        try:
            fix()
        except Exception:  # a vLLM or transformers we do not know must not stop vLLM from starting
            logger.warning("hunyuan-ocr-gateway: vLLM fix %s not applied", fix.__name__, exc_info=True)


def _make_cpu_gemm_accept_strided_inputs() -> None:
    from vllm.model_executor.layers import utils
    from vllm.platforms import current_platform

    if not current_platform.is_cpu() or getattr(utils.cpu_unquantized_gemm, "accepts_strided", False):
        return
    original = utils.cpu_unquantized_gemm

    def cpu_unquantized_gemm(layer: Any, x: Any, weight: Any, bias: Any = None) -> Any:
        return original(layer, x if x.stride(-1) == 1 else x.contiguous(), weight, bias)

    cpu_unquantized_gemm.accepts_strided = True  # type: ignore[attr-defined]
    # dispatch_unquantized_gemm() looks this name up each time it is called.
    setattr(utils, "cpu_unquantized_gemm", cpu_unquantized_gemm)


def _split_hunyuan_images_by_tokens() -> None:
    from vllm.model_executor.models.transformers.multimodal import MultiModalMixin

    original = MultiModalMixin._process_vision_input
    if getattr(original, "splits_by_tokens", False):
        return

    def _process_vision_input(self: Any, modality: str, pixel_values: Any, num_patches: Any, **kwargs: Any) -> Any:
        grid = kwargs.get(f"{modality}_grid_thw")
        if (
            getattr(self.config, "model_type", None) != "hunyuan_vl"
            or grid is None
            or not hasattr(pixel_values, "split")
        ):
            return original(self, modality, pixel_values, num_patches, **kwargs)
        # One encoder call for the whole batch, split by each image's own token count:
        # (h/m)·(w/m + 1) merged tokens (a newline per row) plus its begin and end tokens.
        merge = self.config.vision_config.spatial_merge_size
        counts = [(int(h) // merge) * (int(w) // merge + 1) + 2 for _, h, w in grid.tolist()]
        features = self._get_features(modality, pixel_values, **kwargs)
        return list(features.reshape(-1, features.shape[-1]).split(counts))

    _process_vision_input.splits_by_tokens = True  # type: ignore[attr-defined]
    setattr(MultiModalMixin, "_process_vision_input", _process_vision_input)


def _pass_hunyuan_text_turns_as_strings() -> None:
    from vllm.renderers import chat_utils

    original = chat_utils._parse_chat_message_content
    if getattr(original, "strings_for_hunyuan", False):
        return

    def _parse_chat_message_content(message: Any, mm_tracker: Any, *args: Any, **kwargs: Any) -> Any:
        parsed = original(message, mm_tracker, *args, **kwargs)
        if getattr(mm_tracker.model_config.hf_config, "model_type", None) != "hunyuan_vl":
            return parsed
        for turn in parsed:
            content = turn.get("content")
            if turn["role"] in ("system", "assistant") and isinstance(content, list):
                if all(isinstance(part, dict) and part.get("type") == "text" for part in content):
                    turn["content"] = "".join(part["text"] for part in content)
        return parsed

    _parse_chat_message_content.strings_for_hunyuan = True  # type: ignore[attr-defined]
    # parse_chat_messages() looks this name up each time it is called.
    setattr(chat_utils, "_parse_chat_message_content", _parse_chat_message_content)
