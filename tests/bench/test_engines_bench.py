"""Smoke test of bench/engines.py: a short run of the transformers engine reports its throughput, one request at a
time and two at once (the vLLM engine goes through the same code; the full run measures both)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_short_engine_bench_reports_tokens_per_second(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "engines.json"
    command = [sys.executable, "-m", "bench.engines", "--model", str(tiny_checkpoint), "--engines", "transformers"]
    command += ["--concurrency", "1", "2", "--requests", "2", "--max-tokens", "4", "--json", str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text())["transformers"]
    assert set(result) == {"1", "2"}
    for numbers in result.values():
        assert 0 < numbers["tokens"] <= 2 * 4 and numbers["tokens_per_s"] > 0
