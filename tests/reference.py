"""transformers ``generate`` on the same checkpoint: the reference the gateway's answers must equal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from adapters.hunyuan_compat import install_pil_image_processor


class TransformersReference:
    """Greedy decoding with HF's own processor and chat template (HunyuanOCR's official way)."""

    def __init__(self, checkpoint: Path) -> None:
        install_pil_image_processor()
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self._torch = torch
        self.processor: Any = AutoProcessor.from_pretrained(checkpoint)
        self.model: Any = AutoModelForImageTextToText.from_pretrained(checkpoint, dtype=torch.float32).eval()

    def inputs(self, messages: list[dict[str, Any]], images: list[Image.Image]) -> Any:
        """Processor inputs for HF-format messages; an empty system message first, as official clients send."""
        if messages[0]["role"] != "system":
            messages = [{"role": "system", "content": ""}, *messages]
        prompt = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.processor(text=[prompt], images=images or None, return_tensors="pt")

    def generate(self, messages: list[dict[str, Any]], images: list[Image.Image], max_new_tokens: int) -> str:
        inputs = self.inputs(messages, images)
        with self._torch.no_grad():
            output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return str(self.processor.decode(new_tokens, skip_special_tokens=True))


def user_turn(*parts: Image.Image | str) -> dict[str, Any]:
    """An HF-format user message: images as ``{"type": "image"}``, strings as text."""
    content = [{"type": "image"} if isinstance(part, Image.Image) else {"type": "text", "text": part} for part in parts]
    return {"role": "user", "content": content}
