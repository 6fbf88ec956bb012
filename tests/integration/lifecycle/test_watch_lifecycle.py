"""`wpec sync --watch` meets the lifecycle as the one-shot sync does, against the sandbox
provider: a box the provider deactivated (login refused after its expiry) is recorded as
deactivated with an alert and the watch of that account ends, instead of reconnecting forever.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from wpec_invoicing.accounts import guard
from wpec_invoicing.app import lifecycle as app
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.config import load_config
from wpec_invoicing.mailbox.sync import Mailbox
from wpec_invoicing.store.outbox_models import OutboxAlert

BOX = "azienda@pec.sandbox.test"


def test_watch_maps_a_refused_login_to_deactivated_and_stops(sandbox, tmp_path: Path,
                                                             monkeypatch) -> None:
    sb = sandbox
    monkeypatch.setattr(guard, "clock", sb.lifecycle.now)
    expired = sb.lifecycle.now().date() - timedelta(days=1)
    path = sb.write_config(tmp_path / "wpec.toml", data_dir="data")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f'\n[lifecycle.holders.main]\nexpires_on = "{expired.isoformat()}"\n')
    config = load_config(path)
    ctx = AppContext(config)
    # The provider closed the box early: its logins are refused from now on.
    sb.lifecycle.expire(BOX)
    sb.lifecycle.deactivate(BOX)
    sb.apply_lifecycle()

    box = Mailbox(config, config.account("main"), ctx.store)
    stop = threading.Event()
    rounds: list = []
    thread = threading.Thread(target=box.watch, kwargs={
        "stop": stop, "idle_seconds": 3600.0, "max_backoff": 0.2,
        "on_result": rounds.append}, daemon=True)
    thread.start()
    thread.join(timeout=60)
    stop.set()
    ended_by_itself = not thread.is_alive()
    thread.join(timeout=10)
    assert ended_by_itself, "the watch kept retrying a deactivated box"
    assert rounds == []
    assert app.list_accounts(ctx, now=sb.lifecycle.now())[0].state == "deactivated"
    with ctx.store.session() as s:
        alerts = [(a.kind, a.message) for a in s.scalars(select(OutboxAlert).where(
            OutboxAlert.account == "main", OutboxAlert.resolved_at.is_(None)))]
    assert any(kind == "lifecycle" and "deactivated" in text for kind, text in alerts), alerts

    # A watch started later on the closed box ends at once, without logging in.
    again = threading.Thread(target=Mailbox(config, config.account("main"), ctx.store).watch,
                             kwargs={"stop": stop, "max_backoff": 0.2}, daemon=True)
    stop.clear()
    again.start()
    again.join(timeout=30)
    assert not again.is_alive()
