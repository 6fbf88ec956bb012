"""Helpers of the render tests: text of a PDF (pdftotext), first pages as PNG for a human."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

# Where the tests leave first pages as PNG, to LOOK at the output (not committed: .gitignore).
PNG_DIR = Path(__file__).resolve().parents[3] / "tests-output" / "render"


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The text of a PDF, laid out, by poppler's pdftotext (what a user would copy)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    source = tmp_path / "doc.pdf"
    source.write_bytes(pdf)
    done = subprocess.run(["pdftotext", "-layout", str(source), "-"], capture_output=True,
                          check=True)
    return done.stdout.decode("utf-8")


def save_first_page(pdf: bytes, name: str) -> Path | None:
    """Write page 1 as `tests-output/render/<name>.png` (pdftoppm), for eyes, not asserts."""
    if shutil.which("pdftoppm") is None:
        return None
    PNG_DIR.mkdir(parents=True, exist_ok=True)
    source = PNG_DIR / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(source), str(PNG_DIR / name)], check=True)
    source.unlink()
    return PNG_DIR / f"{name}.png"
