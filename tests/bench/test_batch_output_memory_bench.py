"""Smoke test of bench/batch_output_memory.py: a 10 MB batch output written and downloaded through a real gateway on
``--blob-store db``, every line accounted for. Memory is the full run's to judge (``python -m bench.batch_output_memory
--gb 2``), not this one's."""

from __future__ import annotations

import json
from pathlib import Path

from bench.batch_output_memory import main


def test_a_small_output_is_written_and_downloaded_whole(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    assert main(["--gb", "0.01", "--answer-kb", "20", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["requests"] == 524 and 10 < result["output_mb"] < 11  # every line came back (checked in the bench)
    assert result["rss_peak_writing_mb"] > 0 and result["rss_peak_downloading_mb"] > 0
