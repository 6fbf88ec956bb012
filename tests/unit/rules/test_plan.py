"""The rules decide without a store: message facts + config → the plan the pipeline carries
out. No database, no server, no disk: `decide` is a pure function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wpec_invoicing.config import config_from_dict
from wpec_invoicing.rules.plan import Location, MessageFacts, ServerAction, decide

WHEN = datetime(2026, 3, 9, 10, 30, tzinfo=UTC)


@dataclass(frozen=True)
class File:
    name: str
    data: bytes
    content_type: str = "application/octet-stream"


def _config(tmp_path: Path, rules: dict | None = None):
    return config_from_dict({"data_dir": "data", "rules": rules or {}}, base=tmp_path)


def _facts(kind: str, **kw) -> MessageFacts:
    return MessageFacts(id=7, sha256="ab" * 32, kind=kind, when=WHEN,
                        sender="fornitore@pec.example.it", subject="Fattura 12/A", **kw)


def test_out_of_the_box_certified_mail_is_saved_whole_and_nothing_is_moved(tmp_path):
    pdf, exe = File("offerta.pdf", b"%PDF-1.4\n%x\n"), File("fattura.pdf", b"MZ\x90\x00" * 40)
    plan = decide(_facts("posta-certificata", attachments=(pdf, exe), account="main",
                         locations=(Location(1, "main", "INBOX"),)), _config(tmp_path))
    assert plan.save_header and plan.save_body and plan.save_attachments
    assert plan.folder.is_relative_to(tmp_path / "data" / "files" / "posta-certificata")
    verdicts = {att.name: verdict.accepted for att, verdict in plan.attachments}
    assert verdicts == {"offerta.pdf": True, "fattura.pdf": False}  # the fake PDF: quarantine
    assert plan.server_actions == () and plan.actions == () and plan.export is None


def test_receipts_are_left_alone_by_default(tmp_path):
    plan = decide(_facts("avvenuta-consegna"), _config(tmp_path))
    assert plan.folder is None and not plan.attachments and plan.export is None


def test_an_sdi_invoice_is_exported_only_when_invoices_were_registered(tmp_path):
    config = _config(tmp_path)
    assert decide(_facts("sdi-invoice", invoices=1), config).export == ()  # every exporter
    assert decide(_facts("sdi-invoice", invoices=0), config).export is None
    named = _config(tmp_path, {"kinds": {"sdi-invoice": {"export": ["erp", "csv"]}}})
    assert decide(_facts("sdi-invoice", invoices=2), named).export == ("erp", "csv")


def test_moves_and_flags_only_for_live_copies_of_the_account_being_synced(tmp_path):
    config = _config(tmp_path, {"kinds": {"avvenuta-consegna": {
        "move_to": "PEC/Ricevute", "flag": ["\\Seen", "$Ricevuta"]}}})
    copies = (Location(1, "main", "INBOX"), Location(2, "main", "PEC/Ricevute"),
              Location(3, "other", "INBOX"), Location(4, "main", "Archivio", gone=True))
    plan = decide(_facts("avvenuta-consegna", account="main", locations=copies), config)
    assert set(plan.server_actions) == {
        ServerAction("flag", "\\Seen $Ricevuta", 1), ServerAction("move", "PEC/Ricevute", 1),
        ServerAction("flag", "\\Seen $Ricevuta", 2)}  # already there: never moved again
    # An imported message (no account) has no server copy to act on.
    assert decide(_facts("avvenuta-consegna", locations=copies), config).server_actions == ()


def test_a_configured_kind_replaces_its_default_and_lists_its_actions(tmp_path):
    config = _config(tmp_path, {"kinds": {"posta-certificata": {
        "save": ["header"], "path": "pec/{sender}",
        "actions": [{"action": "auto_reply", "subject": "Ricevuto"}]}}})
    plan = decide(_facts("posta-certificata", attachments=(File("a.pdf", b"%PDF-1.4"),)),
                  config)
    assert plan.save_header and not plan.save_body and not plan.save_attachments
    assert plan.folder == tmp_path / "data" / "files" / "pec" / "fornitore@pec.example.it"
    assert plan.actions == ((0, {"action": "auto_reply", "subject": "Ricevuto"}),)
