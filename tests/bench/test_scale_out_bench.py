"""Smoke test of bench/scale_out.py: a small batch on 1 and 2 gateways behind HAProxy, every trial finished.

It asserts nothing about speed (the machine is shared); the full measurement is ``python -m bench.scale_out``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.postgres import server_binaries


def test_quick_scale_out_run_finishes_every_trial(tmp_path: Path) -> None:
    if server_binaries() is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian package 'postgresql')")
    out = tmp_path / "scale.json"
    command = [sys.executable, "-m", "bench.scale_out", "--gateways", "1,2", "--rounds", "1", "--requests", "40"]
    command += ["--latency-ms", "100", "--concurrency", "8", "--time-limit", "40", "--json", str(out)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    result = json.loads(out.read_text())
    assert [trial["gateways"] for trial in result["trials"]] == [1, 2]
    assert all(trial["finished"] and trial["completed"] == 40 for trial in result["trials"])
    assert sum(result["trials"][1]["runs"].values()) == 40  # each request ran once, on one of the two
    assert result["summary"]["1"]["speedup"] == 1.0 and result["summary"]["2"]["speedup"] > 0
    assert "speed-up vs 1" in finished.stdout
