"""Smoke test of bench/media.py: it runs and all three paths produce a model-ready image (no speed asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_media_benchmark_runs_and_reports_ratios(tmp_path: Path) -> None:
    out = tmp_path / "media.json"
    subprocess.run(
        [sys.executable, "-m", "bench.media", "--repeat", "1", "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    summary = json.loads(out.read_text())
    assert {"ours", "naive", "vllm", "vllm_over_ours", "naive_over_ours"} <= set(summary)
    assert all(value > 0 for value in summary.values())
