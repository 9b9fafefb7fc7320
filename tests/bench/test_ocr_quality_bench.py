"""Smoke test of bench/ocr_quality.py: the quick run reads its pages with every system and reports each one's
CER and pages/s (their values are not asserted)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from bench.ocr_quality import SYSTEMS


def test_quick_quality_bench_reports_cer_and_speed_per_system_and_page(tmp_path: Path) -> None:
    out = tmp_path / "quality.json"
    command = [sys.executable, "-m", "bench.ocr_quality", "--quick", "--json", str(out)]
    printed = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
    result = json.loads(out.read_text())
    assert list(result) == ["latin 100 dpi", "cjk 100 dpi"]
    for by_system in result.values():
        assert list(by_system) == list(SYSTEMS)
        for cell in by_system.values():
            assert cell["characters"] > 0 and cell["readings"] == 1 and cell["pages_per_s"] > 0
            assert cell["cer"] == cell["errors"] / cell["characters"] and isinstance(cell["text"], str)
    rows = [line for line in printed.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 2 + 3  # header, one row per page, the Latin, CJK and overall totals
    assert all(line.count("|") == 2 + 2 * len(SYSTEMS) + 1 for line in rows)
    assert re.search(r"^rapidocr recognised \d+ lines and read \d+ of them again", printed, re.MULTILINE), printed
