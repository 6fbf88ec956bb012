"""`wpec invoice validate/show/attachments`: the exit-code and JSON contract, run for real."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from wpec_invoicing.cli import app
from wpec_invoicing.fatturapa import Attachment, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice

from .conftest import with_body, with_line

INVOICE_KEYS = {"supplier", "customer", "document_type", "number", "date", "currency", "total",
                "lines", "vat_summary", "attachments"}
TOP_KEYS = {"file", "format", "container", "signature", "schema_valid", "schema_errors",
            "checks", "warnings", "error", "invoices"}


def wpec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args],
                          capture_output=True, text=True, check=False)


@pytest.fixture
def files(tmp_path, signer):
    valid = tmp_path / "IT01234567897_00001.xml"
    valid.write_bytes(write_invoice(with_body(
        sample_invoice(lines=3), attachments=(Attachment("ordine.pdf", b"%PDF-1.4 ordine"),))))
    invalid = tmp_path / "IT01234567897_00002.xml"
    invalid.write_bytes(write_invoice(with_line(sample_invoice(), vat_rate=Decimal("0.00"))))
    signed = tmp_path / "IT01234567897_00003.xml.p7m"
    signed.write_bytes(signer.sign(write_invoice(sample_invoice(format="FPA12"))))
    unreadable = tmp_path / "notes.txt"
    unreadable.write_bytes(b"this is not an invoice")
    return {"valid": valid, "invalid": invalid, "signed": signed, "unreadable": unreadable}


def test_exit_0_when_all_valid_with_json_fields(files):
    r = wpec("invoice", "validate", "--json", str(files["valid"]), str(files["signed"]))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 2
    plain, signed = rows
    assert set(plain) >= TOP_KEYS
    assert plain["file"].endswith("IT01234567897_00001.xml")
    assert (plain["format"], plain["container"], plain["signature"]) == ("FPR12", "xml", None)
    assert plain["schema_valid"] is True and plain["checks"] == [] and plain["error"] is None
    inv = plain["invoices"][0]
    assert set(inv) >= INVOICE_KEYS
    assert inv["supplier"] == {"vat": "IT01234567897", "fiscal_code": "01234567897",
                               "name": "Fornitore Demo S.r.l."}
    assert inv["date"] == "2026-01-15" and inv["lines"] == 3
    assert isinstance(inv["total"], str)
    assert set(inv["vat_summary"][0]) == {"rate", "nature", "taxable", "tax"}
    assert inv["vat_summary"][0]["rate"] == "22.00"
    assert inv["attachments"] == [{"name": "ordine.pdf", "size": 15}]
    assert date.fromisoformat(inv["date"]) == date(2026, 1, 15)
    assert inv["total"] == "139.69"  # a string with the decimals, never a float
    assert isinstance(plain["warnings"], list) and plain["schema_errors"] == []
    assert signed["container"] == "p7m-der" and signed["format"] == "FPA12"
    assert {"intact", "signer", "signing_time"} <= set(signed["signature"])
    assert signed["signature"]["intact"] is True
    signed_at = datetime.fromisoformat(signed["signature"]["signing_time"])
    assert signed_at.tzinfo is not None
    assert isinstance(signed["warnings"], list)


def test_schema_errors_items_carry_line_path_message(tmp_path):
    f = tmp_path / "IT01234567897_00004.xml"
    f.write_bytes(write_invoice(sample_invoice()).replace(b"<Divisa>EUR<", b"<Divisa>EURO<"))
    r = wpec("invoice", "validate", "--json", str(f))
    assert r.returncode == 1
    row = json.loads(r.stdout)
    assert row["schema_valid"] is False
    err = row["schema_errors"][0]
    assert set(err) == {"line", "path", "message"}
    assert isinstance(err["line"], int) and "Divisa" in err["path"] and "EURO" in err["message"]


def test_exit_1_when_any_invalid(files):
    r = wpec("invoice", "validate", "--json", str(files["valid"]), str(files["invalid"]))
    assert r.returncode == 1
    bad = json.loads(r.stdout.splitlines()[1])
    assert [c["code"] for c in bad["checks"]] == ["00400", "00429"]
    assert {"code", "message", "path"} <= set(bad["checks"][0])


def test_exit_2_when_any_unreadable_and_no_traceback(files):
    r = wpec("invoice", "validate", "--json", str(files["invalid"]), str(files["unreadable"]),
             str(files["valid"].parent / "missing.xml"))
    assert r.returncode == 2
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3
    assert rows[1]["error"] and rows[1]["format"] is None
    assert "No such file" in rows[2]["error"]
    assert "Traceback" not in r.stderr


def test_human_output_names_codes_and_lines(files):
    r = wpec("invoice", "validate", str(files["invalid"]))
    assert r.returncode == 1
    assert "INVALID" in r.stdout and "00400" in r.stdout and "line" in r.stdout


runner = CliRunner()


def test_folder_argument_validates_every_file(files):
    files["unreadable"].unlink()
    result = runner.invoke(app, ["invoice", "validate", "--json", str(files["valid"].parent)])
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 3


_CLEAN = write_invoice(sample_invoice())
_NS = b'xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"'
NOT_WELL_FORMED = {
    "junk before the prolog": b"\r\n\r\ngarbage" + _CLEAN,
    "invalid UTF-8 in a name": _CLEAN.replace(b"Fornitore Demo", b"Fornitore D\xe9mo"),
    "UTF-16 byte order mark in front of UTF-8": b"\xff\xfe" + _CLEAN,
    "stray quote after the namespace": _CLEAN.replace(_NS, _NS + b'"'),
}


@pytest.mark.parametrize("cause", list(NOT_WELL_FORMED))
def test_not_well_formed_is_unreadable_exit_2_whatever_the_cause(tmp_path, cause):
    """One rule: bytes that are not well-formed XML are unreadable (exit 2, `readable`
    false) when judged as SdI would; `--lenient` repairs them, says how, and reads on."""
    f = tmp_path / "IT01234567897_00009.xml"
    f.write_bytes(NOT_WELL_FORMED[cause])
    strict = runner.invoke(app, ["invoice", "validate", "--json", str(f)])
    assert strict.exit_code == 2, strict.stdout
    row = json.loads(strict.stdout)
    assert row["readable"] is False and row["valid"] is False
    assert row["error"].startswith("not well-formed XML")
    assert [c["code"] for c in row["checks"]] == ["00200"]
    assert any("read leniently" in w for w in row["warnings"])
    lenient = runner.invoke(app, ["invoice", "validate", "--json", "--lenient", str(f)])
    assert lenient.exit_code == 0, lenient.stdout
    row = json.loads(lenient.stdout)
    assert row["readable"] is True and row["warnings"]
    assert row["invoices"][0]["number"] == "2026/1"


def test_well_formed_but_invalid_stays_readable_exit_1(tmp_path):
    """A namespace URI with a stray `;` is well-formed XML in a namespace nobody knows:
    readable, not valid (exit 1); `--lenient` repairs and reads it."""
    f = tmp_path / "IT01234567897_00009.xml"
    f.write_bytes(_CLEAN.replace(_NS, _NS[:-1] + b';"'))
    strict = runner.invoke(app, ["invoice", "validate", "--json", str(f)])
    assert strict.exit_code == 1, strict.stdout
    assert json.loads(strict.stdout)["readable"] is True
    lenient = runner.invoke(app, ["invoice", "validate", "--json", "--lenient", str(f)])
    assert lenient.exit_code == 0, lenient.stdout


def test_trust_option(files, signer):
    result = runner.invoke(app, ["invoice", "validate", "--json", "--trust",
                                 str(signer.tmp / "ca.pem"), str(files["signed"])])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["signature"]["trusted"] is True


def test_show_prints_a_summary(files):
    result = runner.invoke(app, ["invoice", "show", str(files["signed"])])
    assert result.exit_code == 0
    for text in ("FPA12", "Fornitore Demo S.r.l.", "Cliente Demo S.p.A.", "2026/1", "intact",
                 "VALID"):
        assert text in result.stdout


def test_show_unreadable_exits_2(files):
    result = runner.invoke(app, ["invoice", "show", str(files["unreadable"])])
    assert result.exit_code == 2


def test_attachments_are_extracted_with_safe_names(tmp_path):
    hostile = [
        Attachment("../../etc/passwd", b"one"),
        Attachment("..\\..\\boot.ini", b"two"),
        Attachment("fattura.pdf", b"%PDF-three"),
        Attachment("fattura.pdf", b"%PDF-four"),
        Attachment(".bashrc", b"five"),
        Attachment("CON", b"six"),
        Attachment("", b"seven"),
    ]
    doc = with_body(sample_invoice(), attachments=tuple(hostile))
    f = tmp_path / "IT01234567897_00001.xml"
    f.write_bytes(write_invoice(doc))
    out = tmp_path / "out"
    result = runner.invoke(app, ["invoice", "attachments", str(f), "-o", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == len(hostile)
    assert all(not n.startswith(".") and "/" not in n and "\\" not in n for n in names)
    assert "fattura.pdf" in names and "fattura-2.pdf" in names
    assert (out / "passwd").read_bytes() == b"one"
    assert {p.read_bytes() for p in out.iterdir()} == {a.data for a in hostile}
    assert not (tmp_path / "etc").exists()
    again = runner.invoke(app, ["invoice", "attachments", str(f), "-o", str(out)])
    assert again.exit_code == 0
    assert len(list(out.iterdir())) == 2 * len(hostile)  # never overwrites


def test_attachments_none(tmp_path):
    f = tmp_path / "a.xml"
    f.write_bytes(write_invoice(replace(sample_invoice())))
    result = runner.invoke(app, ["invoice", "attachments", str(f), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0 and "no attachments" in result.stdout


def test_stdin_is_read_with_a_dash(files):
    r = subprocess.run([sys.executable, "-m", "wpec_invoicing", "invoice", "validate", "--json",
                        "-"], input=files["valid"].read_bytes(), capture_output=True, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["file"] == "-"


def test_unreadable_folder_is_reported_not_a_crash(tmp_path):
    result = runner.invoke(app, ["invoice", "validate", "--json", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"]


def test_zip_exits_2_with_a_pointer_to_import(tmp_path):
    import zipfile

    f = tmp_path / "IT01234567897_00001.zip"
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("IT01234567897_00001.xml", write_invoice(sample_invoice()))
    result = runner.invoke(app, ["invoice", "validate", "--json", str(f)])
    assert result.exit_code == 2
    assert "use `wpec import`" in json.loads(result.stdout)["error"]


def test_show_says_trust_not_checked_without_trust_store(files, signer):
    result = runner.invoke(app, ["invoice", "show", str(files["signed"])])
    assert result.exit_code == 0
    assert "trust not checked (no --trust)" in result.stdout
    assert "None" not in result.stdout
    trusted = runner.invoke(app, ["invoice", "show", "--trust", str(signer.tmp / "ca.pem"),
                                  str(files["signed"])])
    assert "trusted" in trusted.stdout and "not checked" not in trusted.stdout


def test_fsm10_json_has_a_vat_summary_derived_from_its_lines():
    from wpec_invoicing.fatturapa import Line, read_invoice

    lines = (
        Line(1, "Riparazione", Decimal("61.00"), Decimal("22.00"), vat_amount=Decimal("11.00")),
        Line(2, "Ricambio", Decimal("12.20"), Decimal("22.00")),  # only the rate: 2.20 inside
        Line(3, "Bollo", Decimal("5.00"), None, vat_amount=Decimal("0.00"), natura="N1"),
        Line(4, "Cavo", Decimal("10.00"), None, vat_amount=Decimal("1.00")),  # only the tax
    )
    doc = with_body(sample_invoice(format="FSM10"), lines=lines)
    report = read_invoice(write_invoice(doc))
    assert report.valid, (report.schema_errors, report.checks)
    inv = report.to_json()["invoices"][0]
    assert inv["vat_summary"] == [
        {"rate": "22.00", "nature": None, "taxable": "60.00", "tax": "13.20"},
        {"rate": None, "nature": "N1", "taxable": "5.00", "tax": "0.00"},
        {"rate": None, "nature": None, "taxable": "9.00", "tax": "1.00"},
    ]
    assert inv["total"] == "88.20"
