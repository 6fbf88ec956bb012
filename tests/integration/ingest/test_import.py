"""`wpec import`: files, folders, nested zips, .eml, SdI pairs; hostile archives; idempotent."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.integration.ingest.factory import COMPANY_VAT, SUPPLIER_VAT

CONFIG = """
data_dir = "data"
{store}
[company]
name = "Cliente Demo S.p.A."
vat = "{vat}"
"""


def wpec(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WPEC_CONFIG": str(tmp_path / "wpec.toml")}
    return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, check=False, timeout=120)


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def inputs(tmp_path: Path, factory) -> Path:
    from wpec_invoicing.sdi.messages import SdiNotification, build_notification

    folder = tmp_path / "in"
    (folder / "pair").mkdir(parents=True)
    name = f"{SUPPLIER_VAT}_A0001.xml"
    (folder / "pair" / name).write_bytes(factory.invoice_xml("P-1"))
    (folder / "pair" / f"{SUPPLIER_VAT}_A0001_MT_001.xml").write_bytes(build_notification(
        SdiNotification(kind="MT", family="b2b", identificativo_sdi="555001", nome_file=name,
                        codice_destinatario="0000000", formato="FPR12", message_id="1")))
    inner = _zip({f"{SUPPLIER_VAT}_A0003.xml": factory.invoice_xml("Z-3")})
    (folder / "batch.zip").write_bytes(_zip({
        f"2026/{SUPPLIER_VAT}_A0002.xml": factory.invoice_xml("Z-2"),
        "nested/inner.zip": inner,
        "../../evil.xml": factory.invoice_xml("EVIL"),
        "/abs/evil2.xml": factory.invoice_xml("EVIL2"),
        f"{SUPPLIER_VAT}_A0002_RC_001.xml": b"<x/>",
        "LEGGIMI.txt": b"hello",
    }))
    # 30 MB of zeros compress to ~30 KB: refused by ratio, never inflated.
    (folder / "bomb.zip").write_bytes(_zip({"big.xml": b"\0" * (30 * 1024 * 1024)}))
    (folder / "mail.eml").write_bytes(factory.sdi_invoice(factory.invoice_xml("E-1")))
    (folder / "not-an-invoice.xml").write_bytes(b"<?xml version='1.0'?><hello/>")
    (folder / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    return folder


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
def test_import_reports_every_input_and_is_idempotent(tmp_path: Path, inputs: Path,
                                                      backend: str) -> None:
    from tests.unit.store.postgres import database_url

    url = database_url(backend, tmp_path)
    store = f'store_url = "{url}"' if backend != "sqlite" else ""
    (tmp_path / "wpec.toml").write_text(CONFIG.format(store=store, vat=COMPANY_VAT))
    first = wpec(tmp_path, "import", str(inputs), "--json")
    assert "Traceback" not in first.stderr
    report = json.loads(first.stdout)
    by_input = {Path(i["input"].split("!")[0]).name + ("!" + i["input"].split("!", 1)[1]
                                                        if "!" in i["input"] else ""): i
                for i in report["items"]}
    # 4 invoices (pair, zip, nested zip) + the .eml with an SdI invoice
    assert report["imported"] == 4, report
    assert by_input[f"{SUPPLIER_VAT}_A0001.xml"]["result"] == "imported"
    assert by_input["batch.zip!../../evil.xml"]["result"] == "refused"
    assert by_input["batch.zip!/abs/evil2.xml"]["result"] == "refused"
    assert by_input["bomb.zip!big.xml"]["result"] == "refused"
    assert "zip bomb" in by_input["bomb.zip!big.xml"]["reason"]
    assert by_input[f"batch.zip!{SUPPLIER_VAT}_A0002_RC_001.xml"]["result"] == "skipped"
    assert by_input["batch.zip!LEGGIMI.txt"]["result"] == "skipped"
    assert by_input["not-an-invoice.xml"]["result"] == "invalid"
    assert by_input["broken.zip"]["result"] == "invalid"
    assert by_input["mail.eml"]["result"] == "imported"
    assert report["refused"] == 3 and report["invalid"] == 2
    assert first.returncode == 1  # something was refused: the exit code says so

    listed = json.loads(wpec(tmp_path, "invoices", "list", "--json").stdout)
    assert len(listed) == 4
    paired = next(i for i in listed if i["file_name"] == f"{SUPPLIER_VAT}_A0001.xml")
    assert paired["identificativo_sdi"] == "555001"
    assert {i["status"] for i in listed} == {"needs-review"}  # supplier unknown

    second = json.loads(wpec(tmp_path, "import", str(inputs), "--json").stdout)
    assert second["imported"] == 0 and second["duplicates"] == 4
    assert len(json.loads(wpec(tmp_path, "invoices", "list", "--json").stdout)) == 4

    shown = json.loads(wpec(tmp_path, "invoices", "show", str(paired["id"]), "--json").stdout)
    assert shown["lines"] and shown["reasons"][0]["code"] == "supplier-unknown"
    human = wpec(tmp_path, "invoices", "show", str(paired["id"]))
    assert "needs-review" in human.stdout and "supplier-unknown" in human.stdout
    missing = wpec(tmp_path, "invoices", "show", "9999")
    assert missing.returncode == 2 and "no received invoice" in missing.stderr


def test_configured_supplier_list_is_loaded_before_import(tmp_path: Path, factory) -> None:
    (tmp_path / "suppliers.csv").write_text(f"vat;name;status\n{SUPPLIER_VAT};Demo;known\n")
    (tmp_path / "wpec.toml").write_text(CONFIG.format(store="", vat=COMPANY_VAT).replace(
        "[company]", 'suppliers_csv = "suppliers.csv"\n[company]'))
    (tmp_path / f"{SUPPLIER_VAT}_K0001.xml").write_bytes(factory.invoice_xml("K-1"))
    result = wpec(tmp_path, "import", f"{SUPPLIER_VAT}_K0001.xml", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["items"][0]["status"] == "verified"


def test_import_of_nothing_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "wpec.toml").write_text(CONFIG.format(store="", vat=COMPANY_VAT))
    result = wpec(tmp_path, "import", str(tmp_path / "nope.xml"), "--json")
    # issue 18: a missing input is said as such, exit 2 like every command (was "invalid", 1)
    assert json.loads(result.stdout)["error"]["exit_code"] == 2
    assert "nope.xml: no such file or folder" in result.stderr
    assert result.returncode == 2 and "Traceback" not in result.stderr


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_VALID_ZIP = _zip({"a/IT01234567897_00001.xml": b"<x/>" * 50, "b.zip": _zip({"c.txt": b"hi"})})


@settings(max_examples=150)
@given(st.one_of(
    st.binary(max_size=500),
    st.tuples(st.integers(0, len(_VALID_ZIP) - 1), st.binary(min_size=1, max_size=8)).map(
        lambda m: _VALID_ZIP[:m[0]] + m[1] + _VALID_ZIP[m[0] + len(m[1]):]),
))
def test_any_bytes_as_a_zip_give_a_report_never_an_exception(tmp_path_factory, data: bytes
                                                             ) -> None:
    from wpec_invoicing.importer import ImportSummary, collect

    path = tmp_path_factory.mktemp("z") / "input.zip"
    path.write_bytes(data)
    summary = ImportSummary()
    entries = collect([path], summary)
    for entry in entries:
        entry.load()
    assert entries or summary.items  # something was said about the input


def test_a_zip_member_with_an_empty_name_is_refused_not_a_crash(tmp_path) -> None:
    """Found by the property test above: zipfile's own is_dir() raises IndexError on a
    member whose name is empty; the import says what is wrong with it instead."""
    import io
    import struct
    import zipfile

    from wpec_invoicing.importer import ImportSummary, collect

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x", b"data")
    raw = bytearray(buf.getvalue())
    central = raw.find(b"PK\x01\x02")  # the central directory's name length goes to 0
    raw[central + 28:central + 30] = b"\x00\x00"
    del raw[central + 46:central + 47]
    end = raw.find(b"PK\x05\x06")
    size = struct.unpack("<I", raw[end + 12:end + 16])[0]
    raw[end + 12:end + 16] = struct.pack("<I", size - 1)
    path = tmp_path / "in.zip"
    path.write_bytes(bytes(raw))
    summary = ImportSummary()
    assert collect([path], summary) == []
    assert [(i["result"], i["reason"]) for i in summary.items] == [
        ("refused", "member with an empty name")]
