"""Smoke test of ``bench.compare --quick``: every system it runs answers every request, and the ratios come out.
The gateway is the session's (``--server``: benchmarking a running server is a feature of the harness), so the
engines started here are the two only this bench has: ``direct`` (AsyncLLM in its own process) and the gateway on
the transformers engine, which goes through the harness's own start of a server. vLLM's own server is left to
``tests/bench/test_frontend_cpu_bench.py``, which starts it through the same ``bench.compare.http_system``.

It asserts nothing about speed (this machine is noisy); it keeps the harness working.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.compare import GRIDS
from tests.conftest import Gateway

SYSTEMS = ("gateway", "direct", "transformers")


@pytest.mark.timeout(1200)  # the run itself may take 900 s (below), and then says why it failed
def test_quick_comparison_runs_every_system(gateway: Gateway, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.compare", "--quick", "--systems", ",".join(SYSTEMS), "--out", str(tmp_path)]
    command += ["--server", f"gateway={gateway.root_url}", "--server-pid", f"gateway={gateway.pid}"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "results.json").read_text())
    systems = report["results"]["tiny"]
    assert set(systems) == set(SYSTEMS)
    grid = GRIDS["quick", "tiny"]
    for name, result in systems.items():
        assert "error" not in result, (name, result.get("error"))
        assert result["peak_rss_mb"] > 0
        for cell in result["cells"]:
            assert cell["requests"] == grid.requests(cell["concurrency"]), (name, cell)
            assert cell["completion_tokens"] > 0 and cell["req_per_s"] > 0
    # Greedy decoding of the same prompts and pixels (both add HunyuanOCR's empty system turn): the same answers.
    # (Not for photos: the gateway decodes JPEGs in draft mode, so its pixels differ a little from a full decode.)
    answers = {
        name: [cell["answers_sha256"] for cell in systems[name]["cells"] if cell["kind"] == "screenshot"]
        for name in ("gateway", "direct")
    }
    assert answers["gateway"] == answers["direct"], answers
    assert systems["gateway"]["follow_up"]["follow_up_cache_hit_rate"] > 0
    ratios = report["ratios"]
    assert {row["kind"] for row in ratios} == {"screenshot", "photo-12mp"}
    assert all("gateway/direct" in row for row in ratios)
    assert any("vllm/transformers tok/s" in row for row in ratios)
    cells = len(systems["gateway"]["cells"])
    assert (tmp_path / "results.md").read_text().count("| gateway |") == cells + 1  # its cells, its memory row
