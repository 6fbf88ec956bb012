"""After each sync pass: the outbox's acceptance-timeout alert is checked too, so a box that
is only synced (no `wpec outbox run` in cron) still warns about a sent PEC with no acceptance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tests.integration.ingest.conftest import make_config, open_store
from wpec_invoicing.mailbox.sync import Mailbox
from wpec_invoicing.store.outbox_models import OutboxAlert, OutboxItem


def add_sent_item(store, *, minutes_ago: float, n: int) -> None:
    """A message the outbox sent `minutes_ago` minutes ago, with no receipt yet."""
    with store.session() as s:
        s.add(OutboxItem(account="main", kind="mail", sender="azienda@pec.sandbox.test",
                         recipient="cliente@pec.example.it", subject=f"Offerta {n}",
                         message_id=f"<offerta-{n}@wpec.test>", raw=b"x", size=1,
                         status="sent", sent_at=datetime.now(UTC) - timedelta(
                             minutes=minutes_ago)))


def test_sync_raises_the_no_acceptance_alert_once(dovecot_server, mailbox, tmp_path: Path
                                                  ) -> None:
    login, password = mailbox
    config = make_config(tmp_path, login=login, imap={
        "host": "127.0.0.1", "port": dovecot_server.imaps_port,
        "ca_file": str(dovecot_server.ca_path), "password": password},
        extra={"outbox": {"acceptance_timeout_minutes": 20}})
    store = open_store(config)
    try:
        add_sent_item(store, minutes_ago=30, n=1)  # overdue
        add_sent_item(store, minutes_ago=5, n=2)  # still within the timeout
        first = Mailbox(config, config.account(), store).sync()
        assert first.alerts == 1 and first.to_json()["alerts"] == 1
        with store.session() as s:
            alerts = list(s.scalars(select(OutboxAlert)))
        assert [a.kind for a in alerts] == ["no-acceptance"]
        assert "offerta-1@wpec.test" in alerts[0].message
        # Alerted once: the next pass says nothing new about the same message.
        assert Mailbox(config, config.account(), store).sync().alerts == 0
    finally:
        store.close()


def _broken_check(session, config) -> int:
    raise RuntimeError("this check is broken")


def test_a_failing_after_sync_check_never_fails_the_sync(dovecot_server, mailbox,
                                                         tmp_path: Path, monkeypatch) -> None:
    """A check that raises is logged, not fatal, and the checks after it still run."""
    from wpec_invoicing.ingest import observers

    # Registered first: the check registered at start-up still runs after it.
    checks = observers.after_sync_checks()
    monkeypatch.setattr(observers, "_AFTER_SYNC", {"broken": _broken_check, **dict(checks)})
    login, password = mailbox
    config = make_config(tmp_path, login=login, imap={
        "host": "127.0.0.1", "port": dovecot_server.imaps_port,
        "ca_file": str(dovecot_server.ca_path), "password": password})
    store = open_store(config)
    try:
        add_sent_item(store, minutes_ago=60, n=3)
        result = Mailbox(config, config.account(), store).sync()
        assert result.alerts == 1 and result.errors == 0
    finally:
        store.close()
