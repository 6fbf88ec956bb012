"""Stage 6: the plan carried out, inside the message's processing transaction.

In the plan's order: files saved (and quarantined), the plugin document type's own step,
the rule's actions (each in its own savepoint: one that fails is logged as failed and the
others go on), the server flags/moves queued as pending (the sync performs them after
commit, never here), the invoices queued for the exporters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from wpec_invoicing.ingest.rule_log import log_rule_action
from wpec_invoicing.rules.actions import ActionContext, build_action
from wpec_invoicing.store.models import RuleAction, utcnow

log = logging.getLogger(__name__)


@dataclass
class Done:
    """What carrying out the plan did."""

    saved: list[str] = field(default_factory=list)
    quarantined: int = 0
    pending_server_actions: int = 0


def queue_server_actions(session: Any, message_id: int, actions: Any) -> int:
    """Log each planned flag/move as pending for the sync (done after commit)."""
    for action in actions:
        log_rule_action(session, message_id, action.action, target=action.target,
                        status="pending", location_id=action.location_id)
    return len(actions)


def carry_out(ctx: Any, session: Any, msg: Any, pec: Any, raw: bytes, plan: Any, *,
              account: Any = None, doctype: Any = None, prepared: Any = None) -> Done:
    """`prepared`: the message's `ingest.recognise.Prepared`, when it was parsed ahead."""
    from wpec_invoicing.ingest.save import save_files

    done = Done()
    if plan.folder is not None:
        done.saved, done.quarantined = save_files(ctx, session, msg, pec, raw, plan,
                                                  prepared=prepared)
    if plan.run_doctype:
        detail = doctype.process(ActionContext(session, ctx.config, account, msg, pec,
                                               plan.kind, raw))
        session.add(RuleAction(message_id=msg.id, action=f"doctype:{doctype.name}",
                               detail=detail))
    for index, spec in plan.actions:
        run_action(ctx, session, msg, pec, raw, plan.kind, account, index, spec)
    done.pending_server_actions = queue_server_actions(session, msg.id, plan.server_actions)
    if plan.export is not None:
        log_rule_action(session, msg.id, "export", status="pending",
                        target=",".join(plan.export) or None)
    return done


def run_action(ctx: Any, session: Any, msg: Any, pec: Any, raw: bytes, kind: str,
               account: Any, index: int, spec: dict[str, Any]) -> None:
    """One named rule action, in its own savepoint, logged as done or failed."""
    name = spec.get("action", "?")
    row = RuleAction(message_id=msg.id, action=name, status="done")
    savepoint = session.begin_nested()
    try:
        key = (kind, index)
        if key not in ctx.actions:
            ctx.actions[key] = build_action(spec)
        detail = ctx.actions[key](ActionContext(session, ctx.config, account, msg, pec,
                                                kind, raw))
        savepoint.commit()
        row.detail, row.done_at = detail, utcnow()
    except Exception as exc:
        savepoint.rollback()
        row.status, row.detail = "failed", f"{type(exc).__name__}: {exc}"[:4000]
        log.warning("action %s failed on message %s: %s", name, msg.id, exc)
    session.add(row)
