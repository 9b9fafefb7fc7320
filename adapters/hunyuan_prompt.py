"""Chat turns → the engine prompt, through the checkpoint's own chat template.

Image parts become exactly the image tokens the model was trained with
(start + image + end); the processor in the engine expands them per image.
HunyuanOCR's official clients always send a system message (empty by
default), so one is added when the request has none; it also stays a stable
prefix that prefix caching can reuse.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from PIL import Image

from adapters.engine import EnginePrompt, Turn
from adapters.errors import RequestRejected
from adapters.hunyuan_compat import install_pil_image_processor
from adapters.images import ImageBudget

# HunyuanOCR stops on both of these (its files disagree on which one ends a turn).
TURN_END_TOKENS = ("<｜hy_Assistant｜>", "<｜hy_place▁holder▁no▁2｜>")


class HunyuanPromptBuilder:
    """Renders turns with the processor's chat template and knows the model's stop tokens."""

    def __init__(self, model_path: str, *, trust_remote_code: bool = False) -> None:
        install_pil_image_processor()
        from transformers import AutoProcessor

        self._processor: Any = AutoProcessor.from_pretrained(model_path, trust_remote_code=trust_remote_code)
        config_path = Path(model_path) / "config.json"
        self.model_config: dict[str, Any] = json.loads(config_path.read_text()) if config_path.is_file() else {}
        tokenizer = self._processor.tokenizer
        special = {str(token) for token in tokenizer.added_tokens_decoder.values() if token.special}
        special.update(token for token in tokenizer.all_special_tokens if len(token) > 1)
        self._control_tokens = re.compile("|".join(map(re.escape, sorted(special, key=len, reverse=True))))
        vocab = tokenizer.get_vocab()
        self.stop_token_ids = sorted({vocab[token] for token in TURN_END_TOKENS if token in vocab})

    def image_budget(self) -> ImageBudget:
        """The model's image size rules, read from its image processor."""
        processor = self._processor.image_processor
        size = processor.size
        return ImageBudget(
            min_pixels=int(size["shortest_edge"]),
            max_pixels=int(size["longest_edge"]),
            factor=int(processor.patch_size * processor.merge_size),
        )

    def build(self, turns: list[Turn]) -> EnginePrompt:
        """The prompt text in the model's template and the images in prompt order."""
        added_system = not turns or turns[0].role != "system"
        if added_system:
            turns = [Turn("system", [""]), *turns]
        messages = []
        images: list[Image.Image] = []
        for index, turn in enumerate(turns):
            content: list[dict[str, str]] = []
            for part in turn.parts:
                if isinstance(part, str):
                    self._reject_control_tokens(part, index - added_system)
                    content.append({"type": "text", "text": part})
                else:
                    images.append(part)
                    content.append({"type": "image"})
            # HunyuanOCR's template reads system and assistant content as one string.
            if turn.role == "user":
                messages.append({"role": "user", "content": content})
            else:
                messages.append({"role": turn.role, "content": "".join(part["text"] for part in content)})
        text = self._processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return EnginePrompt(text=text, images=images, turns=turns)

    def _reject_control_tokens(self, text: str, message_index: int) -> None:
        # Text is tokenized with special tokens enabled; a user's "<｜hy_User｜>" would end the turn.
        if found := self._control_tokens.search(text):
            raise RequestRejected(
                f"Message text contains the model's control token {found.group()!r}, which is not allowed.",
                param=f"messages[{message_index}].content",
            )
