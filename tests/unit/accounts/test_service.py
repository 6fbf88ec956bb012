"""The lifecycle in the product, on a real store (SQLite) and the real outbox queue: the
clock is moved by hand. Suspended: outgoing items wait with "casella sospesa" and resume on
recovery; deactivated: not synced; reactivation only on the holder's signed request; purged
is final; notices are recorded once each, on both channels."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.unit.accounts.signing import HOLDER_CF, OTHER_CF, Signers
from wpec_invoicing.accounts.guard import AccountClosed, after_sync_failure, before_sync
from wpec_invoicing.app import lifecycle as app
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import Conflict
from wpec_invoicing.config import config_from_dict
from wpec_invoicing.outbox.queue import Outbox
from wpec_invoicing.store.housekeeping_models import AccountNotice
from wpec_invoicing.store.outbox_models import OutboxAccount, OutboxItem

ADDRESS = "azienda@pec.sandbox.test"
EXPIRES = date(2027, 6, 30)


@pytest.fixture(scope="module")
def signers() -> Signers:
    return Signers()


@pytest.fixture
def ctx(tmp_path: Path, signers: Signers):
    (tmp_path / "trust.pem").write_bytes(signers.ca_pem)
    os.environ.setdefault("WPEC_TEST_LC_PW", "x")
    config = config_from_dict({
        "data_dir": "data", "trust_store": "trust.pem",
        "accounts": [{"name": "main", "address": ADDRESS, "password_env": "WPEC_TEST_LC_PW",
                      "smtp": {"host": "127.0.0.1", "port": 2525}}],
        "lifecycle": {"holders": {"main": {"fiscal_code": HOLDER_CF, "expires_on": EXPIRES,
                                           "pec": "titolare@pec.sandbox.test",
                                           "email": "titolare@example.com"}}},
    }, base=tmp_path)
    with AppContext(config) as c:
        yield c


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _queue_mail(ctx) -> int:
    outbox = Outbox(ctx.config, ctx.store)
    items = outbox.enqueue([outbox.prepare_mail("cliente@pec.sandbox.test", "Sollecito", "...")],
                           account="main")
    return items[0].id


def test_expire_suspend_wait_recover_resume(ctx):
    item = _queue_mail(ctx)
    status = app.list_accounts(ctx, now=at(EXPIRES + timedelta(days=1)))[0]
    assert status.state == "suspended" and status.days_left == 29
    with ctx.session() as s:
        acct = s.get(OutboxAccount, "main")
        assert acct.paused and acct.pause_reason == "casella sospesa"
        assert s.get(OutboxItem, item).status == "queued"
        assert s.get(OutboxItem, item).last_error == "casella sospesa"
    before_sync(ctx.config, ctx.config.account("main"), ctx.store,
                now=at(EXPIRES + timedelta(days=2)))  # a suspended box is still synced
    status = app.renew(ctx, "main", until=date(2028, 6, 30), now=at(EXPIRES + timedelta(days=3)))
    assert status.state == "active" and status.expires_on == date(2028, 6, 30)
    with ctx.session() as s:
        assert not s.get(OutboxAccount, "main").paused
        assert s.get(OutboxItem, item).last_error is None
    detail = app.show_account(ctx, "main", now=at(EXPIRES + timedelta(days=3)))
    assert [e.event for e in detail.history] == ["expired", "recovered"]


def test_deactivated_then_reactivated_only_by_the_holders_signed_request(ctx, signers):
    later = at(EXPIRES + timedelta(days=31))
    with pytest.raises(Conflict, match="only be reactivated with a signed request"):
        app.recover(ctx, "main", now=later)
    assert app.show_account(ctx, "main", now=later).state == "deactivated"
    with pytest.raises(AccountClosed, match="deactivated"):
        before_sync(ctx.config, ctx.config.account("main"), ctx.store, now=later)
    good = signers.request(ADDRESS)
    rogue_ca = Signers()
    refusals = {
        b"not a p7m at all": "not a signed request",
        good[:-40] + bytes(40): "not intact",
        signers.request(ADDRESS, OTHER_CF): f"signed by {OTHER_CF}, not by the holder",
        rogue_ca.request(ADDRESS): "not trusted",
        signers.request("altra@pec.sandbox.test"): "does not name the mailbox",
    }
    for request, why in refusals.items():
        with pytest.raises(Conflict, match=why):
            app.reactivate(ctx, "main", request=request, now=later)
    status = app.reactivate(ctx, "main", request=good, now=later, until=date(2028, 1, 1))
    assert status.state == "active" and status.expires_on == date(2028, 1, 1)


def test_purged_after_180_days_is_final(ctx, signers):
    gone = at(EXPIRES + timedelta(days=30 + 181))
    status = app.list_accounts(ctx, now=gone)[0]
    assert status.state == "purged" and status.days_left is None
    with pytest.raises(Conflict, match="purged"):
        app.reactivate(ctx, "main", request=signers.request(ADDRESS), now=gone)
    detail = app.show_account(ctx, "main", now=gone)
    assert [e.event for e in detail.history] == ["expired", "deactivated", "purged"]
    assert [a.kind for a in detail.alerts] == ["lifecycle"]  # one open: the latest state
    assert "purged" in detail.alerts[0].message
    from wpec_invoicing.app.alerts import list_alerts  # the shared alerts, as `wpec alerts`
    from wpec_invoicing.app.events import list_events

    shared = [a for a in list_alerts(ctx).items if a.kind == "lifecycle"]
    assert [(a.id, a.account) for a in shared] == [(detail.alerts[0].id, "main")]
    types = [e.type for e in list_events(ctx, types=["alert."]).items]
    assert types.count("alert.raised") == types.count("alert.cleared") + 1  # superseded ones


def test_notices_once_each_on_both_channels(ctx):
    for days_before in (70, 59, 58, 29, 6, 6, 0):
        app.list_accounts(ctx, now=at(EXPIRES - timedelta(days=days_before)))
    with ctx.session() as s:
        rows = list(s.scalars(select(AccountNotice).order_by(AccountNotice.id)))
        pec_items = list(s.scalars(select(OutboxItem).where(
            OutboxItem.recipient == "titolare@pec.sandbox.test")))
    sent = [(r.key.split(":")[0], r.channel, r.status) for r in rows]
    assert sent == [
        ("expiry-60", "pec", "queued"), ("expiry-60", "email", "skipped"),
        ("expiry-30", "pec", "queued"), ("expiry-30", "email", "skipped"),
        ("expiry-7", "pec", "queued"), ("expiry-7", "email", "skipped"),
        ("expired", "pec", "queued"), ("expired", "email", "skipped"),
    ]
    assert rows[1].detail.startswith("no ordinary-mail relay")  # none configured here
    assert len(pec_items) == 4 and "scade" in pec_items[0].subject


def test_refused_login_after_expiry_means_deactivated(ctx):
    from wpec_invoicing.mailbox.imap import ImapError

    account = ctx.config.account("main")
    exc = ImapError("IMAP 127.0.0.1:993: login refused for azienda: [AUTHENTICATIONFAILED]")
    for _ in range(3):  # a sync retried: one alert, not three
        after_sync_failure(ctx.config, account, ctx.store, exc,
                           now=at(EXPIRES - timedelta(days=9)))
    shown = app.show_account(ctx, "main", now=at(EXPIRES - timedelta(days=9)))
    assert shown.state == "active"
    assert [a.kind for a in shown.alerts] == ["login-refused"]
    after_sync_failure(ctx.config, account, ctx.store, exc, now=at(EXPIRES + timedelta(days=2)))
    detail = app.show_account(ctx, "main", now=at(EXPIRES + timedelta(days=2)))
    assert detail.state == "deactivated"
    assert "refused the login" in detail.history[-1].detail


def test_cli_illegal_move_is_one_line_and_exit_1(tmp_path, signers):
    import json
    import subprocess
    import sys

    (tmp_path / "wpec.toml").write_text(f'''data_dir = "data"
[[accounts]]
name = "main"
address = "{ADDRESS}"
[lifecycle.holders.main]
fiscal_code = "{HOLDER_CF}"
expires_on = 2099-01-01
''', encoding="utf-8")
    (tmp_path / "req.p7m").write_bytes(signers.request(ADDRESS))

    def wpec(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args, "-c",
                               str(tmp_path / "wpec.toml")], capture_output=True, text=True,
                              timeout=120)

    listed = wpec("accounts", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    row = json.loads(listed.stdout)[0]
    assert (row["name"], row["state"], row["expires_on"]) == ("main", "active", "2099-01-01")
    assert wpec("accounts", "deactivate", "main").returncode == 0
    refused = wpec("accounts", "recover", "main")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "signed request" in refused.stderr
    # No trust store configured: even a well-signed request cannot be trusted.
    refused = wpec("accounts", "reactivate", "main", "--request", str(tmp_path / "req.p7m"))
    assert refused.returncode == 1 and "no trust store" in refused.stderr
    assert wpec("accounts", "show", "nobody").returncode == 2
