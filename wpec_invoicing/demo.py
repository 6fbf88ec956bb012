"""`wpec demo`: the whole job on one machine, in well under a minute.

1. start the sandbox (PEC provider + SdI + IMAP) in a work folder and write a `wpec.toml`
   pointing the product at it;
2. create invoices from `data/demo-send/invoices.json` (numbered, written, validated, queued)
   and queue two invalid on purpose (`rejected.json`, bypassing local validation) so SdI
   rejects them; show that the product itself refuses an invalid record before sending;
3. have suppliers send invoices to the company through SdI (one from an unknown supplier);
4. run the outbox, the sync (receipts, SdI notifications, supplier invoices) and the export
   until everything settles;
5. print what happened and exit 0 only when every item reached the state it should.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from wpec_invoicing.resources import data_dir

MARKER = ".wpec-demo"
SETTLE_SECONDS = 45.0

# Suppliers that send to the company (VAT numbers with valid check digits).
SUPPLIERS = [
    ("IT05554443332", "Cartoleria Rossi S.r.l.", "Via Manzoni", "50123", "Firenze", "FI"),
    ("IT07778889993", "Energia Verde S.p.A.", "Viale Europa", "80100", "Napoli", "NA"),
    ("IT02468135799", "Fornitore Sconosciuto S.r.l.", "Via Ignota", "30100", "Venezia", "VE"),
]
# (supplier index, number of invoices, expected verification status)
RECEIVED_PLAN = [(0, 2, "verified"), (1, 1, "verified"), (2, 1, "needs-review")]


@dataclass
class DemoSummary:
    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    refused_locally: list[dict[str, Any]] = field(default_factory=list)
    exported: int = 0
    seconds: float = 0.0
    work_dir: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(r["ok"] for r in self.sent) and all(
            r["ok"] for r in self.received)

    def counts(self) -> dict[str, int]:
        def n(rows, key, value):
            return sum(1 for r in rows if r.get(key) == value)

        return {
            "sent": sum(1 for r in self.sent if r["status"] == "sent"),
            "delivered": n(self.sent, "sdi_state", "delivered")
            + n(self.sent, "sdi_state", "accepted-by-pa"),
            "accepted_by_pa": n(self.sent, "sdi_state", "accepted-by-pa"),
            "not_delivered": n(self.sent, "sdi_state", "not-delivered"),
            "rejected": n(self.sent, "sdi_state", "rejected"),
            "refused_locally": len(self.refused_locally),
            "received": len(self.received),
            "verified": n(self.received, "status", "verified"),
            "needs_review": n(self.received, "status", "needs-review"),
            "exported": self.exported,
        }

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "counts": self.counts(), "sent": self.sent,
                "received": self.received, "refused_locally": self.refused_locally,
                "problems": self.problems, "seconds": self.seconds, "work_dir": self.work_dir}

    def print(self, console: Any) -> None:
        from rich.table import Table

        sent = Table(title="Invoices sent (active cycle)", show_edge=False)
        for col in ("file", "customer", "provider", "SdI", "expected", "codes"):
            sent.add_column(col)
        for r in self.sent:
            mark = "" if r["ok"] else " [red]✗[/]"
            sent.add_row(r["file_name"], r["customer"] or "", r["provider_state"] or "-",
                         (r["sdi_state"] or "-") + mark, r["expected"],
                         ", ".join(r["codes"]))
        console.print(sent)
        received = Table(title="Invoices received from suppliers (passive cycle)",
                         show_edge=False)
        for col in ("file", "supplier", "status", "expected", "reasons"):
            received.add_column(col)
        for r in self.received:
            mark = "" if r["ok"] else " [red]✗[/]"
            received.add_row(r["file_name"] or "", r["supplier"] or "", r["status"] + mark,
                             r["expected"], "; ".join(r["reasons"]))
        console.print(received)
        for r in self.refused_locally:
            console.print(f"refused before sending (never queued): {'; '.join(r['reasons'])}",
                          markup=False)
        c = self.counts()
        console.print(
            f"sent {c['sent']} · delivered {c['delivered']} (accepted by a PA "
            f"{c['accepted_by_pa']}) · not delivered (MC) "
            f"{c['not_delivered']} · rejected by SdI {c['rejected']} · refused locally "
            f"{c['refused_locally']} · received {c['received']} · verified {c['verified']} · "
            f"needing review {c['needs_review']} · exported {c['exported']}  "
            f"({self.seconds:.1f} s, work folder {self.work_dir})", markup=False)
        for p in self.problems:
            console.print(f"[red]problem:[/] {p}", markup=False)
        console.print("[green]demo OK[/]" if self.ok else "[red]demo FAILED[/]")


def _prepare_dir(directory: Path | None) -> Path:
    work = (directory or Path.cwd() / "wpec-data" / "demo").resolve()
    if work.exists():
        if not (work / MARKER).exists() and any(work.iterdir()):
            from wpec_invoicing.errors import InputError

            raise InputError(f"{work} exists and is not a demo folder; choose another --dir")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / MARKER).write_text("made by `wpec demo`; removed by the next run\n")
    return work


def _write_config(sb: Any, work: Path, supplier: dict[str, Any]) -> Path:
    path = sb.write_config(work / "wpec.toml", data_dir="wpec-data",
                           limits={"messages_per_minute": 600, "burst": 20, "concurrency": 2,
                                   "max_message_mb": 30})
    signing = _signing_files(work)
    extra = [
        "",
        "[outbox]",
        f"signing_key_file = {json.dumps(str(signing[0]))}",
        f"signing_cert_file = {json.dumps(str(signing[1]))}",
        "verify_after_seconds = 2",
        "verify_window_seconds = 10",  # the sandbox writes receipts at once
        "retry_base_seconds = 0.5",
        "block_pause_seconds = 2",
        "",
        "[outbox.supplier]",
        *(f"{k} = {json.dumps(v)}" for k, v in supplier.items()),
        "",
        "[[exporters]]",
        'name = "accounting"',
        'type = "jsonl"',
        'statuses = ["verified"]',
        "",
    ]
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(extra))
    return path


def _signing_files(work: Path) -> tuple[Path, Path]:
    """A signing certificate for the company (PA invoices must be signed: .xml.p7m). A real
    company uses its qualified signature; the demo makes one from a throwaway CA."""
    import os

    from wpec_invoicing.cms.certs import cert_to_pem, issue_certificate, key_to_pem, make_ca

    folder = work / "signing"
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = make_ca("Demo Firma Qualificata CA")
    key, cert = issue_certificate(ca_key, ca_cert, "Azienda Demo S.r.l.",
                                  email="azienda@pec.sandbox.test",
                                  organization="Azienda Demo S.r.l.")
    key_path, cert_path = folder / "company-key.pem", folder / "company-cert.pem"
    key_path.write_bytes(key_to_pem(key))
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(cert_to_pem(cert) + cert_to_pem(ca_cert))
    return key_path, cert_path


def _supplier_invoices(company: Any) -> list[tuple[bytes, str, str, str]]:
    """(xml, file name, supplier name, expected status) for each invoice suppliers send."""
    from wpec_invoicing.fatturapa import Address, Party, VatId, invoice_file_name, write_invoice
    from wpec_invoicing.fatturapa.samples import sample_invoice

    customer = Party(vat=VatId(company.vat[:2], company.vat[2:]),
                     fiscal_code=company.fiscal_code, company_name=company.name,
                     address=Address("Via dei Mille", "00185", "Roma", "IT", number="12",
                                     province="RM"))
    out = []
    for index, count, expected in RECEIVED_PLAN:
        vat, name, street, cap, city, prov = SUPPLIERS[index]
        supplier = Party(vat=VatId("IT", vat[2:]), fiscal_code=vat[2:], company_name=name,
                         address=Address(street, cap, city, "IT", number="1", province=prov),
                         regime_fiscale="RF01")
        for n in range(1, count + 1):
            progressivo = f"D{n:04d}"
            doc = sample_invoice(supplier=supplier, customer=customer, progressivo=progressivo,
                                 lines=n + 1, codice_destinatario="0000000",
                                 on=date(2026, 1, 10 + n))
            out.append((write_invoice(doc), invoice_file_name("IT", vat[2:], progressivo), name,
                        expected))
    return out


def run_demo(directory: Path | None = None, *, imap: str = "embedded",
             log: Callable[[str], None] | None = None) -> DemoSummary:
    from wpec_invoicing.app import mailbox as passive
    from wpec_invoicing.app.context import AppContext
    from wpec_invoicing.app.sent import outbox_service
    from wpec_invoicing.config import load_config
    from wpec_invoicing.outbox.invoices import InvoiceRecord, load_records
    from wpec_invoicing.outbox.queue import Refused
    from wpec_invoicing.sandbox import Sandbox

    say = log or (lambda _msg: None)
    started = time.monotonic()
    summary = DemoSummary()
    work = _prepare_dir(directory)
    summary.work_dir = str(work)
    demo_data = data_dir() / "demo-send"
    good_text = (demo_data / "invoices.json").read_text(encoding="utf-8")
    bad_text = (demo_data / "rejected.json").read_text(encoding="utf-8")
    good, supplier = load_records(good_text, kind="json")
    bad, _ = load_records(bad_text, kind="json")

    with Sandbox(work / "sandbox", imap=imap) as sb:
        say(f"sandbox up: SMTP 127.0.0.1:{sb.smtp_implicit_port}, IMAP "
            f"127.0.0.1:{sb.imap_port} ({imap}), SdI {sb.sdi_address}")
        config = load_config(_write_config(sb, work, supplier))
        account = config.account()
        with AppContext(config) as ctx:
            outbox = outbox_service(ctx)
            passive.load_suppliers_text(ctx, (demo_data / "suppliers.csv").read_text("utf-8"))

            # The product refuses an invalid record before anything is queued.
            broken = InvoiceRecord("ORD-0999 (no customer address)", {
                "customer": {"name": "Senza Indirizzo S.r.l.", "vat": "IT12345678903"},
                "lines": [{"description": "x", "unit_price": "1.00"}]})
            try:
                outbox.create_invoices([broken], supplier=supplier)
                summary.problems.append("an invalid record was queued")
            except Refused as exc:
                summary.refused_locally = [r.to_json() for r in exc.refusals]

            expected: dict[str, str] = {}
            for q, rec in zip(outbox.create_invoices(good, supplier=supplier), good,
                              strict=True):
                expected[q.file_name or ""] = rec.data.get("expect", "delivered")
            for q, rec in zip(outbox.create_invoices(bad, supplier=supplier, validate=False),
                              bad, strict=True):
                expected[q.file_name or ""] = rec.data.get("expect", "rejected")
            say(f"queued {len(expected)} invoices for SdI")

            to_receive = _supplier_invoices(config.company)
            for xml, name, _supplier, _exp in to_receive:
                sb.inject_invoice(xml, name)
            say(f"{len(to_receive)} supplier invoices on their way through SdI")

            deadline = time.monotonic() + SETTLE_SECONDS
            exported = 0
            while True:
                result = outbox.run(until_empty=True, max_seconds=20)
                sb.wait_idle(10)
                sync = passive.sync(ctx, account)
                exported += sync.exported
                sent_rows = _sent_rows(ctx, expected)
                received_rows = _received_rows(ctx, to_receive)
                settled = all(r["ok"] for r in sent_rows) and len(received_rows) == len(
                    to_receive)
                say(f"sent {result.sent}, synced {sync.archived} new message(s)")
                if settled or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            summary.sent = sent_rows
            summary.received = received_rows
            summary.exported = exported
            if not settled:
                summary.problems.append(f"not everything settled within {SETTLE_SECONDS:g} s")
    summary.seconds = round(time.monotonic() - started, 1)
    return summary


def _sent_rows(ctx: Any, expected: dict[str, str]) -> list[dict[str, Any]]:
    from wpec_invoicing.app.sent import get_sent, list_sent

    rows, cursor = [], None
    while True:
        page = list_sent(ctx, kind="invoice", cursor=cursor, limit=500)
        for summary in page.items:
            item = get_sent(ctx, summary.id)
            want = expected.get(item.file_name or "", "delivered")
            codes = sorted({e.get("code", "") for e in (item.sdi_errors or [])})
            rows.append({
                "file_name": item.file_name, "number": item.invoice_number,
                "customer": (item.document or {}).get("customer"),
                "total": (item.document or {}).get("total"),
                "status": item.status, "provider_state": item.provider_state,
                "sdi_state": item.sdi_state, "identificativo_sdi": item.identificativo_sdi,
                "codes": codes, "expected": want,
                "ok": item.sdi_state == want and item.provider_state == "delivered"
                and (want != "rejected" or bool(codes)),
            })
        cursor = page.next_cursor
        if cursor is None:
            return rows


def _received_rows(ctx: Any, to_receive: list[tuple[bytes, str, str, str]]
                   ) -> list[dict[str, Any]]:
    from wpec_invoicing.app.received import get_received, list_received

    expected = {name: exp for _x, name, _s, exp in to_receive}
    rows, cursor = [], None
    while True:
        page = list_received(ctx, cursor=cursor, limit=500)
        for summary in page.items:
            inv = get_received(ctx, summary.id)
            want = expected.get(inv.file_name or "", "?")
            rows.append({
                "file_name": inv.file_name, "supplier": inv.supplier_name,
                "number": inv.number, "total": _money(inv.total),
                "status": inv.status, "expected": want,
                "reasons": [r.message for r in inv.reasons],
                "identificativo_sdi": inv.identificativo_sdi,
                "ok": inv.status == want,
            })
        cursor = page.next_cursor
        if cursor is None:
            return rows


def _money(value: Decimal | None) -> str:
    """As the store gave it before (two decimals)."""
    return str((value or Decimal("0")).quantize(Decimal("0.01")))
