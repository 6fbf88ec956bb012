"""Message observers: who else wants to see each message once it is stored and classified.

The sync (and the importer) call every observer listed here, imported lazily, as
`fn(session, stored_message, pec_message)` inside the processing transaction, each in its own
savepoint: an observer that raises is logged and recorded on the message (its writes are
rolled back) and never stops the batch. This is how the passive side feeds the active side
(receipts and SdI notifications drive the outbox's states) without importing it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

OBSERVERS: list[str] = ["wpec_invoicing.outbox.correlate:on_message"]

# Checks run once at the end of every sync pass (`wpec sync`, and each `--watch` round), each
# imported lazily and called as `fn(session, config) -> int` (alerts raised) in its own
# transaction. Why here: a PEC box that is only synced (no `wpec outbox run` in cron) must
# still warn when a sent message got no acceptance receipt in time.
AFTER_SYNC: list[str] = ["wpec_invoicing.mailbox.observers:outbox_overdue",
                         "wpec_invoicing.render.printing:after_sync"]

Observer = Callable[[Any, Any, Any], None]
_cache: dict[str, Observer | None] = {}


def load_observer(spec: str) -> Observer | None:
    """`module:function` → the function; None (logged once) when the module is not there."""
    if spec in _cache:
        return _cache[spec]
    module_name, _, attr = spec.partition(":")
    fn: Observer | None
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            log.debug("observer %s not installed", spec)
            fn = None
        else:
            raise
    except AttributeError:
        log.warning("observer %s: module has no %s", spec, attr)
        fn = None
    _cache[spec] = fn
    return fn


def notify(session: Any, stored_message: Any, pec_message: Any,
           observers: list[str] | None = None) -> list[str]:
    """Call each observer in a savepoint; returns the error texts (empty when all went well)."""
    errors: list[str] = []
    for spec in OBSERVERS if observers is None else observers:
        try:
            fn = load_observer(spec)
        except Exception as exc:  # an observer module that fails to import
            errors.append(f"{spec}: cannot load: {type(exc).__name__}: {exc}")
            continue
        if fn is None:
            continue
        savepoint = session.begin_nested()
        try:
            fn(session, stored_message, pec_message)
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            log.warning("observer %s failed on message %s: %s", spec,
                        getattr(stored_message, "id", "?"), exc)
            errors.append(f"{spec}: {type(exc).__name__}: {exc}")
    return errors


def outbox_overdue(session: Any, config: Any) -> int:
    """The outbox's acceptance-timeout alert (`[outbox] acceptance_timeout_minutes`): one
    alert per message sent longer ago than that with no acceptance receipt yet."""
    from datetime import timedelta

    check = load_observer("wpec_invoicing.outbox.correlate:check_overdue")
    if check is None:
        return 0
    minutes = float(getattr(config.outbox, "acceptance_timeout_minutes", 30))
    return int(check(session, timedelta(minutes=minutes)) or 0)


def after_sync(store: Any, config: Any, checks: list[str] | None = None) -> tuple[int, list[str]]:
    """Run the AFTER_SYNC checks; (alerts raised, error texts). A failing check is logged and
    never fails the sync: what was fetched and processed is already committed."""
    alerts, errors = 0, []
    for spec in AFTER_SYNC if checks is None else checks:
        try:
            fn = load_observer(spec)
            if fn is None:
                continue
            with store.session() as session:
                alerts += int(fn(session, config) or 0)
        except Exception as exc:
            log.warning("after-sync check %s failed: %s", spec, exc)
            errors.append(f"{spec}: {type(exc).__name__}: {exc}")
    return alerts, errors
