"""``--engine``: the table of engines and what ``auto`` picks — offline, without starting an engine."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import huggingface_hub.constants
import pytest

from adapters.rapidocr_engine import MODEL_NAME, RapidOCREngine, RapidOCRPromptBuilder
from gateway.cli import build_parser, engines
from gateway.cli.engines import choose_auto, create_engine
from gateway.cli.model_source import ModelUnavailable
from gateway.config import EngineSettings, Settings
from prompts.catalog import detect_prompt_set
from tests.offline import no_network
from tests.tiny_checkpoint import with_shipped_code, with_shipped_image_processor


def settings(model: str, **options: object) -> Settings:
    return Settings(engine=EngineSettings(model=model), **options)  # type: ignore[arg-type]


@pytest.fixture
def vllm_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "_vllm_installed", lambda: True)


@pytest.mark.usefixtures("vllm_installed")
def test_auto_picks_vllm_when_a_local_checkpoint_is_there(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert choose_auto(settings(str(tmp_path))).model_path == str(tmp_path.resolve())


@pytest.mark.usefixtures("vllm_installed")
def test_auto_falls_back_to_rapidocr_when_the_local_folder_is_missing(tmp_path: Path) -> None:
    choice = choose_auto(settings(str(tmp_path / "HunyuanOCR")))
    assert choice.model_path is None and "no such folder" in choice.reason


@pytest.mark.usefixtures("vllm_installed")
def test_auto_falls_back_to_rapidocr_when_the_hub_is_unreachable_and_nothing_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hub's offline mode and an empty cache: what a fresh offline machine sees, with no request sent.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with no_network() as attempts:
        choice = choose_auto(settings("tencent/HunyuanOCR"))
    assert choice.model_path is None and "tencent/HunyuanOCR" in choice.reason
    assert attempts == []


def test_auto_falls_back_to_rapidocr_when_vllm_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setattr(engines, "_vllm_installed", lambda: False)
    choice = choose_auto(settings(str(tmp_path)))
    assert choice.model_path is None and "vLLM is not installed" in choice.reason


@pytest.mark.usefixtures("vllm_installed")
def test_auto_fallback_serves_rapidocr_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.cli.engines"):
        engine, prompts = create_engine(settings(str(tmp_path / "missing"), engine_kind="auto"))
    try:
        assert isinstance(engine, RapidOCREngine) and isinstance(prompts, RapidOCRPromptBuilder)
        assert engine.info.model_name == MODEL_NAME and engine.info.engine == "rapidocr"
        assert "HunyuanOCR is NOT serving" in caplog.text and "falls back to rapidocr" in caplog.text
    finally:
        asyncio.run(engine.shutdown())


def test_rapidocr_answers_in_the_prompt_set_asked_for_and_15_by_default() -> None:
    for prompt_set, expected in (("auto", "1.5"), ("1.0", "1.0")):
        engine, prompts = create_engine(settings("unused", engine_kind="rapidocr", prompt_set=prompt_set))
        asyncio.run(engine.shutdown())
        assert detect_prompt_set(prompts.model_config) == expected


def test_serve_help_documents_every_engine() -> None:
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    text = " ".join(serve.format_help().split())
    assert {"auto", "vllm", "rapidocr"} <= set(engines.ENGINES)
    for name in ("auto", "vllm", "rapidocr"):
        assert f"{name}:" in text


# Config code named at the top of config.json; an image processor named nested in processor_config.json, as
# transformers 5 writes it.
@pytest.mark.parametrize(
    "ship,module",
    [
        (with_shipped_code, "configuration_hunyuan_shipped.py"),
        (with_shipped_image_processor, "image_processing_shipped.py"),
    ],
)
def test_code_a_checkpoint_ships_is_refused_in_our_flags_words_before_an_engine_exists(
    tiny_checkpoint: Path, tmp_path: Path, ship: Callable[[Path, Path], Path], module: str
) -> None:
    checkpoint = ship(tiny_checkpoint, tmp_path / "shipped")
    with pytest.raises(ModelUnavailable) as refused:
        create_engine(settings(str(checkpoint), engine_kind="transformers"))
    message = str(refused.value)
    assert f"ships its own code ({module})" in message and "--trust-remote-code" in message
    assert "trust_remote_code=True" not in message and "hf.co" not in message


def test_shipped_code_that_transformers_need_not_run_needs_no_flag(tiny_checkpoint: Path, tmp_path: Path) -> None:
    checkpoint = with_shipped_code(tiny_checkpoint, tmp_path / "shipped", native=True)
    engine, prompts = create_engine(settings(str(checkpoint), engine_kind="transformers"))
    asyncio.run(engine.shutdown())
    assert prompts.stop_token_ids
