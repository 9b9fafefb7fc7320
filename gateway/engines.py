"""``--engine``: the backend that serves, and the prompt builder for its model, built from the settings."""

from __future__ import annotations

from collections.abc import Callable

from adapters.engine import Engine
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.config import Settings
from gateway.model_source import resolve_model


def _vllm(settings: Settings) -> tuple[Engine, HunyuanPromptBuilder]:
    from adapters.vllm_engine import VLLMEngine

    model_path = resolve_model(settings.engine.model, settings.engine.revision)
    prompts = HunyuanPromptBuilder(model_path, trust_remote_code=settings.engine.trust_remote_code)
    return VLLMEngine(settings.engine, model_path), prompts


def _upstream(settings: Settings) -> tuple[Engine, HunyuanPromptBuilder]:
    from adapters.upstream_engine import UpstreamEngine

    # The vLLM servers hold the weights; the gateway reads only the processor and tokenizer files.
    model_path = resolve_model(settings.engine.model, settings.engine.revision, weights=False)
    prompts = HunyuanPromptBuilder(model_path, trust_remote_code=settings.engine.trust_remote_code)
    return UpstreamEngine(settings.engine, model_path), prompts


# One entry per --engine choice.
ENGINES: dict[str, Callable[[Settings], tuple[Engine, HunyuanPromptBuilder]]] = {
    "auto": _vllm,
    "vllm": _vllm,
    "upstream": _upstream,
}


def create_engine(settings: Settings) -> tuple[Engine, HunyuanPromptBuilder]:
    """Raises ``ModelUnavailable`` when the model cannot be found, ``OSError``/``ValueError`` when it cannot load."""
    return ENGINES[settings.engine_kind](settings)
