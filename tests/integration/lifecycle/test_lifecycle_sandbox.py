"""End to end on the sandbox provider, whose boxes follow the lifecycle with its own clock:

- expire → suspended: sending waits ("casella sospesa"), sync works, incoming PEC refused;
  renewed → recovered: the waiting message goes out;
- expired again, 31 days on the provider's clock → deactivated: login refused, the product
  does not sync it; the holder's signed request → reactivated at both ends;
- deactivated, 181 days → purged: gone at the provider (mail deleted, deliveries bounce as to
  a box that never was), closed in the product;
- the notices reach the holder's PEC box (through the outbox) and ordinary box (the relay).

The product's clock is set to the provider's (`accounts.guard.clock` for the sync's checks,
`now=` for the application functions), as if the two ran on the same calendar.
"""

from __future__ import annotations

import smtplib
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.unit.accounts.signing import HOLDER_CF, Signers
from wpec_invoicing.accounts import guard
from wpec_invoicing.accounts.guard import AccountClosed
from wpec_invoicing.app import lifecycle as app
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.config import load_config
from wpec_invoicing.mailbox.sync import Mailbox
from wpec_invoicing.outbox.queue import Outbox
from wpec_invoicing.outbox.sender import run_outbox
from wpec_invoicing.store.outbox_models import OutboxItem

BOX = "azienda@pec.sandbox.test"
HOLDER_PEC = "cliente@pec.sandbox.test"
HOLDER_MAIL = "fornitore@pec.sandbox.test"  # its "ordinary" side: mail via the inbound MTA


def _config(sb, tmp_path: Path):
    path = sb.write_config(tmp_path / "wpec.toml", data_dir="data")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"""
[lifecycle]
notice_days = [7, 1]

[lifecycle.smtp]
host = "127.0.0.1"
port = {sb.smtp_inbound_port}
tls = "none"
sender = "notifiche@gestore.example"

[lifecycle.holders.main]
fiscal_code = "{HOLDER_CF}"
pec = "{HOLDER_PEC}"
email = "{HOLDER_MAIL}"
""")
    return load_config(path)


def _login_ok(sb, address: str) -> bool:
    try:
        with IMAPClient(sb.host, port=sb.imap_port, ssl_context=sb.ssl_context(),
                        timeout=30) as c:
            c.login(address, sb.accounts[address])
        return True
    except LoginError:
        return False


def _subjects(sb, address: str) -> str:
    return "\n".join(raw.decode("utf-8", "replace") for raw in sb.fetch(address))


def _wait_for(fn, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_lifecycle_end_to_end(sandbox, tmp_path, monkeypatch):
    sb = sandbox
    config = _config(sb, tmp_path)
    provider_clock = sb.lifecycle.now
    monkeypatch.setattr(guard, "clock", provider_clock)
    ctx = AppContext(config)
    store = ctx.store
    outbox = Outbox(config, store)
    mailbox = Mailbox(config, config.account("main"), store)
    assert app.list_accounts(ctx, now=provider_clock())[0].state == "active"

    # -- expire → suspended: send waits, sync works, incoming refused ------------------------
    sb.lifecycle.expire(BOX)
    sb.apply_lifecycle()
    item = outbox.enqueue([outbox.prepare_mail(HOLDER_PEC, "Fattura di cortesia", "...")],
                          account="main")[0].id
    run_outbox(outbox)
    status = app.list_accounts(ctx, now=provider_clock())[0]
    assert status.state == "suspended"  # learnt from the provider's refusal
    with store.session() as s:
        row = s.get(OutboxItem, item)
        assert (row.status, row.last_error) == ("queued", "casella sospesa")
    mailbox.sync()  # reading still works
    with smtplib.SMTP(sb.host, sb.smtp_inbound_port) as relay, \
            pytest.raises(smtplib.SMTPRecipientsRefused, match="suspended"):
        relay.sendmail("someone@example.com", [BOX], b"Subject: hi\r\n\r\nhi\r\n")
    raw = (f"From: {HOLDER_PEC}\r\nTo: {BOX}\r\nSubject: per la casella sospesa\r\n"
           "Message-ID: <to-suspended@example.com>\r\n\r\nciao\r\n").encode()
    sb.provider.submit(HOLDER_PEC, HOLDER_PEC, [BOX], raw)  # a PEC to the suspended box
    refused = [e for e in sb.provider.events_of("errore-consegna") if e.recipient == BOX]
    assert refused and "casella sospesa" in refused[-1].detail
    renewal = provider_clock().date() + timedelta(days=3)
    sb.lifecycle.set_expiry(BOX, renewal)  # renewed at the provider: recovered
    status = app.renew(ctx, "main", until=renewal, now=provider_clock())
    assert status.state == "active"
    run_outbox(outbox, until_empty=True, max_seconds=60)
    with store.session() as s:
        assert s.get(OutboxItem, item).status == "sent"
    _wait_for(lambda: "Fattura di cortesia" in _subjects(sb, HOLDER_PEC), "the waiting mail")
    # The holder heard of the suspension on both channels (PEC notices went out with it).
    _wait_for(lambda: "Casella PEC azienda@pec.sandbox.test: suspended"
              in _subjects(sb, HOLDER_PEC), "the PEC notice of the suspension")
    assert "Casella PEC azienda@pec.sandbox.test: suspended" in _subjects(sb, HOLDER_MAIL)

    # -- 31 days after expiry → deactivated; signed request → reactivated --------------------
    sb.lifecycle.advance_clock(3 + 31)
    sb.apply_lifecycle()
    assert not _login_ok(sb, BOX)
    with pytest.raises(AccountClosed, match="deactivated"):
        mailbox.sync()
    assert app.list_accounts(ctx, now=provider_clock())[0].state == "deactivated"
    signers = Signers()
    request = tmp_path / "richiesta.p7m"
    request.write_bytes(signers.request(BOX, ca=(sb.ca.ensure().key, sb.ca.ensure().cert)))
    other = tmp_path / "altrui.p7m"
    other.write_bytes(signers.request(BOX, "VRDLGU75B02F205X",
                                      ca=(sb.ca.ensure().key, sb.ca.ensure().cert)))
    wpec = [sys.executable, "-m", "wpec_invoicing", "sandbox", "account", "reactivate", BOX,
            "--fiscal-code", HOLDER_CF, "--dir", str(sb.directory)]
    refused = subprocess.run([*wpec, "--request", str(other)], capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 1 and "not by the holder" in refused.stderr
    done = subprocess.run([*wpec, "--request", str(request)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    sb.apply_lifecycle()
    assert _login_ok(sb, BOX)
    status = app.reactivate(ctx, "main", request=request.read_bytes(), now=provider_clock())
    assert status.state == "active"
    mailbox.sync()

    # -- deactivated, 181 days → purged ------------------------------------------------------
    sb.lifecycle.deactivate(BOX)
    app.deactivate(ctx, "main", now=provider_clock())
    sb.lifecycle.advance_clock(181)
    sb.apply_lifecycle()
    assert sb.lifecycle.state(BOX).value == "purged"
    assert not _login_ok(sb, BOX)
    detail = app.show_account(ctx, "main", now=provider_clock())
    assert detail.state == "purged"
    assert [e.event for e in detail.history][-2:] == ["deactivated", "purged"]
    with smtplib.SMTP(sb.host, sb.smtp_inbound_port) as relay, \
            pytest.raises(smtplib.SMTPRecipientsRefused, match="User unknown"):
        relay.sendmail("someone@example.com", [BOX], b"Subject: hi\r\n\r\nhi\r\n")
    sent = {(n.key.split(":")[0], n.channel): n.status for n in detail.notices}
    assert sent[("expired", "email")] == "sent" or sent[("soft-closed", "email")] == "sent"
    assert sent[("purged", "email")] == "sent"
    assert "Casella PEC azienda@pec.sandbox.test: purged" in _subjects(sb, HOLDER_MAIL)


def test_sandbox_account_cli_without_a_running_sandbox(tmp_path):
    def wpec(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "wpec_invoicing", "sandbox", "account",
                               *args, "--dir", str(tmp_path)], capture_output=True, text=True,
                              timeout=120)

    assert wpec("expire", BOX).returncode == 0
    refused = wpec("recover", BOX)  # the contract is over: only a renewal recovers it
    assert refused.returncode == 1 and "renew it" in refused.stderr
    assert wpec("clock", "31").returncode == 0
    import json

    listed = json.loads(wpec("list", "--json").stdout)
    assert [(b["address"], b["state"]) for b in listed["boxes"]] == [(BOX, "deactivated")]
    assert wpec("renew", BOX, "--until", "2099-01-01").returncode == 1
