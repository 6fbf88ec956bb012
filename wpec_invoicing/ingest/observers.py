"""Who else hears about received messages: observers registered at start-up.

Ingestion must feed other services (receipts and SdI notifications drive the outbox's
states) without importing them: imports point down, and the outbox sits beside ingestion,
not below it. So the composition root (`wpec_invoicing.startup.start()`, called once by the
command line, the API and embedding applications) registers the functions here, by object,
and the pipeline calls each one:

- a *message observer* `fn(session, stored_message, pec_message)`, for every message it
  `wants` (a cheap predicate on the parsed message, e.g. "a receipt"; every message when none
  is given), inside its processing transaction: one that raises is logged and recorded on the
  message (its writes are rolled back) and never stops the batch. The pipeline first runs a
  batch of messages with no savepoint per observer; when anything in the batch raises, the
  batch is rolled back and run again with each observer in its own savepoint (`isolated`),
  so the failure is recorded exactly as if every call had always been isolated;
- an *after-sync check* `fn(session, config) -> int` (alerts raised), once at the end of every
  sync pass, in its own transaction: a PEC box that is only synced (no `wpec outbox run` in
  cron) must still warn when a sent message got no acceptance receipt in time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

MessageObserver = Callable[[Any, Any, Any], None]
Wants = Callable[[Any], bool]
AfterSyncCheck = Callable[[Any, Any], int]
# (name, fn) or (name, fn, wants): tests and embedding applications pass the short form.
Registered = tuple[str, MessageObserver] | tuple[str, MessageObserver, Wants | None]

_MESSAGE_OBSERVERS: dict[str, tuple[MessageObserver, Wants | None]] = {}
_AFTER_SYNC: dict[str, AfterSyncCheck] = {}


def register_observer(name: str, fn: MessageObserver, *, wants: Wants | None = None) -> None:
    """Call `fn` for every message ingested from now on that `wants(pec_message)` accepts
    (all of them when `wants` is None); the same name replaces.

    Why `wants`: most messages in a PEC box concern no observer (an invoice, ordinary mail),
    and calling one costs a savepoint when isolated; a predicate on the already-parsed
    message skips that work without the pipeline knowing what the observer is about."""
    _MESSAGE_OBSERVERS[name] = (fn, wants)


def register_after_sync(name: str, fn: AfterSyncCheck) -> None:
    """Call `fn` at the end of every sync pass from now on (the same name replaces)."""
    _AFTER_SYNC[name] = fn


def unregister(name: str) -> None:
    """Forget an observer or check of that name (tests, plugins being unloaded)."""
    _MESSAGE_OBSERVERS.pop(name, None)
    _AFTER_SYNC.pop(name, None)


def message_observers() -> tuple[tuple[str, MessageObserver, Wants | None], ...]:
    return tuple((name, fn, wants) for name, (fn, wants) in _MESSAGE_OBSERVERS.items())


def after_sync_checks() -> tuple[tuple[str, AfterSyncCheck], ...]:
    return tuple(_AFTER_SYNC.items())


def notify(session: Any, stored_message: Any, pec_message: Any,
           observers: Sequence[Registered], *, isolated: bool = True) -> list[str]:
    """Call each observer that wants the message; returns the error texts (empty when all
    went well). `isolated`: each call in its own savepoint, a failure recorded and the
    others go on; otherwise a failure raises (the caller's batch savepoint rolls back and the
    batch is run again isolated)."""
    errors: list[str] = []
    for name, fn, *rest in observers:
        wants = rest[0] if rest else None
        if wants is not None and not wants(pec_message):
            continue
        if not isolated:
            fn(session, stored_message, pec_message)
            continue
        savepoint = session.begin_nested()
        try:
            fn(session, stored_message, pec_message)
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            log.warning("observer %s failed on message %s: %s", name,
                        getattr(stored_message, "id", "?"), exc)
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return errors


def run_after_sync(store: Any, config: Any,
                   checks: Sequence[tuple[str, AfterSyncCheck]] | None = None
                   ) -> tuple[int, list[str]]:
    """Run the after-sync checks; (alerts raised, error texts). A failing check is logged and
    never fails the sync: what was fetched and processed is already committed."""
    alerts, errors = 0, []
    for name, fn in after_sync_checks() if checks is None else checks:
        try:
            with store.session() as session:
                alerts += int(fn(session, config) or 0)
        except Exception as exc:
            log.warning("after-sync check %s failed: %s", name, exc)
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return alerts, errors
