"""Start-up: the services wired together, once per process.

The composition root. Ingestion tells other services about what it received through
`ingest.observers`; which services listen is decided here, explicitly, by the program that
runs them: the command line calls `start()` before any command, the API and the worker at
their start, an embedding application before its first sync or import. Idempotent.

May import anything below the interfaces; imports the services it wires lazily (inside the
registered functions), so starting costs nothing to a command that never ingests.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from wpec_invoicing.ingest.observers import register_after_sync, register_observer
from wpec_invoicing.rules.actions import register_action


def outbox_correlate(session: Any, stored_message: Any, pec_message: Any) -> None:
    """Receipts and SdI notifications → the states of what the outbox sent."""
    from wpec_invoicing.outbox.correlate import on_message

    on_message(session, stored_message, pec_message)


def outbox_concerns(pec_message: Any) -> bool:
    """Whether the outbox could care (a receipt, an SdI notification): the rest of the box
    skips the observer (no savepoint, no query)."""
    from wpec_invoicing.outbox.correlate import concerns

    return concerns(pec_message)


def outbox_prepare(session: Any, pec_messages: Any) -> Any:
    """One look-up for a group's receipts and notifications: which match what we sent."""
    from wpec_invoicing.outbox.correlate import prepare

    return prepare(session, pec_messages)


def outbox_overdue(session: Any, config: Any) -> int:
    """The outbox's acceptance-timeout alert (`[outbox] acceptance_timeout_minutes`): one
    alert per message sent longer ago than that with no acceptance receipt yet."""
    from wpec_invoicing.outbox.correlate import check_overdue

    minutes = float(getattr(config.outbox, "acceptance_timeout_minutes", 30))
    return int(check_overdue(session, timedelta(minutes=minutes)) or 0)


def auto_reply(options: dict[str, Any]) -> Any:
    """The `auto_reply` rule action (the outbox answers certified mail), built from its
    options when a rule names it."""
    from wpec_invoicing.outbox.autoreply import auto_reply_factory

    return auto_reply_factory(options)


def print_action(options: dict[str, Any]) -> Any:
    """The `print` rule action (render/: PDFs filed and/or sent to a CUPS printer)."""
    from wpec_invoicing.render.action import print_factory

    return print_factory(options)


def print_due(session: Any, config: Any) -> int:
    """The print jobs due after a sync (render/printing: retried, alerted, never blocking)."""
    from wpec_invoicing.render.printing import after_sync

    return int(after_sync(session, config) or 0)


def start() -> None:
    """Register the observers, after-sync checks and rule actions of the services this
    package ships."""
    register_observer("outbox.correlate", outbox_correlate, wants=outbox_concerns,
                      prepare=outbox_prepare)
    register_after_sync("outbox.acceptance-timeout", outbox_overdue)
    register_action("auto_reply", auto_reply)
    register_action("print", print_action)
    register_after_sync("render.print", print_due)
