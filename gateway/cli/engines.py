"""``--engine``: the backend that serves, and the prompt builder for its model, built from the settings.

``auto`` serves HunyuanOCR with vLLM when vLLM is installed and the weights are found (a local folder, or the
hub when it is reachable; vLLM's installed build runs it on the GPU or the CPU), and otherwise falls back to
rapidocr with a loud warning — so a fresh offline CPU machine still serves real text OCR.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass

from adapters.engine import Engine, PromptBuilder
from gateway.cli.model_source import ModelUnavailable, resolve_model, shipped_code
from gateway.config import Settings
from prompts.catalog import load_prompt_set

logger = logging.getLogger(__name__)
BANNER = "!" * 100


@dataclass(frozen=True)
class AutoChoice:
    """What ``--engine auto`` serves: vLLM on ``model_path``, or rapidocr (``model_path`` None) and why."""

    model_path: str | None
    reason: str


def choose_auto(settings: Settings) -> AutoChoice:
    if not _vllm_installed():
        return AutoChoice(None, "vLLM is not installed (pip extra `cpu` or `gpu`)")
    try:
        model_path = resolve_model(settings.engine.model, settings.engine.revision)
    except ModelUnavailable as error:
        return AutoChoice(None, str(error))
    return AutoChoice(model_path, f"HunyuanOCR weights found at {model_path}")


def _vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def _auto(settings: Settings) -> tuple[Engine, PromptBuilder]:
    choice = choose_auto(settings)
    if choice.model_path is not None:
        logger.info("--engine auto: serving with vLLM (%s)", choice.reason)
        return _vllm_on(settings, choice.model_path)
    logger.warning(
        "\n%s\nHunyuanOCR is NOT serving: %s\n--engine auto falls back to rapidocr: PP-OCR text extraction and "
        "spotting on the CPU. Translation, tables, formulas, charts, JSON fields and questions about images get a "
        "400 until HunyuanOCR runs.\n%s",
        BANNER,
        choice.reason,
        BANNER,
    )
    return _rapidocr(settings)


def _vllm(settings: Settings) -> tuple[Engine, PromptBuilder]:
    return _vllm_on(settings, resolve_model(settings.engine.model, settings.engine.revision))


def _vllm_on(settings: Settings, model_path: str) -> tuple[Engine, PromptBuilder]:
    from adapters.vllm_engine import VLLMEngine

    prompts = _hunyuan_prompts(settings, model_path)
    return VLLMEngine(settings.engine, model_path), prompts


def _hunyuan_prompts(settings: Settings, model_path: str) -> PromptBuilder:
    """The checkpoint's prompt builder, once transformers has read its config as the engine will.

    A checkpoint that ships its own code is refused here, before an engine starts, in our flag's words:
    transformers' own message tells people to pass ``trust_remote_code=True`` and links a local folder on hf.co.
    """
    from transformers import AutoConfig

    from adapters.hunyuan_prompt import HunyuanPromptBuilder

    trust = settings.engine.trust_remote_code
    try:
        AutoConfig.from_pretrained(model_path, trust_remote_code=trust)
        return HunyuanPromptBuilder(model_path, trust_remote_code=trust)
    except ValueError as error:
        if trust or "trust_remote_code" not in str(error):
            raise
        code = shipped_code(model_path)
        ships = f"ships its own code ({', '.join(code)})" if code else "names code for transformers to run"
        raise ModelUnavailable(
            f"{settings.engine.model} {ships}; serve it with --trust-remote-code if you trust it."
        ) from None


def _rapidocr(settings: Settings) -> tuple[Engine, PromptBuilder]:
    from adapters.rapidocr_engine import PROMPT_SET, RapidOCREngine, RapidOCRPromptBuilder

    version = PROMPT_SET if settings.prompt_set == "auto" else settings.prompt_set
    return RapidOCREngine(load_prompt_set(version)), RapidOCRPromptBuilder(version)


def _transformers(settings: Settings) -> tuple[Engine, PromptBuilder]:
    from adapters.transformers_engine import TransformersEngine

    model_path = resolve_model(settings.engine.model, settings.engine.revision)
    prompts = _hunyuan_prompts(settings, model_path)
    return TransformersEngine(settings.engine, model_path), prompts


def _upstream(settings: Settings) -> tuple[Engine, PromptBuilder]:
    from adapters.upstream_engine import UpstreamEngine

    # The vLLM servers hold the weights; the gateway reads only the processor and tokenizer files.
    model_path = resolve_model(settings.engine.model, settings.engine.revision, weights=False)
    prompts = _hunyuan_prompts(settings, model_path)
    return UpstreamEngine(settings.engine, model_path), prompts


def _fixed_latency(settings: Settings) -> tuple[Engine, PromptBuilder]:
    """A benchmarking and test engine: no model, a set sleep per request (see adapters/fixed_latency_engine.py)."""
    from adapters.fixed_latency_engine import FixedLatencyEngine, FixedLatencyPromptBuilder

    version = "1.5" if settings.prompt_set == "auto" else settings.prompt_set
    return FixedLatencyEngine(settings.engine.fixed_latency_ms / 1000), FixedLatencyPromptBuilder(version)


# One entry per --engine choice.
ENGINES: dict[str, Callable[[Settings], tuple[Engine, PromptBuilder]]] = {
    "auto": _auto,
    "vllm": _vllm,
    "rapidocr": _rapidocr,
    "transformers": _transformers,
    "upstream": _upstream,
    "fixed-latency": _fixed_latency,
}


def create_engine(settings: Settings) -> tuple[Engine, PromptBuilder]:
    """Raises ``ModelUnavailable`` when the model cannot be found, ``OSError``/``ValueError`` when it cannot load."""
    return ENGINES[settings.engine_kind](settings)
