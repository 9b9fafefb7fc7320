"""Processes that ``multiprocessing`` starts die with a SIGKILLed parent once ``parent_death.install()`` ran.

A stand-in for the gateway starts an "engine" child, which starts a "worker" grandchild, the way vLLM does:
with ``spawn`` (vLLM on CPU; each child loads the plugin, so calls ``install()``) or ``fork`` (vLLM's default
on a GPU; children do not load the plugin again, only the after-fork hook can arm them).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.servers import sigkill_and_watch_tree

ROOT = Path(__file__).resolve().parents[2]

STAND_IN = textwrap.dedent(
    r"""
    import ctypes, multiprocessing, os, sys, time
    from adapters import parent_death

    PR_GET_PDEATHSIG = 2
    METHOD = sys.argv[1]

    def report(name):
        signal = ctypes.c_int()
        ctypes.CDLL(None).prctl(PR_GET_PDEATHSIG, ctypes.byref(signal), 0, 0, 0)
        os.write(1, f"{name} {signal.value}\n".encode())  # one write: the three processes share the pipe

    def worker():
        if METHOD == "spawn":
            parent_death.install()
        report("worker")
        time.sleep(600)

    def engine():
        if METHOD == "spawn":
            parent_death.install()
        multiprocessing.get_context(METHOD).Process(target=worker, daemon=True).start()
        report("engine")
        time.sleep(600)

    if __name__ == "__main__":
        parent_death.install()
        multiprocessing.get_context(METHOD).Process(target=engine).start()
        report("main")
        time.sleep(600)
    """
)


def _start(tmp_path: Path, method: str) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """The stand-in, and each process's parent-death signal once all three reported it."""
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    process = subprocess.Popen(
        [sys.executable, str(script), method], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert process.stdout is not None
    output, deadline = b"", time.monotonic() + 30
    while output.count(b"\n") < 3:
        if not select.select([process.stdout], [], [], max(deadline - time.monotonic(), 0))[0]:
            process.kill()
            pytest.fail(f"the stand-in's processes did not all report: {output!r}")
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:
            pytest.fail(f"the stand-in exited with {process.wait()} after {output!r}")
        output += chunk
    return process, {name: int(value) for name, value in (line.split() for line in output.decode().splitlines())}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_children_get_sigkill_on_parent_death_but_the_main_process_does_not(tmp_path: Path, method: str) -> None:
    process, signals = _start(tmp_path, method)
    with process.stdout:  # type: ignore[union-attr]
        killed = sigkill_and_watch_tree(process)
    assert signals == {"main": 0, "engine": 9, "worker": 9}
    assert killed.survivors == []
    assert len(killed.descendants) >= 2
