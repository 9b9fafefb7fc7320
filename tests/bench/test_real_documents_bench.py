"""bench/real_documents.py: its scoring (each kind of test passes and fails when it should), and a smoke run on one
rendered report page with a ground truth made for it (the real documents are not in this repository)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from docling_core.types.doc import (
    BoundingBox,
    ContentLayer,
    DocItemLabel,
    DoclingDocument,
    ProvenanceItem,
    Size,
    TableCell,
    TableData,
)

from bench.real_documents import CATEGORIES, SYSTEMS, Cell, Reading, Truth, header, score, totals, truths
from gateway.documents.align import normalise
from tests.pages import PROSE, report_page
from tests.scans import image_only_pdf

PARAGRAPH = "the quick brown fox jumps over the lazy dog"
NEXT = "pack my box with five dozen liquor jugs now"
HEADER = "acme quarterly report"


def test_each_kind_of_test_passes_and_fails_as_it_should() -> None:
    paragraph, following, header = normalise(PARAGRAPH), normalise(NEXT), normalise(HEADER)
    truth = Truth([paragraph, following], [paragraph, following], [header], [["region", "350", "700"]])
    passed, total = score(truth, Reading(f"{PARAGRAPH}\n\n{NEXT}", [["region", "350", "700", "1050"]]))
    assert passed == {"present": 2, "order": 1, "absent": 1, "table": 1} and total == passed
    passed, _ = score(truth, Reading(f"{HEADER}\n{NEXT}\n{PARAGRAPH}", [["region", "999"]]))
    assert passed == {"present": 2, "order": 0, "absent": 0, "table": 0}
    passed, _ = score(truth, Reading("The quick brown fax jumps over the lazy dog.", []))  # one letter wrong
    assert passed["present"] == 1 and passed["order"] == 0


def test_a_run_of_some_systems_reports_those_systems_only() -> None:
    cells = {
        "p1": {"layout": Cell(cpu=[1.0, 2.0], wall=[1.0, 1.0]), "tesseract": Cell(cpu=[3.0, 4.0], wall=[2.0, 2.0])}
    }
    assert list(totals(cells)) == ["layout", "tesseract"]
    assert totals(cells)["tesseract"]["cpu_s_per_page"] == [3.0, 4.0]
    assert header(("layout", "tesseract")).startswith("| page | layout passed | layout CPU s | tesseract passed |")


def ground_truth(width: int, height: int) -> DoclingDocument:
    """The report page's ground truth as docling writes one (what is printed, where, in reading order)."""
    document = DoclingDocument(name="report")
    document.add_page(page_no=1, size=Size(width=width, height=height))

    def where(top: float, text: str) -> ProvenanceItem:
        return ProvenanceItem(page_no=1, bbox=BoundingBox(l=0, t=top, r=width, b=top + 10), charspan=(0, len(text)))

    document.add_text(
        DocItemLabel.PAGE_HEADER,
        "ACME Quarterly Report",
        prov=where(40, "ACME Quarterly Report"),
        content_layer=ContentLayer.FURNITURE,
    )
    document.add_title("Widget Sales by Region, 2026", prov=where(120, "Widget Sales by Region, 2026"))
    document.add_text(DocItemLabel.TEXT, PROSE, prov=where(220, PROSE))
    cells = [
        TableCell(
            text=text,
            start_row_offset_idx=row,
            end_row_offset_idx=row + 1,
            start_col_offset_idx=column,
            end_col_offset_idx=column + 1,
        )  # fmt: skip
        for row, texts in enumerate([["Region 0", "Region 1"], ["3.50", "7.00"]])
        for column, text in enumerate(texts)
    ]
    document.add_table(TableData(num_rows=2, num_cols=2, table_cells=cells), prov=where(420, ""))
    return document


def test_a_run_on_one_page_scores_every_system_and_prints_its_cpu(tmp_path: Path) -> None:
    page = report_page()
    (tmp_path / "sources").mkdir()
    (tmp_path / "groundtruth").mkdir()
    (tmp_path / "sources" / "report.pdf").write_bytes(image_only_pdf([page], dpi=150))
    ground_truth(*page.size).save_as_json(tmp_path / "groundtruth" / "report.json")
    written = DoclingDocument.load_from_json(tmp_path / "groundtruth" / "report.json")
    assert [len(truth.present) for truth in truths(written).values()] == [2]
    out = tmp_path / "real.json"
    command = [sys.executable, "-m", "bench.real_documents", "--documents", str(tmp_path), "--repeat", "1"]
    printed = subprocess.run([*command, "--json", str(out)], check=True, capture_output=True, text=True, timeout=600)
    summary = json.loads(out.read_text())
    assert list(summary) == list(SYSTEMS)
    for numbers in summary.values():
        assert [numbers[category][1] for category in CATEGORIES] == [2, 1, 1, 1]  # tests run per category
        assert len(numbers["cpu_s_per_page"]) == 1 and numbers["cpu_s_per_page"][0] > 0 and numbers["pages_per_s"] > 0
    assert summary["layout"]["table"][0] == 1 and summary["tesseract"]["table"][0] == 0  # only ours reads tables
    assert summary["layout"]["absent"][0] == 1 and summary["tesseract"]["absent"][0] == 0  # the header kept out
    rows = [line for line in printed.stdout.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| report p1 |") and len(rows) == 3 + len(SYSTEMS), printed.stdout  # + 2 headers
