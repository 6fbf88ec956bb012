"""The audit log: who did what, when, from which address, with which result.

Every mutating API call is written here by the web layer (whatever its outcome), and the
CLI's own administrative acts (token create/revoke) too. Read with `wpec audit` or
`GET /api/v1/audit` (admin only).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.models import Model, Page, check_limit, decode_cursor, encode_cursor
from wpec_invoicing.app.timefmt import Aware

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class AuditOut(Model):
    id: int
    at: Aware
    actor: str
    action: str
    target: str | None = None
    address: str | None = None
    result: str
    detail: str | None = None


def write_audit(session: Session, *, actor: str, action: str, result: str,
                target: str | None = None, address: str | None = None,
                detail: str | None = None) -> None:
    """One audit entry in the caller's transaction."""
    from wpec_invoicing.store.app_models import AuditEntry, utcnow

    session.add(AuditEntry(at=utcnow(), actor=actor[:120], action=action[:200], target=target,
                           address=address, result=result[:40],
                           detail=detail[:2000] if detail else None))


def record(ctx: AppContext, **fields: str | None) -> None:
    """One audit entry in a transaction of its own (the web layer, after a response)."""
    with ctx.session() as s:
        write_audit(s, **fields)  # type: ignore[arg-type]


def list_audit(ctx: AppContext, *, actor: str | None = None, since: datetime | None = None,
               cursor: str | None = None, limit: int = 100) -> Page[AuditOut]:
    """Newest first."""
    from sqlalchemy import select

    from wpec_invoicing.store.app_models import AuditEntry

    check_limit(limit)
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    position = decode_cursor(cursor)
    if position is not None:
        query = query.where(AuditEntry.id < int(position.get("id", 0)))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    with ctx.session() as s:
        rows = [AuditOut.model_validate(r) for r in s.scalars(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[AuditOut](items=rows,
                          next_cursor=encode_cursor({"id": rows[-1].id}) if more else None)
