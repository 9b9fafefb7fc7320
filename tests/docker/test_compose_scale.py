"""``docker/compose.scale.yaml`` and ``docker/haproxy.cfg``: gateways, one GPU each, sharing one PostgreSQL and
one data volume behind HAProxy — checked statically (CI has no Docker engine), and the config by ``haproxy -c``."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import Settings
from tests.docker.test_docker_files import DOCKERFILE, cli_env_names, dockerfile_env
from tests.fakes import FakeEngine

DOCKER = Path(__file__).parents[2] / "docker"
COMPOSE = DOCKER / "compose.scale.yaml"
HAPROXY_CFG = DOCKER / "haproxy.cfg"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def gateways(services: dict[str, Any]) -> dict[str, Any]:
    return {name: service for name, service in services.items() if name.startswith("gateway-")}


def haproxy_servers() -> dict[str, str]:
    """``server NAME ADDRESS`` lines of the backend: name → address."""
    return dict(re.findall(r"^\s*server (\S+) (\S+)", HAPROXY_CFG.read_text(), re.MULTILINE))


def test_every_gateway_is_the_image_with_its_own_gpu(services: dict[str, Any]) -> None:
    members = gateways(services)
    assert len(members) >= 2
    for service in members.values():
        assert (DOCKER / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == DOCKERFILE
    gpus = [
        tuple(device["device_ids"])
        for service in members.values()
        for device in service["deploy"]["resources"]["reservations"]["devices"]
    ]
    assert len(set(gpus)) == len(members) and all(len(ids) == 1 for ids in gpus)


def test_gateways_share_the_postgres_service_and_one_data_volume(services: dict[str, Any]) -> None:
    members = gateways(services).values()
    urls = {service["environment"]["OCR_GATEWAY_DATABASE_URL"] for service in members}
    assert len(urls) == 1 and re.match(r"postgresql://[^@]+@postgres:5432/\w+$", urls.pop())
    default = dockerfile_env()["OCR_GATEWAY_DATA_DIR"]
    data_dirs = {service["environment"].get("OCR_GATEWAY_DATA_DIR", default) for service in members}
    volumes = {tuple(service["volumes"]) for service in members}
    assert len(data_dirs) == 1 and len(volumes) == 1
    # A named volume (one for all), never a folder of one container.
    data_dir, mounts = data_dirs.pop(), volumes.pop()
    assert any(mount.endswith(f":{data_dir}") and not mount.startswith((".", "/")) for mount in mounts)
    assert all(service["depends_on"]["postgres"]["condition"] == "service_healthy" for service in members)
    assert "healthcheck" in services["postgres"]


def test_every_gateway_setting_named_is_one_the_cli_reads(
    services: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    named = {name for service in gateways(services).values() for name in service["environment"]}
    settings = {name for name in named if name.startswith("OCR_GATEWAY_")}
    assert {"OCR_GATEWAY_DATABASE_URL", "OCR_GATEWAY_API_KEYS"} <= settings <= cli_env_names(capsys)


def test_haproxy_is_the_only_way_in_and_balances_every_gateway(services: dict[str, Any]) -> None:
    balancer = services["haproxy"]
    assert f"./{HAPROXY_CFG.name}:/usr/local/etc/haproxy/haproxy.cfg:ro" in balancer["volumes"]
    assert balancer["ports"] == ["8000:8000"] and re.search(r"^\s*bind :8000$", HAPROXY_CFG.read_text(), re.M)
    port = dockerfile_env()["OCR_GATEWAY_PORT"]
    assert haproxy_servers() == {name: f"{name}:{port}" for name in gateways(services)}
    assert set(balancer["depends_on"]) == set(gateways(services))
    assert not any("ports" in service for service in gateways(services).values())


def test_haproxy_checks_the_readiness_route_the_app_serves(prompts: HunyuanPromptBuilder) -> None:
    config = HAPROXY_CFG.read_text()
    assert re.search(r"^\s*balance roundrobin$", config, re.MULTILINE)
    check = re.search(r"^\s*option httpchk GET (\S+)$", config, re.MULTILINE)
    assert check is not None and check.group(1) == "/health/ready"
    app = build_app(Settings(), FakeEngine(), prompts, on_engine_failure=lambda: None)
    assert check.group(1) in {getattr(route, "path", None) for route in app.routes}
    assert all(re.search(rf"^\s*server {name} \S+ check$", config, re.MULTILINE) for name in haproxy_servers())


def test_haproxy_accepts_the_config() -> None:
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    assert binary, "haproxy is missing: `make system-deps` installs it (Debian package 'haproxy')"
    result = subprocess.run([binary, "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
