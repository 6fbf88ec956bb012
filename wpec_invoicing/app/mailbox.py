"""The passive cycle's runs, as the command line and the worker start them: sync a box (once
or watching), import files, hand invoices to the exporters, load the supplier registry.

Why here and not in the interfaces: each run needs the store, the archive and the trust
store opened together, the supplier registry refreshed first, and the exports that the
rules queued run after; written once, the CLI, the worker and the demo do the same thing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from wpec_invoicing.app.context import AppContext


def refresh_suppliers(ctx: AppContext) -> tuple[Any, int] | None:
    """Load `suppliers_csv` (when configured) and re-verify open invoices if it changed:
    (LoadResult, invoices that changed state), or None."""
    from wpec_invoicing.rules.passive import refresh_suppliers as refresh

    return refresh(ctx.config, ctx.store)


def load_suppliers_csv(ctx: AppContext, path: Path) -> tuple[Any, int]:
    """Upsert the registry from a CSV file, then re-verify open invoices:
    (LoadResult, invoices that changed state)."""
    from wpec_invoicing.ingest.context import load_trust
    from wpec_invoicing.rules.passive import reverify_open
    from wpec_invoicing.rules.suppliers import load_suppliers_csv as load

    trust = load_trust(ctx.config)
    with ctx.session() as s:
        result = load(s, path)
    with ctx.session() as s:
        changed = reverify_open(s, ctx.config, trust=trust, archive=ctx.store.archive)
    return result, changed


def load_suppliers_text(ctx: AppContext, text: str) -> Any:
    """Upsert the registry from CSV text (no re-verification: for a fresh store)."""
    from wpec_invoicing.rules.suppliers import load_suppliers_text as load

    with ctx.session() as s:
        return load(s, text)


def sync(ctx: AppContext, account: Any) -> Any:
    """One sync of one account (`config.AccountConfig`), then the pending exports:
    the `SyncResult` with `.exported` set. The same job function a `wpec worker` runs."""
    from wpec_invoicing.jobs.work import sync_account

    return sync_account(ctx.config, ctx.store, account)


def watch(ctx: AppContext, accounts: list[Any], *, stop: threading.Event,
          on_result: Callable[[Any, int], None]) -> list[threading.Thread]:
    """Watch every account (IMAP IDLE, reconnecting with backoff), one thread each;
    `on_result(result, exported)` after each round. Returns the started threads."""
    from wpec_invoicing.mailbox.sync import Mailbox

    def report(result: Any) -> None:
        on_result(result, run_pending_exports(ctx))

    threads = []
    for acc in accounts:
        mb = Mailbox(ctx.config, acc, ctx.store)
        t = threading.Thread(target=mb.watch, kwargs={"stop": stop, "on_result": report},
                             name=f"sync-{acc.name}", daemon=True)
        t.start()
        threads.append(t)
    return threads


def run_pending_exports(ctx: AppContext) -> int:
    from wpec_invoicing.mailbox.sync import run_pending_exports as run

    return run(ctx.config, ctx.store)


def run_exports(ctx: AppContext, *, names: list[str] | None = None, since: date | None = None,
                again: bool = False) -> list[Any]:
    """Hand received invoices to the exporters (each once per exporter unless `again`)."""
    from wpec_invoicing.exporters.base import ExportResult
    from wpec_invoicing.exporters.base import run_exports as run

    results = run(ctx.config, ctx.store, names=names, since=since, again=again)
    for d in deliver_event_webhooks(ctx, names=names):
        results.append(ExportResult(d.exporter, exported=d.delivered,
                                    failed=1 if d.failed else 0, errors=d.errors))
    return results


def deliver_event_webhooks(ctx: AppContext, names: list[str] | None = None) -> list[Any]:
    """Post new events to the event webhooks (exporters with `options.events`)."""
    from wpec_invoicing.exporters.events import deliver_events, event_exporters

    if not event_exporters(ctx.config):
        return []
    return deliver_events(ctx.config, ctx.store, names)


def import_paths(ctx: AppContext, paths: list[Path], *,
                 progress: Callable[[int, int, str], None] | None = None) -> Any:
    """Import files, folders, zips and .eml messages (`wpec import`): the ImportSummary."""
    from wpec_invoicing.importer import import_paths as run

    return run(ctx.config, ctx.store, paths, progress=progress)


def store_revisions(ctx: AppContext) -> tuple[str, list[str]]:
    """Open (and so migrate) the store: its URL without password and its revisions."""
    from wpec_invoicing.store.db import current_revisions

    store = ctx.store
    return (store.engine.url.render_as_string(hide_password=True),
            sorted(current_revisions(store.engine)))
