"""Session-wide fixtures: the tiny checkpoint and one real gateway (vLLM engine) on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from tests.tiny_checkpoint import build

SERVER_START_TIMEOUT = 420  # seconds; a cold vLLM start with torch.compile takes about a minute here


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("tiny-hunyuanocr"))


@pytest.fixture(scope="session")
def prompts(tiny_checkpoint: Path) -> HunyuanPromptBuilder:
    return HunyuanPromptBuilder(str(tiny_checkpoint))


@dataclass(frozen=True)
class Gateway:
    base_url: str  # ends in /v1, as the openai client takes it
    root_url: str
    model: str
    checkpoint: Path
    log_path: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def gateway(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """``ocr-gateway serve`` with the real vLLM engine on the tiny checkpoint, started once per session."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("gateway") / "server.log"
    command = [
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--model",
        str(tiny_checkpoint),
        "--served-model-name",
        "hunyuan-ocr-tiny",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--max-model-len",
        "8192",
        "--kv-cache-gb",
        "1",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    root_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(root_url, process, log_path)
        yield Gateway(f"{root_url}/v1", root_url, "hunyuan-ocr-tiny", tiny_checkpoint, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_healthy(root_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gateway exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{root_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    pytest.fail(f"gateway not healthy after {SERVER_START_TIMEOUT} s:\n{log_path.read_text()[-4000:]}")
