"""``ocr-gateway``: flags, their ``OCR_GATEWAY_*`` environment twins, and a clear exit without weights."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import Field, asdict, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from gateway import cli
from gateway.cli import build_parser, settings_flags, settings_from_args
from gateway.config import Settings, default_data_dir
from tests.tiny_checkpoint import with_shipped_code

# Every flag of `serve --help` by argument group, as the command has always offered them.
GROUP_FLAGS = {
    "options": "--help --engine --model --revision --served-model-name --host --port --prompt-set --log-level",
    "operation options": "--api-key --api-keys-file --cors-origins --mcp-allowed-hosts --log-requests "
    "--no-log-requests --request-timeout --max-running-requests --max-queued-requests --shutdown-timeout",
    "engine options": "--dtype --max-model-len --enforce-eager --no-enforce-eager --enable-prefix-caching "
    "--no-enable-prefix-caching --kv-cache-gb --gpu-memory-utilization --tensor-parallel-size "
    "--max-images-per-prompt --trust-remote-code --no-trust-remote-code --seed --device --max-batch-size "
    "--torch-threads --fixed-latency-ms",
    "upstream engine options": "--upstream --upstream-api-key --upstream-model",
    "media options": "--remote-media --no-remote-media --allowed-media-domains --allow-private-media "
    "--no-allow-private-media --max-image-mb --max-pdf-pages --max-body-mb",
    "Batch API options": (
        "--batch-api --no-batch-api --data-dir --database-url --blob-store --max-batch-file-mb --batch-concurrency "
        "--batch-max-attempts --max-queued-batch-requests-per-key "
        "--task-results-hours --task-max-attempts --max-queued-tasks-per-key --url-signing-key"
    ),
}
# Repeated flags take one item each; their variables hold them all, comma-separated.
PLURAL_VARIABLES = {"--api-key": "OCR_GATEWAY_API_KEYS", "--upstream": "OCR_GATEWAY_UPSTREAMS"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ``OCR_GATEWAY_*`` of the machine running the tests, and a known data folder."""
    for name in [name for name in os.environ if name.startswith(cli.ENV_PREFIX)]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def parse(*argv: str) -> Settings:
    return settings_from_args(build_parser().parse_args(["serve", *argv]))


def serve_help() -> str:
    return build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]


def leaf_fields(cls: type = Settings) -> list[Field[Any]]:
    hints = get_type_hints(cls)
    nested = [leaf_fields(hints[item.name]) if is_dataclass(hints[item.name]) else [item] for item in fields(cls)]
    return [item for items in nested for item in items]


def test_flags_fill_the_settings() -> None:
    settings = parse("--model", "/m", "--port", "9001", "--kv-cache-gb", "2", "--enforce-eager")
    assert (settings.engine.model, settings.port, settings.engine.kv_cache_gb) == ("/m", 9001, 2.0)
    assert settings.engine.enforce_eager is True


def test_without_flags_every_setting_is_the_settings_own_default() -> None:
    parsed = parse()
    # The one difference on purpose: the command line serves the Batch API from a folder under $XDG_DATA_HOME,
    # while Settings() leaves it off.
    assert parsed.batch.data_dir == default_data_dir() and Settings().batch.data_dir is None
    assert asdict(replace(parsed, batch=replace(parsed.batch, data_dir=None))) == asdict(Settings())


def test_help_shows_each_default_the_settings_state() -> None:
    text = "".join(serve_help().split())  # argparse wraps lines at spaces and hyphens
    for flag in settings_flags():
        if flag.kind is not bool and not flag.option.repeat:
            default = ",".join(flag.default()) if flag.many else flag.default()
            assert "".join(f"{flag.option.help} (default: {default}) [env {flag.env}]".split()) in text


def test_cli_module_states_no_default_of_the_settings() -> None:
    """A default written into cli.py again (even the same value) would be a second place to change it."""
    tree = ast.parse(Path(cli.__file__).read_text())
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    trivial = (None, True, False, 0, 1, "", ())
    stated = {item.default for item in leaf_fields() if item.default not in trivial}
    assert stated and not stated & literals


def test_every_settings_field_is_a_flag_named_in_help_with_its_variable() -> None:
    text = " ".join(serve_help().split())
    flags = {flag.field.name: flag for flag in settings_flags()}
    assert set(flags) == {item.name for item in leaf_fields()}
    for flag in flags.values():
        assert flag.name in text and f"[env {flag.env}" in text


def test_help_keeps_every_flag_in_its_group() -> None:
    expected = dict(GROUP_FLAGS)
    sections = re.split(r"^(\S[^\n]*):\n", serve_help(), flags=re.MULTILINE)
    for title, body in zip(sections[1::2], sections[2::2], strict=True):
        # The options follow the group's description; each line of one starts with its flags, and help text
        # (which names other flags) follows two spaces later.
        options = body.strip("\n").split("\n\n")[-1]
        invocations = [line.split("  ")[1] for line in options.splitlines() if re.match(r"  -", line)]
        listed = re.findall(r"--[a-z][a-z-]*", " ".join(invocations))
        assert listed == expected.pop(title).split(), title
    assert not expected, "groups missing from --help"


def test_every_flag_keeps_its_environment_variable() -> None:
    variables = set(re.findall(r"OCR_GATEWAY_[A-Z_]+", serve_help()))
    flags = [flag for names in GROUP_FLAGS.values() for flag in names.split()]
    expected = {
        PLURAL_VARIABLES.get(flag, "OCR_GATEWAY_" + flag[2:].replace("-", "_").upper())
        for flag in flags
        if flag != "--help" and not flag.startswith("--no-")
    }
    assert variables == expected


SAMPLES: dict[type, tuple[str, Any]] = {int: ("7", 7), float: ("2.5", 2.5), str: ("seven", "seven")}


@pytest.mark.parametrize("flag", list(settings_flags()), ids=lambda flag: flag.name)
def test_every_flag_reads_its_environment_variable(flag: cli.Flag, monkeypatch: pytest.MonkeyPatch) -> None:
    if flag.kind is bool:
        raw, expected = ("off", False) if flag.field.default else ("on", True)
    elif flag.many:
        raw, expected = "a, b", ("a", "b")
    else:
        raw, expected = (flag.option.choices[-1],) * 2 if flag.option.choices else SAMPLES[flag.kind]
        if flag.field.name == "engine_kind":
            raw = expected = "rapidocr"
    monkeypatch.setenv(flag.env, raw)
    settings = parse()
    parts = (settings, settings.engine, settings.media, settings.batch)
    owner = next(part for part in parts if flag.field in fields(part))
    assert getattr(owner, flag.field.name) == expected


def test_environment_variables_of_each_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "LOG_REQUESTS": "yes",
        "REMOTE_MEDIA": "0",
        "MAX_PDF_PAGES": "4",
        "REQUEST_TIMEOUT": "9.5",
        "HOST": "0.0.0.0",
        "MAX_MODEL_LEN": "4096",
        "ALLOWED_MEDIA_DOMAINS": "Example.COM, ,images.example.org",
        "CORS_ORIGINS": "https://a.example,https://b.example",
        "API_KEYS": "k1,k2",
    }.items():
        monkeypatch.setenv(f"OCR_GATEWAY_{name}", value)
    settings = parse()
    assert (settings.log_requests, settings.media.remote_media) == (True, False)
    assert (settings.media.max_pdf_pages, settings.request_timeout, settings.engine.max_model_len) == (4, 9.5, 4096)
    assert settings.host == "0.0.0.0"
    assert settings.media.allowed_media_domains == ("example.com", "images.example.org")
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.api_keys == ("k1", "k2")


def test_environment_variables_set_defaults_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_GATEWAY_PORT", "9100")
    monkeypatch.setenv("OCR_GATEWAY_SERVED_MODEL_NAME", "ocr")
    monkeypatch.setenv("OCR_GATEWAY_ENABLE_PREFIX_CACHING", "false")
    settings = parse()
    assert (settings.port, settings.model_name, settings.engine.enable_prefix_caching) == (9100, "ocr", False)
    assert parse("--port", "9200").port == 9200


def test_api_keys_come_from_the_variable_repeated_flags_and_a_keys_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# team A\nk3\n\n  k4  \n")
    monkeypatch.setenv("OCR_GATEWAY_API_KEYS", "k1")
    assert parse("--api-key", "k2", "--api-keys-file", str(keys_file)).api_keys == ("k1", "k2", "k3", "k4")
    monkeypatch.setenv("OCR_GATEWAY_API_KEYS_FILE", str(keys_file))
    assert parse().api_keys == ("k1", "k3", "k4")


def test_batch_api_off_leaves_no_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse("--data-dir", "/srv/ocr").batch.data_dir == "/srv/ocr"
    assert parse("--no-batch-api", "--data-dir", "/srv/ocr").batch.data_dir is None
    monkeypatch.setenv("OCR_GATEWAY_BATCH_API", "false")
    assert parse().batch.data_dir is None
    assert parse("--batch-api").batch.data_dir == default_data_dir()


def test_engine_choices_are_the_engines_the_gateway_has() -> None:
    from gateway.cli.engines import ENGINES

    assert f"--engine {{{','.join(sorted(ENGINES))}}}" in serve_help()
    with pytest.raises(SystemExit):
        parse("--engine", "nonesuch")


def test_batch_command_takes_the_serve_flags() -> None:
    args = build_parser().parse_args(["batch", "in", "--out", "out", "--engine", "rapidocr", "--max-pdf-pages", "3"])
    settings = settings_from_args(args)
    assert (settings.engine_kind, settings.media.max_pdf_pages, args.out) == ("rapidocr", 3, Path("out"))


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


def test_checkpoint_shipping_code_without_trust_remote_code_names_our_flag(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """It used to start the engine, which failed with transformers' advice to pass ``trust_remote_code=True`` and
    an hf.co link to the local folder, and exit 3."""
    checkpoint = with_shipped_code(tiny_checkpoint, tmp_path / "shipped")
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--engine", "vllm", "--model", str(checkpoint)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path), "PYTHONPATH": str(Path.cwd())},
    )
    assert result.returncode == 2, result.stderr[-3000:]
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        f"ocr-gateway: {checkpoint} ships its own code (configuration_hunyuan_shipped.py); serve it with "
        "--trust-remote-code if you trust it."
    )
    assert "trust_remote_code=True" not in result.stderr and "hf.co" not in result.stderr
    assert "Traceback" not in result.stderr and "Started server process" not in result.stderr


def test_transformers_engine_flags_fill_the_engine_settings() -> None:
    settings = parse("--engine", "transformers", "--device", "cpu", "--max-batch-size", "4", "--torch-threads", "1")
    assert settings.engine_kind == "transformers"
    engine = settings.engine
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
