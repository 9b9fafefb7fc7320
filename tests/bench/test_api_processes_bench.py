"""Smoke test of bench/api_processes.py: a few screenshots on 1 and 2 fixed-latency gateways, every round
measured. It asserts nothing about speed (the machine is shared): ``python -m bench.api_processes`` measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_quick_api_processes_run_measures_each_count(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    command = [sys.executable, "-m", "bench.api_processes", "--processes", "1,2", "--rounds", "1", "--requests", "6"]
    command += ["--concurrency", "2", "--latency-ms", "10", "--json", str(out)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    result = json.loads(out.read_text())
    assert [r["processes"] for r in result["rounds"]] == [1, 2]
    for r in result["rounds"]:
        assert r["req_per_s"] > 0 and len(r["per_process_cpu_ms"]) == r["processes"]
        assert all(ms > 0 for ms in r["per_process_cpu_ms"])  # both gateways served (round-robin)
    assert len(result["summary"]["speed_up_2"]) == 1
