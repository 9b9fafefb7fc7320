"""Write a tiny random HunyuanOCR-architecture checkpoint: ``python tests/tiny_checkpoint.py OUT_DIR [--size S]``.

The real transformers classes (``HunYuanVLConfig``,
``HunYuanVLForConditionalGeneration``, ``HunYuanVLProcessor`` and the PIL
image processor) with seeded random weights, so every engine loads it through
exactly the code path it uses for ``tencent/HunyuanOCR``. The special tokens
carry HunyuanOCR's real names and the chat template follows HunyuanOCR 1.0's
layout (role markers after the content, images wrapped start+image+end).

The vocabulary is one token per printable character: a random model then emits
valid text that compares exactly between engines (a byte-level vocabulary
would emit broken UTF-8 that servers hold back).
"""

from __future__ import annotations

import argparse
import json
import shutil
import string
from pathlib import Path

BOS = "<｜hy_begin▁of▁sentence｜>"
EOS = "<｜hy_place▁holder▁no▁2｜>"
END_OF_SYSTEM = "<｜hy_place▁holder▁no▁3｜>"
USER = "<｜hy_User｜>"
ASSISTANT = "<｜hy_Assistant｜>"
IMAGE_START = "<｜hy_place▁holder▁no▁100｜>"
IMAGE_END = "<｜hy_place▁holder▁no▁101｜>"
IMAGE = "<｜hy_place▁holder▁no▁102｜>"
IMAGE_NEWLINE = "<｜hy_place▁holder▁no▁103｜>"
PAD = "<｜hy_▁pad▁｜>"
UNK = "<｜hy_unk｜>"
SPECIAL_TOKENS = [PAD, UNK, BOS, EOS, END_OF_SYSTEM, USER, ASSISTANT, IMAGE_START, IMAGE_END, IMAGE, IMAGE_NEWLINE]

# HunyuanOCR 1.0's template: system text + end-of-system marker, then each turn's
# content followed by its role marker. Generation starts after `<｜hy_User｜>`.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{{ message['content'] }}" + END_OF_SYSTEM + "{% elif message['role'] == 'user' %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}"
    + IMAGE_START
    + IMAGE
    + IMAGE_END
    + "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}" + USER + "{% elif message['role'] == 'assistant' %}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}" + ASSISTANT + "{% endif %}"
    "{% endfor %}"
)

SEED = 1234

# Model sizes: "tiny" for tests (compute negligible); "medium" (~120M parameters, ~0.5 GB in float32) for
# benchmarks where the model's compute and the vision encoder's work are not negligible.
SIZES = {
    "tiny": {
        "text": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2},
        "vision": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2},
        "max_image_side": 256,
    },
    # The tiny model with HunyuanOCR's own image budget (up to 2048×2048): images keep their size, so the image
    # processor does real work (bench.frontend_cpu --image-budget real).
    "tiny-real-budget": {
        "text": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2},
        "vision": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2},
        "max_image_side": 2048,
    },
    "medium": {
        "text": {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 8, "num_attention_heads": 16},
        "vision": {"hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6, "num_attention_heads": 6},
        "max_image_side": 768,
    },
}


def _vocabulary() -> dict[str, int]:
    characters = sorted(set(string.printable) - set("\x0b\x0c\r"))
    tokens = SPECIAL_TOKENS + characters
    return {token: index for index, token in enumerate(tokens)}


def _write_tokenizer(out_dir: Path, vocab: dict[str, int]):  # noqa: ANN202 - transformers type
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    # Control tokens must be single tokens, never split into characters.
    backend.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=SPECIAL_TOKENS[4:],
        extra_special_tokens={
            "image_token": IMAGE,
            "image_start_token": IMAGE_START,
            "image_end_token": IMAGE_END,
        },
        chat_template=CHAT_TEMPLATE,
        model_max_length=8192,
    )
    tokenizer.save_pretrained(out_dir)
    return tokenizer


def _build_config(vocab: dict[str, int], size: dict):  # noqa: ANN202
    from transformers import HunYuanVLConfig

    text_config = {
        "vocab_size": len(vocab),
        **size["text"],
        "num_key_value_heads": 1,
        "head_dim": 64,
        "max_position_embeddings": 8192,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [8, 8, 8, 8]},
        "pad_token_id": vocab[PAD],
        "bos_token_id": vocab[BOS],
        "eos_token_id": vocab[EOS],
        "eod_token_id": vocab[EOS],
        "sep_token_id": vocab[END_OF_SYSTEM],
        "tie_word_embeddings": False,
    }
    vision_config = {
        **size["vision"],
        "out_hidden_size": size["text"]["hidden_size"],
        "patch_size": 16,
        "spatial_merge_size": 2,
        "max_image_size": size["max_image_side"],
        "min_image_size": 32,
    }
    config = HunYuanVLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=vocab[IMAGE],
        im_start_id=vocab[IMAGE_START],
        im_end_id=vocab[IMAGE_END],
        im_newline_id=vocab[IMAGE_NEWLINE],
        bos_token_id=vocab[BOS],
        eos_token_id=vocab[EOS],
        pad_token_id=vocab[PAD],
        tie_word_embeddings=False,
    )
    config.dtype = "float32"
    return config


def build(out_dir: Path, size: str = "tiny") -> Path:
    """Write the checkpoint (one of ``SIZES``) to ``out_dir`` and return it."""
    import torch
    from transformers import GenerationConfig, HunYuanVLForConditionalGeneration, HunYuanVLProcessor
    from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import HunYuanVLImageProcessorPil

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = _vocabulary()
    tokenizer = _write_tokenizer(out_dir, vocab)
    config = _build_config(vocab, SIZES[size])

    torch.manual_seed(SEED)
    model = HunYuanVLForConditionalGeneration(config).to(torch.float32).eval()
    with torch.no_grad():
        # Some parameters (the merger's begin/end/newline vectors) start as
        # torch.empty: give every parameter seeded values so runs agree.
        for parameter in model.parameters():
            parameter.normal_(0.0, 1.0)
        # Random output rows make a model loop on one special token; silence
        # all specials but EOS (kept weak) so it writes characters that vary
        # with the image, and sometimes stops on its own.
        lm_head = model.get_output_embeddings().weight
        lm_head[: len(SPECIAL_TOKENS)] = 0.0
        lm_head[vocab[EOS]] = lm_head[len(SPECIAL_TOKENS) :].mean(0) * 0.5
    model.generation_config = GenerationConfig(
        bos_token_id=vocab[BOS], eos_token_id=[vocab[EOS], vocab[ASSISTANT]], pad_token_id=vocab[PAD]
    )
    model.save_pretrained(out_dir)

    side = SIZES[size]["max_image_side"]
    image_processor = HunYuanVLImageProcessorPil(min_pixels=32 * 32, max_pixels=side * side)
    processor = HunYuanVLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out_dir)
    _rename_image_processor(out_dir)
    return out_dir


def _rename_image_processor(out_dir: Path) -> None:
    """Record the processor type the real checkpoint records, so loaders resolve it the same way."""
    path = out_dir / "processor_config.json"
    data = json.loads(path.read_text())
    data.get("image_processor", data)["image_processor_type"] = "HunYuanVLImageProcessor"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def with_shipped_code(checkpoint: Path, out_dir: Path, *, native: bool = False) -> Path:
    """A copy of ``checkpoint`` that ships its own configuration code, named in its config's ``auto_map`` as hub
    checkpoints do. ``native``: transformers knows the model type anyway and need not run the code; otherwise
    the type is one only the shipped code defines."""
    shutil.copytree(checkpoint, out_dir)
    module = "configuration_hunyuan_shipped"
    model_type = "hunyuan_vl" if native else "hunyuan_vl_shipped"
    (out_dir / f"{module}.py").write_text(
        "from transformers import HunYuanVLConfig\n\n\n"
        f"class ShippedConfig(HunYuanVLConfig):\n    model_type = {model_type!r}\n"
    )
    config_path = out_dir / "config.json"
    config = json.loads(config_path.read_text())
    config.update(model_type=model_type, auto_map={"AutoConfig": f"{module}.ShippedConfig"})
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return out_dir


def with_shipped_image_processor(checkpoint: Path, out_dir: Path) -> Path:
    """A copy of ``checkpoint`` whose image processor is code it ships, named where transformers 5 writes it: in
    ``processor_config.json``, nested, ``"image_processor": {"auto_map": …}``."""
    shutil.copytree(checkpoint, out_dir)
    module = "image_processing_shipped"
    (out_dir / f"{module}.py").write_text(
        "from transformers import HunYuanVLImageProcessor\n\n\n"
        "class ShippedImageProcessor(HunYuanVLImageProcessor):\n    pass\n"
    )
    path = out_dir / "processor_config.json"
    data = json.loads(path.read_text())
    data["image_processor"].update(
        image_processor_type="ShippedImageProcessor", auto_map={"AutoImageProcessor": f"{module}.ShippedImageProcessor"}
    )
    path.write_text(json.dumps(data, indent=2) + "\n")
    return out_dir


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write a random HunyuanOCR-architecture checkpoint.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    options = parser.parse_args()
    print(build(options.out_dir, options.size))
