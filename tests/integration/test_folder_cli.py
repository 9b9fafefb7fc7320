"""``ocr-gateway batch`` on a generated folder (images in sub-folders, a 3-page PDF, a file to ignore),
against the session's real gateway: one result per input, a progress bar, and a re-run that resumes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import Gateway
from tests.images import encode, make_image


def _folder(root: Path) -> None:
    (root / "receipts" / "2024").mkdir(parents=True)
    (root / "receipts" / "a.png").write_bytes(encode(make_image(64, 48, seed=1)))
    (root / "receipts" / "2024" / "b.jpg").write_bytes(encode(make_image(48, 64, seed=2), "JPEG"))
    pages = [make_image(60, 80, seed=10 + page) for page in range(3)]
    pages[0].save(root / "scan.pdf", "PDF", save_all=True, append_images=pages[1:])
    (root / "notes.txt").write_text("not an image")


def _run(gateway: Gateway, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "gateway.cli",
        "batch",
        *args,
        "--url",
        gateway.root_url,
        "--concurrency",
        "4",
        "--max-tokens",
        "8",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_a_folder_becomes_one_result_per_input_and_a_rerun_resumes(gateway: Gateway, tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    _folder(inputs)
    first = _run(gateway, str(inputs), "--task", "text", "--out", str(out), "--format", "json")
    assert first.returncode == 0, first.stderr
    results = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())
    assert results == ["receipts/2024/b.jpg.json", "receipts/a.png.json", "scan.pdf.json"]
    scan = json.loads((out / "scan.pdf.json").read_text())
    assert scan["task"] == "text" and [page["page"] for page in scan["pages"]] == [1, 2, 3]
    assert all(page["usage"]["completion_tokens"] > 0 for page in scan["pages"])
    assert "3 to do" in first.stderr and "file/s" in first.stderr  # tqdm's rate (and ETA) on stderr

    (out / "receipts" / "a.png.json").unlink()
    kept = (out / "scan.pdf.json").stat().st_mtime_ns
    second = _run(gateway, str(inputs), "--task", "text", "--out", str(out), "--format", "json")
    assert second.returncode == 0, second.stderr
    assert "3 inputs, 2 already done, 1 to do" in second.stderr
    assert (out / "receipts" / "a.png.json").exists()
    assert (out / "scan.pdf.json").stat().st_mtime_ns == kept  # done work is not redone


def test_text_output_and_a_broken_input_fails_alone(gateway: Gateway, tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    (inputs / "page.png").write_bytes(encode(make_image(64, 64, seed=5)))
    (inputs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a PDF")
    result = _run(gateway, str(inputs), "--task", "text", "--out", str(out))
    assert result.returncode == 1
    assert "failed: " in result.stderr and "broken.pdf" in result.stderr
    assert (out / "page.png.txt").read_text()  # the model's (gibberish) text
    assert not (out / "broken.pdf.txt").exists()
