"""`wpec invoice render`, `wpec pec render`, `wpec invoices print`, run as a user runs them:
the document on stdout or in -o, one line on stderr per problem, exit 0/1/2, --json."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

from wpec_invoicing.resources import data_dir

DEMO = data_dir() / "demo"


def wpec(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args], capture_output=True,
                          check=False, cwd=cwd)


def test_one_invoice_to_stdout_as_pdf():
    source = DEMO / "IT01234567897_00001.xml"
    done = wpec("invoice", "render", str(source), "--format", "pdf")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"%PDF-") and done.stderr == b""
    assert PdfReader(io.BytesIO(done.stdout)).attachments[source.name] == [source.read_bytes()]


def test_a_folder_to_a_folder_with_json(tmp_path):
    out = tmp_path / "out"
    done = wpec("invoice", "render", str(DEMO / "invalid"), "-f", "html", "-o", str(out),
                "--json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert len(records) == len(list((DEMO / "invalid").glob("*.x*")))
    assert all(r["valid"] is False and r["problems"] and r["error"] is None for r in records)
    assert all(Path(r["output"]).is_file() for r in records)
    assert (out / "fattura marzo.html").read_text().count("NON valida") == 1


def test_strict_refuses_an_invalid_invoice_with_exit_1_and_one_line():
    done = wpec("invoice", "render", str(DEMO / "invalid" / "IT01234567897_00010.xml"),
                "--strict", "-f", "html")
    assert done.returncode == 1 and done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wpec: error: ") and "00400" in lines[0]


def test_unreadable_file_exit_2_and_the_batch_goes_on(tmp_path):
    bad = tmp_path / "IT01234567897_99999.xml"
    bad.write_bytes(b"\x00\x01 not xml")
    out = tmp_path / "out"
    done = wpec("invoice", "render", str(bad), str(DEMO / "IT01234567897_00003.xml"),
                "-o", str(out))
    assert done.returncode == 2
    assert "wpec: error: " in done.stderr.decode() and "Traceback" not in done.stderr.decode()
    assert (out / "IT01234567897_00003.pdf").is_file()


def test_ade_style_html():
    done = wpec("invoice", "render", str(DEMO / "IT01234567897_00003.xml"), "-f", "html",
                "--style", "ade")
    assert done.returncode == 0 and b"Dati relativi alla trasmissione" in done.stdout


def test_pec_render_and_bad_input(tmp_path):
    from wpec_invoicing.pec import builder

    raw = builder.compose(sender="a@pec.test", to=["b@pec.test"], subject="Saluti",
                          text="Ciao")
    eml = tmp_path / "m.eml"
    eml.write_bytes(raw)
    done = wpec("pec", "render", str(eml), "-f", "html")
    assert done.returncode == 0 and b"Saluti" in done.stdout and b"Ciao" in done.stdout
    (tmp_path / "x.eml").write_bytes(b"\x00\x01\x02")
    done = wpec("pec", "render", str(tmp_path / "x.eml"))
    assert done.returncode == 2 and done.stderr.decode().startswith("wpec: error: ")


def test_standard_input():
    source = DEMO / "IT01234567897_00003.xml"
    done = subprocess.run([sys.executable, "-m", "wpec_invoicing", "invoice", "render", "-",
                           "-f", "html"], input=source.read_bytes(), capture_output=True,
                          check=False)
    assert done.returncode == 0 and done.stdout.startswith(b"<!DOCTYPE html>")
