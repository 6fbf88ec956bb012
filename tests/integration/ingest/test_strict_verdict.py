"""Received invoices carry the strict verdict: what `wpec invoice validate` rejects, an import
records as not valid, with the same SdI codes, needing review; what the lenient reader
repaired is listed among the warnings. A plain message whose base64 file was cut short says
so, on the message and in the import's `--json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.ingest.conftest import make_config, open_store
from tests.integration.ingest.factory import SUPPLIER_VAT, Factory
from tests.unit.fatturapa.test_encodings import DEFECTS
from tests.unit.fatturapa.test_hostile import HOSTILE
from wpec_invoicing.importer import import_paths
from wpec_invoicing.ingest.pipeline import Pipeline
from wpec_invoicing.ingest.store_raw import store_raw_message
from wpec_invoicing.store.models import Message, ReceivedInvoice


def _quirky(tmp_path: Path, xml: bytes) -> dict[str, bytes]:
    """The hostile and quirky files, each built from a valid invoice addressed to us."""
    name = b"Fornitore"
    assert name in xml
    files = {
        "invalid UTF-8 in a name": xml.replace(name, b"Forn\xe0\xffitore", 1),
        "UTF-16 BOM before UTF-8": b"\xff\xfe" + xml,
        "UTF-8 BOM twice": b"\xef\xbb\xbf\xef\xbb\xbf" + xml,
    }
    ns = b'xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"'
    for label, (data, _fragment) in DEFECTS.items():
        files[label] = data
    files["stray quote (our invoice)"] = xml.replace(ns, ns + b'"', 1)
    for label, build in HOSTILE.items():
        files[f"hostile: {label}"] = build(tmp_path)
    return files


def test_what_validate_rejects_is_imported_as_not_valid_with_the_same_codes(
        tmp_path: Path, factory: Factory) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    labels = {}
    for n, (label, data) in enumerate(_quirky(tmp_path, factory.invoice_xml()).items(), 1):
        path = folder / f"{SUPPLIER_VAT}_Q{n:04d}.xml"
        path.write_bytes(data)
        labels[path.name] = label
    validate = subprocess.run(
        [sys.executable, "-m", "wpec_invoicing", "invoice", "validate", "--json", str(folder)],
        capture_output=True, text=True, check=False)
    verdicts = {Path(v["file"]).name: v for v in map(json.loads, validate.stdout.splitlines())}
    assert set(verdicts) == set(labels), validate.stderr
    rejected = {name for name, v in verdicts.items() if not v["valid"]}
    assert len(rejected) == len(labels)  # every file of the set is one validate rejects

    config = make_config(tmp_path)
    store = open_store(config)
    try:
        summary = import_paths(config, store, [folder])
        items = {Path(i["input"]).name: i for i in summary.items}
        with store.session() as s:
            for name in sorted(rejected):
                label, verdict, item = labels[name], verdicts[name], items[name]
                codes = sorted({c["code"] for c in verdict["checks"]})
                if not verdict["readable"] and item["result"] == "invalid":
                    # Nothing to record (no invoice found): the report says so, with the codes.
                    assert item.get("codes") == codes, label
                    continue
                inv = s.get(ReceivedInvoice, item["invoice_id"])
                assert inv.valid is False, label
                assert sorted({c["code"] for c in inv.report["checks"]}) == codes, label
                assert inv.status != "verified", label
                assert "invalid" in {r["code"] for r in inv.reasons}, label
    finally:
        store.close()


def test_lenient_repairs_are_kept_as_warnings_and_the_invoice_needs_review(
        tmp_path: Path, factory: Factory) -> None:
    """The issue's case: a wrongly declared encoding garbles nothing the lenient reader cannot
    read, yet the strict verdict stands (00200) and the repair is listed."""
    xml = factory.invoice_xml()
    path = tmp_path / f"{SUPPLIER_VAT}_00001.xml"
    path.write_bytes(xml.replace(b"Fornitore", "Fornitore Società".encode("cp1252"), 1))
    config = make_config(tmp_path)
    store = open_store(config)
    try:
        summary = import_paths(config, store, [path])
        with store.session() as s:
            inv = s.get(ReceivedInvoice, summary.items[0]["invoice_id"])
            assert inv.status == "needs-review" and inv.valid is False
            assert [c["code"] for c in inv.report["checks"]] == ["00200"]
            assert any("windows-1252" in w for w in inv.report["warnings"])
            assert inv.number  # read all the same
    finally:
        store.close()


def test_an_invoice_delivered_by_pec_is_judged_strictly_too(tmp_path: Path,
                                                           factory: Factory) -> None:
    """The sync's passive path registers what SdI delivers with the same strict verdict."""
    xml = factory.invoice_xml()
    # blanks around a date: the lenient reader reads it, the strict verdict is 00200
    quirky = xml.replace(b"<Data>2026-01-15</Data>", b"<Data> 2026-01-15 </Data>", 1)
    assert quirky != xml
    config = make_config(tmp_path)
    store = open_store(config)
    try:
        with store.session() as s:
            msg, _created = store_raw_message(s, store.archive, factory.sdi_invoice(quirky),
                                              source="imap")
            msg_id = msg.id
        assert Pipeline.for_config(config, store).process_many([msg_id]) == [True]
        with store.session() as s:
            (inv,) = s.query(ReceivedInvoice).filter_by(message_id=msg_id).all()
            assert inv.valid is False and inv.status == "needs-review"
            assert [c["code"] for c in inv.report["checks"]] == ["00200"]
            assert any("blanks" in w for w in inv.report["warnings"])
            assert inv.number  # read all the same
    finally:
        store.close()


def test_a_base64_attachment_cut_short_is_reported(tmp_path: Path, factory: Factory) -> None:
    from email.message import EmailMessage

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@example.it", "b@example.it", "Report"
    mail["Message-ID"] = "<cut-short@example.it>"
    mail.set_content("see the file")
    mail.add_attachment(bytes(range(256)) * 40, maintype="application", subtype="pdf",
                        filename="report.pdf")
    raw = mail.as_bytes()
    cut = raw[:raw.rfind(b"\n", 0, len(raw) - 400) - 7]  # ends mid base64 group
    eml = tmp_path / "cut.eml"
    eml.write_bytes(cut)
    config = make_config(tmp_path)
    store = open_store(config)
    try:
        summary = import_paths(config, store, [eml])
        item = summary.to_json()["items"][0]
        assert item["result"] == "imported"
        assert any(p.startswith("attachment truncated: report.pdf") for p in item["problems"])
        with store.session() as s:
            msg = s.get(Message, item["message_id"])
            assert "attachment truncated: report.pdf" in (msg.error or "")
            assert msg.details["attachments"][0]["truncated"] is True
            assert msg.status == "processed"  # kept, classified: nothing is lost
    finally:
        store.close()
