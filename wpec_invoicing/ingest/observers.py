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
  so the failure is recorded exactly as if every call had always been isolated. Because of
  that retry an observer keeps its effects to the session (it may be called again for a
  message whose group was rolled back). An observer may also `prepare` a group: one query
  for all the group's messages it wants (e.g. the outbox looks up every referenced
  Message-ID at once), returning which of them are worth a call;
- an *after-sync check* `fn(session, config) -> int` (alerts raised), once at the end of every
  sync pass, in its own transaction: a PEC box that is only synced (no `wpec outbox run` in
  cron) must still warn when a sent message got no acceptance receipt in time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MessageObserver = Callable[[Any, Any, Any], None]
Wants = Callable[[Any], bool]
# prepare(session, pec_messages of a group) -> which of them are worth a call
Prepare = Callable[[Any, Sequence[Any]], Wants]
AfterSyncCheck = Callable[[Any, Any], int]


@dataclass(frozen=True)
class Observer:
    """A registered message observer: `fn(session, stored_message, pec_message)`, called for
    the messages `wants` accepts (all when None); `prepare`, when given, is called once per
    group of messages with those it wants and returns the group's own filter."""

    name: str
    fn: MessageObserver
    wants: Wants | None = None
    prepare: Prepare | None = None


# An Observer, or the short form (name, fn[, wants[, prepare]]) tests and embedders pass.
Registered = Observer | tuple[Any, ...]

_MESSAGE_OBSERVERS: dict[str, Observer] = {}
_AFTER_SYNC: dict[str, AfterSyncCheck] = {}


def register_observer(name: str, fn: MessageObserver, *, wants: Wants | None = None,
                      prepare: Prepare | None = None) -> None:
    """Call `fn` for every message ingested from now on that `wants(pec_message)` accepts
    (all of them when `wants` is None); the same name replaces.

    Why `wants` and `prepare`: most messages in a PEC box concern no observer (an invoice,
    ordinary mail), and most receipts concern nothing the observer knows; a predicate on the
    already-parsed message, then one look-up per group, skip the calls (and their queries
    and savepoints) without the pipeline knowing what the observer is about."""
    _MESSAGE_OBSERVERS[name] = Observer(name, fn, wants, prepare)


def as_observer(item: Registered) -> Observer:
    return item if isinstance(item, Observer) else Observer(*item)


def register_after_sync(name: str, fn: AfterSyncCheck) -> None:
    """Call `fn` at the end of every sync pass from now on (the same name replaces)."""
    _AFTER_SYNC[name] = fn


def unregister(name: str) -> None:
    """Forget an observer or check of that name (tests, plugins being unloaded)."""
    _MESSAGE_OBSERVERS.pop(name, None)
    _AFTER_SYNC.pop(name, None)


def message_observers() -> tuple[Observer, ...]:
    return tuple(_MESSAGE_OBSERVERS.values())


def after_sync_checks() -> tuple[tuple[str, AfterSyncCheck], ...]:
    return tuple(_AFTER_SYNC.items())


def prepare_group(session: Any, pec_messages: Sequence[Any],
                  observers: Sequence[Observer]) -> dict[str, Wants]:
    """Each preparing observer's filter for this group (built from the messages it wants);
    `notify` then calls it only for the messages its filter accepts."""
    filters: dict[str, Wants] = {}
    for obs in observers:
        if obs.prepare is None:
            continue
        wanted = [p for p in pec_messages if obs.wants is None or obs.wants(p)]
        filters[obs.name] = obs.prepare(session, wanted) if wanted else _nothing
    return filters


def _nothing(_pec: Any) -> bool:
    return False


def notify(session: Any, stored_message: Any, pec_message: Any,
           observers: Sequence[Observer], *, isolated: bool = True,
           filters: dict[str, Wants] | None = None) -> list[str]:
    """Call each observer that wants the message (and whose group filter, when `filters`
    has one, accepts it); returns the error texts (empty when all went well). `isolated`:
    each call in its own savepoint, a failure recorded and the others go on; otherwise a
    failure raises (the caller's group savepoint rolls back and the group is run again
    isolated)."""
    errors: list[str] = []
    for obs in observers:
        name, fn = obs.name, obs.fn
        if obs.wants is not None and not obs.wants(pec_message):
            continue
        group_filter = (filters or {}).get(name)
        if group_filter is not None and not group_filter(pec_message):
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
