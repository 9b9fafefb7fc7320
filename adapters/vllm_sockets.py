"""A directory of the engine's own for vLLM's ZMQ IPC sockets, removed when the engine stops.

vLLM binds its engine-core sockets as ``ipc://$VLLM_RPC_BASE_PATH/<uuid4>`` (by default the temp directory) and
never unlinks them: every engine start left seven socket files in ``/tmp``, 1,459 after a day of test runs here.
Each engine gets a directory named after its server's pid, removed on shutdown; a SIGKILLed server cannot remove
its own, so a start also removes those whose server is gone. The tests and benchmarks give vLLM's own server one
named after themselves, removed the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

RPC_ENV = "VLLM_RPC_BASE_PATH"
PREFIX = "hunyuan-ocr-gateway-vllm-"


def open_socket_dir() -> Path | None:
    """A fresh directory for this engine's sockets, set as vLLM's base path; None when the operator set one."""
    if RPC_ENV in os.environ:
        return None
    path = new_socket_dir()
    os.environ[RPC_ENV] = str(path)  # read when the engine starts; its processes inherit it
    return path


def new_socket_dir() -> Path:
    """A fresh directory named after this process (a vLLM server started from here gets one in its environment),
    after removing those of processes that are gone."""
    base = Path(tempfile.gettempdir())
    for stale in base.glob(f"{PREFIX}*"):
        if not _alive(stale.name.removeprefix(PREFIX).split("-", 1)[0]):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))


def close_socket_dir(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
        if os.environ.get(RPC_ENV) == str(path):
            del os.environ[RPC_ENV]


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return True  # not one of ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
