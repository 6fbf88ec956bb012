"""Sending through the sandbox's real SMTP/IMAP: both TLS modes with verification, the learned
SdI address, provider refusals and failures, account pauses, the auto-reply action, the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.outbox.helpers import SUPPLIER_ADDRESS, sync_until
from wpec_invoicing.cms.certs import cert_to_pem, make_ca
from wpec_invoicing.config import load_config
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.mailbox.smtp import SmtpClient, SmtpSettings
from wpec_invoicing.mailbox.sync import Mailbox
from wpec_invoicing.outbox.compose import build_message
from wpec_invoicing.outbox.queue import Outbox
from wpec_invoicing.store.models import RuleAction
from wpec_invoicing.store.outbox_models import OutboxItem

COMPANY = "azienda@pec.sandbox.test"
CLIENTE = "cliente@pec.sandbox.test"


def configure(sb, tmp_path: Path, *, tls: str = "implicit", extra: str = "") -> Path:
    path = sb.write_config(tmp_path / "wpec.toml", tls=tls)
    supplier = "\n".join(f'{k} = "{v}"' for k, v in SUPPLIER_ADDRESS.items())
    with path.open("a") as fh:
        fh.write(f"\n[outbox]\nverify_after_seconds = 1\nverify_window_seconds = 3\n"
                 f"retry_base_seconds = 0.2\n"
                 f"idle_poll_seconds = 0.2\n\n[outbox.supplier]\n{supplier}\n{extra}")
    return path


def wpec(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args, "--config",
                           str(config)], capture_output=True, text=True, timeout=90)


def invoice(tmp_path: Path, progressivo: str) -> Path:
    from tests.integration.outbox.test_correlate import _company_party

    doc = sample_invoice(progressivo=progressivo, supplier=_company_party())
    path = tmp_path / f"IT01234567897_{progressivo}.xml"
    path.write_bytes(write_invoice(doc))
    return path


def test_send_over_starttls_sync_history_and_the_learned_sdi_address(sandbox, tmp_path):
    config = configure(sandbox, tmp_path, tls="starttls")
    first = wpec(config, "send", str(invoice(tmp_path, "00011")))
    assert first.returncode == 0, first.stderr
    sandbox.wait_idle(10)

    def history_now() -> dict:
        return json.loads(wpec(config, "invoice", "history", "IT01234567897_00011.xml",
                               "--json").stdout)

    def synced() -> None:
        assert wpec(config, "sync").returncode == 0

    history = sync_until(synced, lambda: (h := history_now())["provider_state"] == "delivered"
                         and h["sdi_state"] == "delivered" and h, what="consegna and RC")
    assert history["recipient"] == "sdi01@pec.fatturapa.it"
    assert (history["provider_state"], history["sdi_state"]) == ("delivered", "delivered")
    events = [(e["source"], e["event"]) for e in history["events"]]
    assert events[:2] == [("outbox", "queued"), ("outbox", "sent")]
    assert ("provider", "accettazione") in events and ("sdi", "RC") in events
    learned = json.loads(wpec(config, "outbox", "status", "--json").stdout)["accounts"][0]
    dedicated = sandbox.sdi.dedicated_address(COMPANY)
    assert learned["sdi_address"] == dedicated != "sdi01@pec.fatturapa.it"
    # Later sends go to the dedicated address SdI answered from.
    second = wpec(config, "send", "--json", str(invoice(tmp_path, "00012")))
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.splitlines()[0])["queued"]["recipient"] == dedicated
    human = wpec(config, "invoice", "history", "IT01234567897_00011")
    assert "RC" in human.stdout and "accettazione" in human.stdout  # a report: stdout


def test_provider_refusals_and_failures_reach_the_items(sandbox, tmp_path):
    config = load_config(configure(sandbox, tmp_path))
    with Outbox(config) as outbox:
        queued = outbox.enqueue([
            outbox.prepare_mail("nessuno@pec.sandbox.test", "A chi?", "Ciao"),
            outbox.prepare_mail(CLIENTE, "Grande", "x", [("big.bin", b"x" * 300_000)]),
        ])
        sandbox.set_size_limit(200_000)  # the provider's size × recipients limit
        result = outbox.run(until_empty=True)
        assert result.sent == 2  # both handed over: the provider's receipts decide
        sandbox.wait_idle(5)

        def settled() -> bool:
            with outbox.store.session() as s:
                return all(s.get(OutboxItem, q.id).provider_state in
                           ("delivery-failed", "not-accepted") for q in queued)

        sync_until(Mailbox(config, config.account(), outbox.store).sync, settled)
        with outbox.store.session() as s:
            unknown, big = (s.get(OutboxItem, q.id) for q in queued)
            assert unknown.provider_state == "delivery-failed"
            assert big.provider_state == "not-accepted" and big.status == "failed"
            assert "limite" in big.provider_reason


def test_account_failures_pause_and_alert_and_tls_is_verified(sandbox, tmp_path):
    path = configure(sandbox, tmp_path)
    config = load_config(path)
    pw_file = config.account().password_file
    good_password = pw_file.read_text()
    pw_file.write_text("wrong-password")
    with Outbox(config) as outbox:
        outbox.enqueue([outbox.prepare_mail(CLIENTE, "Prova", "x")])
    run = wpec(path, "outbox", "run", "--until-empty")
    assert run.returncode == 4 and "paused" in run.stderr
    status = json.loads(wpec(path, "outbox", "status", "--json").stdout)
    assert status["status"] == {"queued": 1}
    assert status["accounts"][0]["paused"] is True
    assert "authentication failed" in status["accounts"][0]["pause_reason"]
    assert [a["kind"] for a in status["alerts"]] == ["account-paused"]
    # Nothing is sent while paused, even with the right password back.
    pw_file.write_text(good_password)
    assert wpec(path, "outbox", "run").returncode == 4
    assert wpec(path, "outbox", "resume", "main").returncode == 0
    assert wpec(path, "outbox", "run", "--until-empty").returncode == 0
    status = json.loads(wpec(path, "outbox", "status", "--json").stdout)
    assert status["status"] == {"sent": 1} and status["alerts"] == []

    # A server certificate from a CA we do not trust: an account failure, never a send.
    _key, other_ca = make_ca("Some Other CA")
    other = tmp_path / "other-ca.pem"
    other.write_bytes(cert_to_pem(other_ca))
    settings = SmtpSettings("127.0.0.1", sandbox.smtp_implicit_port, COMPANY,
                            lambda: good_password, ca_file=str(other))
    from wpec_invoicing.outbox.outcomes import OutcomeKind, classify_exception

    with pytest.raises(Exception) as info:
        SmtpClient(settings).connect()
    assert classify_exception(info.value).kind is OutcomeKind.ACCOUNT_FAILED
    assert "not trusted" in classify_exception(info.value).reason


AUTO_REPLY_KINDS = ("posta-certificata", "anomalia", "accettazione", "avvenuta-consegna",
                    "sdi-notification", "sdi-invoice")


def _auto_reply_rules() -> str:
    return "".join(f'\n[[rules.kinds.{kind}.actions]]\naction = "auto_reply"\n'
                   'text = "Gentile {sender}, abbiamo ricevuto: {subject}"\n'
                   for kind in AUTO_REPLY_KINDS)


def _send_as(sb, address: str, subject: str, *, auto: bool = False) -> None:
    settings = SmtpSettings("127.0.0.1", sb.smtp_implicit_port, address,
                            lambda: sb.accounts[address], ca_file=str(sb.ca_path))
    _mid, raw = build_message(sender=address, recipient=COMPANY, subject=subject,
                              body="Buongiorno")
    if auto:
        raw = raw.replace(b"\r\nSubject:", b"\r\nAuto-Submitted: auto-generated\r\nSubject:", 1)
    with SmtpClient(settings) as client:
        client.send(raw, sender=address, recipient=COMPANY)


def _send_plain(sb, sender: str, subject: str) -> None:
    """Ordinary mail from outside: the provider turns it into an ANOMALIA envelope."""
    import smtplib
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, COMPANY, subject
    msg.set_content("Buongiorno")
    with smtplib.SMTP("127.0.0.1", sb.smtp_inbound_port, timeout=30) as smtp:
        smtp.send_message(msg)


def test_auto_reply_only_to_people_once_per_window_never_to_receipts_sdi_or_robots(sandbox,
                                                                                   tmp_path):
    """auto_reply configured on every kind (receipts and SdI's too): the action itself must
    refuse what would start a loop, and answer each sender+subject once per window."""
    from datetime import timedelta

    from wpec_invoicing.store.models import Message

    sb = sandbox
    config = load_config(configure(sb, tmp_path, extra=_auto_reply_rules()))
    noreply = "no-reply@pec.sandbox.test"
    sb.add_account(noreply)
    for subject in ("Richiesta preventivo", "Richiesta preventivo", "Altro"):
        _send_as(sb, CLIENTE, subject)
    _send_as(sb, CLIENTE, "Newsletter", auto=True)
    _send_as(sb, noreply, "Conferma iscrizione")
    _send_as(sb, "sdi01@pec.fatturapa.it", "Comunicazione")  # a plain PEC from SdI's box
    _send_plain(sb, "mario.rossi@example.com", "Mail normale")
    _send_plain(sb, "noreply@example.com", "Notifica")
    sb.inject_invoice(invoice(tmp_path, "00031").read_bytes(), "IT01234567897_00031.xml")

    def replies(s) -> list[OutboxItem]:
        return list(s.scalars(select(OutboxItem).where(OutboxItem.kind == "auto-reply")))

    def details(s) -> list[tuple[str, str]]:
        return [(k, d or "") for k, d in s.execute(
            select(Message.kind, RuleAction.detail).join(Message, Message.id ==
                                                         RuleAction.message_id)
            .where(RuleAction.action == "auto_reply"))]

    with Outbox(config) as outbox:
        mailbox = Mailbox(config, config.account(), outbox.store)
        outbox.enqueue([outbox.prepare_invoice_file(invoice(tmp_path, "00032").read_bytes(),
                                                    "IT01234567897_00032.xml")])
        sb.wait_idle(10)
        # 8 messages + the injected invoice (its file + metadata in one PEC).
        sync_until(mailbox.sync, lambda: _count(outbox, details) >= 9, what="the mail")
        with outbox.store.session() as s:
            got = sorted((r.recipient, r.subject) for r in replies(s))
        assert got == [(CLIENTE, "Re: Altro"), (CLIENTE, "Re: Richiesta preventivo"),
                       ("mario.rossi@example.com", "Re: Mail normale")]
        # Send the replies and the invoice: receipts and SdI's RC come back, all configured
        # for auto_reply, none answered.
        assert outbox.run(until_empty=True).sent == 4
        sb.wait_idle(10)

        def receipts_in() -> bool:
            with outbox.store.session() as s:
                items = list(s.scalars(select(OutboxItem)))
                kinds = {k for k, _d in details(s)}
            return {"accettazione", "avvenuta-consegna"} <= kinds and all(
                i.provider_state == "delivered" for i in items if i.recipient != "mario.rossi@"
                "example.com") and all(i.sdi_state == "delivered" for i in items
                                       if i.kind == "invoice")
        sync_until(mailbox.sync, receipts_in, what="receipts and RC")
        with outbox.store.session() as s:
            assert len(replies(s)) == 3
            found = details(s)
        said = [d for _k, d in found]
        assert sum("already answered" in d for d in said) == 1
        assert sum("auto-submitted" in d for d in said) == 1
        assert sum(f"{noreply} is a no-reply" in d for d in said) == 1
        assert sum("noreply@example.com is a no-reply" in d for d in said) == 1
        assert sum("SdI mail is never answered" in d for d in said) >= 3  # sdi01, invoice, RC
        assert {k for k, d in found if "is never answered" in d and d.startswith(
            "not answered: kind")} >= {"accettazione", "avvenuta-consegna"}

        # After the window, the same sender and subject is answered again.
        with outbox.store.session() as s:
            for r in replies(s):
                r.created_at = r.created_at - timedelta(hours=25)
        _send_as(sb, CLIENTE, "Richiesta preventivo")
        sync_until(mailbox.sync, lambda: _count_replies(outbox) == 4, what="the second reply")
    inbox = sb.fetch(CLIENTE)
    assert sum(b"Gentile cliente@pec.sandbox.test" in r for r in inbox) == 2


def _count(outbox: Outbox, details) -> int:
    with outbox.store.session() as s:
        return len(details(s))


def _count_replies(outbox: Outbox) -> int:
    with outbox.store.session() as s:
        return len(list(s.scalars(select(OutboxItem.id).where(OutboxItem.kind == "auto-reply"))))


def test_demo_runs_end_to_end(tmp_path):
    result = subprocess.run([sys.executable, "-m", "wpec_invoicing", "demo", "--json",
                             "--dir", str(tmp_path / "demo")], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    counts = summary["counts"]
    assert counts["delivered"] >= 3 and counts["rejected"] == 2 and counts["not_delivered"] == 1
    assert counts["accepted_by_pa"] == 1  # the FPA12, signed: .xml.p7m, RC then NE EC01
    assert any(r["file_name"].endswith(".xml.p7m") for r in summary["sent"])
    assert counts["received"] == 4 and counts["needs_review"] == 1 and counts["exported"] == 3
    rejected = [r for r in summary["sent"] if r["sdi_state"] == "rejected"]
    assert all(r["codes"] for r in rejected)


def test_create_send_and_follow_on_both_databases(sandbox, tmp_path, db_url):
    """The whole active path (counters, claims by two workers, correlation) on SQLite and
    PostgreSQL."""
    from wpec_invoicing.outbox.invoices import load_records

    path = configure(sandbox, tmp_path)
    path.write_text(f'store_url = "{db_url}"\n' + path.read_text())
    config = load_config(path)
    records, _ = load_records(json.dumps([{
        "customer": {"name": "Cliente Demo S.p.A.", "vat": "IT12345678903",
                     "street": "Corso Italia", "postal_code": "20122", "city": "Milano"},
        "lines": [{"description": f"Voce {i}", "quantity": "1", "unit_price": "10.00"}],
    } for i in range(4)]), kind="json")
    with Outbox(config) as outbox:
        queued = outbox.create_invoices(records)
        outbox.enqueue([outbox.prepare_mail(CLIENTE, f"Avviso {i}", "x") for i in range(3)])
        assert [q.file_name for q in queued] == [f"IT01234567897_0000{i}.xml"
                                                 for i in range(1, 5)]
        assert outbox.run(until_empty=True).sent == 7
        sandbox.wait_idle(10)
        status = sync_until(Mailbox(config, config.account(), outbox.store).sync,
                            lambda: (st := outbox.status())["provider"] == {"delivered": 7}
                            and st["sdi"] == {"delivered": 4} and st)
    assert status["status"] == {"sent": 7}
    assert status["provider"] == {"delivered": 7}
    assert status["sdi"] == {"delivered": 4}


def test_invoice_create_send_queues_and_sends_a_refused_batch_queues_nothing(sandbox, tmp_path):
    config = configure(sandbox, tmp_path)
    customer = {"name": "Cliente Demo S.p.A.", "vat": "IT12345678903", "street": "Corso Italia",
                "postal_code": "20122", "city": "Milano"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([
        {"customer": customer, "lines": [{"description": "Buona", "unit_price": "10.00"}]},
        {"customer": customer, "lines": [{"description": "Zero senza natura",
                                          "unit_price": "10", "vat_rate": "0"}]}]))

    def accepted() -> int:  # the company's own submissions (SdI's answers are counted too)
        return sum(e.sender == COMPANY for e in sandbox.provider.events_of("accettazione"))

    accepted_before = accepted()
    refused = wpec(config, "invoice", "create", "--from", str(bad), "--send")
    assert refused.returncode == 1 and "00400" in refused.stdout
    assert json.loads(wpec(config, "outbox", "status", "--json").stdout)["items"] == 0
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"customer": customer, "lines": [
        {"description": f"Voce {i}", "unit_price": "10.00"}]} for i in range(2)]))
    sent = wpec(config, "invoice", "create", "--from", str(good), "--send", "--json")
    assert sent.returncode == 0, sent.stderr
    out = [json.loads(line) for line in sent.stdout.splitlines()]
    assert [o["queued"]["file_name"] for o in out[:2]] == ["IT01234567897_00001.xml",
                                                          "IT01234567897_00002.xml"]
    assert out[2]["run"]["sent"] == 2 and out[2]["run"]["remaining"] == 0
    status = json.loads(wpec(config, "outbox", "status", "--json").stdout)
    assert status["status"] == {"sent": 2}
    # Only the two good ones reached the provider: the refused batch sent nothing.
    assert accepted() == accepted_before + 2


def test_outbox_run_shows_a_progress_bar_on_a_terminal(sandbox, tmp_path):
    """On a real pseudo-terminal (not a pipe) `wpec outbox run` draws rich's bar with the
    count of messages done."""
    import os
    import pty
    import select as io_select

    path = configure(sandbox, tmp_path)
    with Outbox(load_config(path)) as outbox:
        outbox.enqueue([outbox.prepare_mail(CLIENTE, f"Avviso {i}", "x") for i in range(3)])
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    for name in ("NO_COLOR", "TERM_PROGRAM", "CI", "GITHUB_ACTIONS"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "wpec_invoicing", "outbox", "run",
                             "--until-empty", "--config", str(path)],
                            stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = io_select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    assert "sending" in text and "━" in text  # rich's bar, drawn
    assert "3/3" in text  # MofNCompleteColumn: done / total
    assert "sent 3, failed 0" in text
