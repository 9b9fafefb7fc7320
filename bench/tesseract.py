"""Tesseract as the OCR benches run it: the Debian CLI (``tesseract-ocr``) with its English and Simplified Chinese
data (``tesseract-ocr-eng``, ``tesseract-ocr-chi-sim``), which ``make system-deps`` installs."""

from __future__ import annotations

import shutil
import subprocess
import sys

LANGUAGES = ("eng", "chi_sim")


def installed_languages() -> list[str]:
    """The languages the ``tesseract`` CLI can read; none when it is not installed."""
    if shutil.which("tesseract") is None:
        return []
    listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True).stdout
    return listed.split()


def require_languages() -> None:
    """Ends the bench, saying what to install, when Tesseract or its ``LANGUAGES`` data is missing."""
    missing = [language for language in LANGUAGES if language not in installed_languages()]
    if missing:
        sys.exit(f"tesseract or its {missing} data is missing: make system-deps (tesseract-ocr, tesseract-ocr-chi-sim)")
