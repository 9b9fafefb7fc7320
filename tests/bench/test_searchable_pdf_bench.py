"""Smoke test of bench/searchable_pdf.py: the quick run (one Latin page, one round) makes the scan searchable with
both systems and prints their pages/s, CER and word recall side by side (their values are not asserted,
beyond being numbers a reading produced)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.searchable_pdf import SYSTEMS


def test_quick_searchable_pdf_bench_prints_both_systems_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "searchable.json"
    command = [sys.executable, "-m", "bench.searchable_pdf", "--quick", "--json", str(out)]
    printed = subprocess.run(command, check=True, capture_output=True, text=True, timeout=300).stdout
    ours, theirs = SYSTEMS
    header = (
        f"| scan | pages | {ours} pages/s | {theirs} pages/s | {ours}/{theirs} speed | {ours} CPU s/page "
        f"| {theirs} CPU s/page | {ours} CER | {theirs} CER | {ours} word recall | {theirs} word recall |"
    )
    assert header in printed, printed
    rows = [line for line in printed.splitlines() if line.startswith("| ") and "---" not in line]
    labels = [line.split(" | ")[0].removeprefix("| ") for line in rows[1:]]
    assert labels == ["latin 100 dpi", "**all latin**", "**all**"], printed
    assert all(line.count(" | ") == 10 for line in rows), rows
    assert f"round 1 {ours}" in printed and f"round 1 {theirs}" in printed
    result = json.loads(out.read_text())
    overall = result["rows"]["**all**"]
    assert overall["pages"] == 1 and len(overall["speed_ratio"]) == 1
    for system in SYSTEMS:
        assert len(overall["pages_per_s"][system]) == 1 and overall["pages_per_s"][system][0] > 0
        assert len(overall["cpu_s_per_page"][system]) == 1 and overall["cpu_s_per_page"][system][0] > 0
        assert 0 <= overall["cer"][system] <= 1 and 0 <= overall["word_recall"][system] <= 1
        for made in result["made"][system].values():
            assert made["text"].strip() and len(made["seconds"]) == 1  # a text layer was there to read
