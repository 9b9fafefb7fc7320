"""vLLM's IPC sockets go in a directory of the engine's own, and those of servers that are gone are removed."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from adapters.vllm_sockets import PREFIX, RPC_ENV, close_socket_dir, open_socket_dir


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(RPC_ENV, raising=False)
    return tmp_path


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_start_gets_its_own_directory_and_removes_those_of_servers_gone(temp_dir: Path) -> None:
    gone = temp_dir / f"{PREFIX}{_dead_pid()}-abc"
    running = temp_dir / f"{PREFIX}{os.getppid()}-def"
    someone_elses = temp_dir / "hunyuan-ocr-gateway-vllm-notes"
    for path in (gone, running, someone_elses):
        path.mkdir()
        (path / "socket").touch()
    opened = open_socket_dir()
    assert opened is not None and opened.is_dir() and opened.parent == temp_dir
    assert opened.name.startswith(f"{PREFIX}{os.getpid()}-")
    assert os.environ[RPC_ENV] == str(opened)
    assert not gone.exists() and running.exists() and someone_elses.exists()
    close_socket_dir(opened)
    assert not opened.exists() and RPC_ENV not in os.environ


def test_an_operators_base_path_is_left_alone(temp_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RPC_ENV, str(temp_dir))
    assert open_socket_dir() is None
    close_socket_dir(None)
    assert os.environ[RPC_ENV] == str(temp_dir)
