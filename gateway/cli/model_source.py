"""Find the model's files: a local checkpoint folder, or a hub id resolved through the local cache/hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class ModelUnavailable(Exception):
    """The model cannot be loaded; the message tells the user what to do."""


# The files whose ``auto_map`` names code the checkpoint ships for transformers to import.
CODE_MAP_FILES = ("config.json", "processor_config.json", "preprocessor_config.json", "tokenizer_config.json")
# Weight files, which a gateway whose engine runs elsewhere does not need.
WEIGHT_PATTERNS = ["*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf"]


def resolve_model(model: str, revision: str | None = None, *, weights: bool = True) -> str:
    """A local directory holding the checkpoint named by ``model`` (downloading it if the hub is reachable;
    without its weights when ``weights`` is false)."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelUnavailable(f"{path} is a folder but holds no config.json, so it is not a model checkpoint.")
        return str(path.resolve())
    if model.startswith(("/", ".", "~")) or path.suffix:
        raise ModelUnavailable(_how_to(model, "no such folder"))
    try:
        from huggingface_hub import snapshot_download

        # Only the top level: HunyuanOCR's repo keeps other versions in sub-folders.
        ignore = ["*/*"] + ([] if weights else WEIGHT_PATTERNS)
        return str(snapshot_download(model, revision=revision, ignore_patterns=ignore, etag_timeout=10))
    except Exception as error:  # any hub/network/cache failure means the same thing to the user
        raise ModelUnavailable(_how_to(model, f"{type(error).__name__}: {error}".splitlines()[0])) from None


def _how_to(model: str, reason: str) -> str:
    return (
        f"Cannot load the model {model!r} ({reason}). The gateway needs HunyuanOCR's weights on this machine: "
        "download the tencent/HunyuanOCR repository where you have internet access (for example with "
        "`huggingface-cli download tencent/HunyuanOCR --local-dir ./HunyuanOCR`), copy that folder here, and start "
        "the server with `ocr-gateway serve --model ./HunyuanOCR` (or OCR_GATEWAY_MODEL=./HunyuanOCR make serve). "
        "Any local folder with a HunYuanVL checkpoint works, including the tiny test checkpoint written by "
        "`python tests/tiny_checkpoint.py OUT_DIR`."
    )


def shipped_code(model_path: str) -> list[str]:
    """The Python files a local checkpoint ships for transformers to run (its ``auto_map`` entries, at any depth:
    transformers 5 writes a processor's parts nested, ``"image_processor": {"auto_map": …}``), sorted."""
    modules = set()
    for name in CODE_MAP_FILES:
        for code_map in _code_maps(_read_json(Path(model_path) / name)):
            for references in code_map.values():
                for reference in references if isinstance(references, list) else [references]:
                    if isinstance(reference, str):  # "module.Class", or "other/repo--module.Class"
                        modules.add(reference.split("--")[-1].rsplit(".", 1)[0] + ".py")
    return sorted(modules)


def _code_maps(data: dict[str, Any]) -> list[dict[str, Any]]:
    maps = [data["auto_map"]] if isinstance(data.get("auto_map"), dict) else []
    return maps + [found for value in data.values() if isinstance(value, dict) for found in _code_maps(value)]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
