"""``ocr-gateway``: flags, their ``OCR_GATEWAY_*`` environment twins, and a clear exit without weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import build_parser, settings_from_args


def parse(*argv: str) -> object:
    return settings_from_args(build_parser().parse_args(["serve", *argv]))


def test_flags_fill_the_settings() -> None:
    settings = parse("--model", "/m", "--port", "9001", "--kv-cache-gb", "2", "--enforce-eager")
    assert (settings.engine.model, settings.port, settings.engine.kv_cache_gb) == ("/m", 9001, 2.0)
    assert settings.engine.enforce_eager is True


def test_environment_variables_set_defaults_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_GATEWAY_PORT", "9100")
    monkeypatch.setenv("OCR_GATEWAY_SERVED_MODEL_NAME", "ocr")
    monkeypatch.setenv("OCR_GATEWAY_ENABLE_PREFIX_CACHING", "false")
    settings = parse()
    assert (settings.port, settings.model_name, settings.engine.enable_prefix_caching) == (9100, "ocr", False)
    assert parse("--port", "9200").port == 9200


def test_help_names_every_environment_variable() -> None:
    help_text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for flag in ("MODEL", "PORT", "HOST", "KV_CACHE_GB", "SERVED_MODEL_NAME"):
        assert f"OCR_GATEWAY_{flag}" in help_text.replace("\n", " ").replace("  ", " ")


@pytest.mark.parametrize("model", ["tencent/HunyuanOCR", "./no-such-folder"])
def test_unloadable_model_exits_2_with_a_paragraph_not_a_traceback(model: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--engine", "vllm", "--model", model],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path), "PYTHONPATH": str(Path.cwd())},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--model" in result.stderr and model in result.stderr


def test_transformers_engine_flags_fill_the_engine_settings() -> None:
    settings = parse("--engine", "transformers", "--device", "cpu", "--max-batch-size", "4", "--torch-threads", "1")
    assert settings.engine_kind == "transformers"  # type: ignore[attr-defined]
    engine = settings.engine  # type: ignore[attr-defined]
    assert (engine.device, engine.max_batch_size, engine.torch_threads) == ("cpu", 4, 1)


def test_upstream_urls_come_from_repeated_flags_or_one_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = parse("--engine", "upstream", "--upstream", "http://a:8000/v1", "--upstream", "http://b:8000/v1")
    assert settings.engine.upstreams == ("http://a:8000/v1", "http://b:8000/v1")
    monkeypatch.setenv("OCR_GATEWAY_UPSTREAMS", "http://a:8000/v1, http://b:8000/v1")
    monkeypatch.setenv("OCR_GATEWAY_UPSTREAM_API_KEY", "secret")
    settings = parse("--engine", "upstream")
    assert settings.engine.upstreams == ("http://a:8000/v1", "http://b:8000/v1")
    assert settings.engine.upstream_api_key == "secret"


def test_upstream_engine_without_upstreams_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    with pytest.raises(SystemExit) as raised:
        main(["serve", "--engine", "upstream"])
    assert raised.value.code == 2
    assert "--upstream" in capsys.readouterr().err
