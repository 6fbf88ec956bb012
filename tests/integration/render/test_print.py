"""The `print` rule action against a real CUPS (cups-pdf): queued in the processing
transaction, carried out after it, job ids recorded, failures retried then alerted."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import select

from tests.integration.ingest.conftest import make_config, open_store
from wpec_invoicing.ingest import store_raw_message
from wpec_invoicing.ingest.pipeline import Pipeline
from wpec_invoicing.render.printing import run_print_jobs
from wpec_invoicing.store.outbox_models import OutboxAlert
from wpec_invoicing.store.render_models import PrintJob


def _text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          check=True).stdout.decode()


def _process(store, config, raw: bytes) -> int:
    with store.session() as s:
        msg, _ = store_raw_message(s, store.archive, raw, source="import")
        message_id = msg.id
    assert Pipeline.for_config(config, store).process_many([message_id]) == [True]
    return message_id


def _config(tmp_path, cups, *, printer: str):
    rule = {"save": ["header", "attachments"], "export": False, "actions": [
        {"action": "print", "parts": ["header", "attachments"], "printer": printer,
         "server": cups.socket, "folder": "stampe/{kind}/{id}"}]}
    return make_config(tmp_path, extra={"rules": {"kinds": {"sdi-invoice": rule}}})


def test_a_rule_prints_a_received_invoice_on_cups(tmp_path, cups, factory):
    config = _config(tmp_path, cups, printer=cups.queue)
    store = open_store(config)
    try:
        xml = factory.invoice_xml(number="FT-2026/0917")
        message_id = _process(store, config, factory.sdi_invoice(xml))
        with store.session() as s:  # queued with the message, nothing printed yet
            job = s.scalars(select(PrintJob)).one()
            assert (job.message_id, job.status, job.attempts) == (message_id, "pending", 0)
        outcome = run_print_jobs(store, config)
        with store.session() as s:
            job = s.scalars(select(PrintJob)).one()
            assert outcome == (1, 0), job.last_error
            assert job.status == "done" and len(job.cups_job_ids) == 2
            assert [n["name"] for n in job.not_printable] == [
                next(f for f in job.not_printable if "_MT_" in f["name"])["name"]]
            files = [Path(f) for f in job.files]
        # the invoice, as printed by CUPS: its number is on the page
        printed = cups.wait_for_job(job.cups_job_ids[1])
        try:
            assert "FT-2026/0917" in _text(printed)
        finally:
            printed.unlink()
        cups.wait_for_job(job.cups_job_ids[0]).unlink()  # the message page
        # the same PDFs filed under the path template; the invoice carries its original
        assert all(f.is_file() for f in files) and len(files) == 2
        message_pdf, invoice_pdf = files
        assert message_pdf.name.startswith("messaggio") and "FT-2026/0917" in _text(invoice_pdf)
        attachments = PdfReader(io.BytesIO(invoice_pdf.read_bytes())).attachments
        assert list(attachments.values()) == [[xml]]
    finally:
        store.close()


def test_a_missing_printer_is_retried_then_alerted_never_failing_the_sync(
        tmp_path, cups, factory):
    config = _config(tmp_path, cups, printer="no-such-printer")
    store = open_store(config)
    try:
        _process(store, config, factory.sdi_invoice())  # the processing itself succeeds
        now = datetime.now(UTC)
        assert run_print_jobs(store, config, now=now) == (0, 0)
        with store.session() as s:
            job = s.scalars(select(PrintJob)).one()
            assert job.status == "pending" and job.attempts == 1
            assert "does not exist" in job.last_error
            assert job.next_attempt_at.replace(tzinfo=UTC) > now
        assert run_print_jobs(store, config, now=now) == (0, 0)  # not due yet: untouched
        gave_up = 0
        for step in range(1, 10):
            _done, failed = run_print_jobs(store, config, now=now + timedelta(days=step))
            gave_up += failed
        assert gave_up == 1
        with store.session() as s:
            job = s.scalars(select(PrintJob)).one()
            assert job.status == "failed" and job.attempts == 6
            alert = s.scalars(select(OutboxAlert)).one()
            assert alert.kind == "print-failed" and "no-such-printer" in alert.message
    finally:
        store.close()


def test_invoices_print_command_on_cups(tmp_path, cups, factory):
    import json
    import os
    import sys

    from tests.integration.ingest.factory import COMPANY_VAT

    (tmp_path / "wpec.toml").write_text(
        f'data_dir = "data"\n[company]\nname = "Cliente Demo S.p.A."\nvat = "{COMPANY_VAT}"\n')
    config = make_config(tmp_path)
    store = open_store(config)
    try:
        _process(store, config, factory.sdi_invoice(factory.invoice_xml(number="CLI-77")))
    finally:
        store.close()
    env = {**os.environ, "CUPS_SERVER": cups.socket}
    done = subprocess.run([sys.executable, "-m", "wpec_invoicing", "invoices", "print",
                           "--printer", cups.queue, "--json", "-c",
                           str(tmp_path / "wpec.toml")], capture_output=True, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr
    batch = json.loads(done.stdout)
    [item] = batch["items"]
    assert item["outcome"] == "printed" and item["cups_job_id"].startswith(cups.queue)
    printed = cups.wait_for_job(item["cups_job_id"])
    try:
        assert "CLI-77" in _text(printed)
    finally:
        printed.unlink()
    # a printer that does not exist: reported per invoice, exit 1, no traceback
    done = subprocess.run([sys.executable, "-m", "wpec_invoicing", "invoices", "print",
                           "--printer", "nowhere", "-c", str(tmp_path / "wpec.toml")],
                          capture_output=True, env=env, check=False)
    assert done.returncode == 1 and b"does not exist" in done.stdout
    assert b"Traceback" not in done.stderr


def test_a_broken_printer_is_tried_once_per_round(tmp_path, cups, factory):
    config = _config(tmp_path, cups, printer="no-such-printer")
    store = open_store(config)
    try:
        for _ in range(3):
            _process(store, config, factory.sdi_invoice())
        assert run_print_jobs(store, config) == (0, 0)
        with store.session() as s:
            attempts = sorted(j.attempts for j in s.scalars(select(PrintJob)))
        assert attempts == [0, 0, 1]  # the others wait for the next round, uncounted
    finally:
        store.close()
