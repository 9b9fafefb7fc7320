"""The PDF renderer child (``gateway/media/pdf_worker.py``) dies with a SIGKILLed gateway."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from tests.servers import sigkill_and_watch_tree
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]

# Stands for the gateway: starts a renderer, then waits. The renderer reads its PDF from a pipe the test holds
# open, so it is still rendering when the gateway dies (a pipe from the gateway itself would close with it).
GATEWAY = textwrap.dedent(
    """
    import os, subprocess, sys, time
    subprocess.Popen([sys.executable, "-m", "gateway.media.pdf_worker", "16", "1000000", str(os.getpid())])
    time.sleep(600)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_render_in_progress_ends_when_its_gateway_is_sigkilled() -> None:
    gateway = subprocess.Popen(
        [sys.executable, "-c", GATEWAY], stdin=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    renderer = wait_until(lambda: psutil.Process(gateway.pid).children(), 30, "the renderer to start")[0]
    assert "gateway.media.pdf_worker" in " ".join(renderer.cmdline())
    with gateway.stdin:  # type: ignore[union-attr]
        killed = sigkill_and_watch_tree(gateway, timeout=5)
    assert killed.survivors == [], killed.survivors
