"""Smoke test of bench/soak.py against the session's real gateway: a short run with no failures. Each client's
first request is drawn from a fixed seed (valid, streamed-then-abandoned and invalid ones among the eight), so
seconds are enough to see every outcome; the soaking itself is the full run's (``python -m bench.soak``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import Gateway


def test_short_soak_has_no_failures(gateway: Gateway, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    command = [
        sys.executable,
        "-m",
        "bench.soak",
        "--clients",
        "8",
        "--duration",
        "2",
        "--warmup",
        "1",
        "--base-url",
        gateway.root_url,
        "--pid",
        str(gateway.pid),
        "--json",
        str(out),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    assert result["failed"] == 0, result
    assert result["completed"] > 0 and result["invalid_refused"] > 0 and result["abandoned"] > 0
    assert result["rss_start_mb"]["total"] > 0
