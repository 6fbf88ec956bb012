"""Accounts: each configured PEC box with its state (active / paused and why), the SdI
address learned, the last sync of each folder, and the quota when the server told us."""

from __future__ import annotations

from datetime import date

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import NotFound
from wpec_invoicing.app.models import Model
from wpec_invoicing.app.timefmt import Aware


class FolderSync(Model):
    folder: str
    last_uid: int
    synced_at: Aware | None = None


class AccountOut(Model):
    name: str
    address: str
    state: str  # active | paused
    pause_reason: str | None = None
    paused_at: Aware | None = None
    sdi_address: str | None = None
    last_sync: Aware | None = None
    folders: list[FolderSync]
    quota_used_bytes: int | None = None  # known once a housekeeping run asked the server
    quota_limit_bytes: int | None = None
    quota_at: Aware | None = None  # when (the latest quota sample)
    quota_source: str | None = None  # server (RFC 9208 GETQUOTAROOT) | estimate (message sizes)
    lifecycle: str | None = None  # active | suspended | deactivated | purged (once followed)
    expires_on: date | None = None  # the contract's end, when known


def list_accounts(ctx: AppContext) -> list[AccountOut]:
    from sqlalchemy import func, select

    from wpec_invoicing.store.housekeeping_models import AccountLifecycle, QuotaSample
    from wpec_invoicing.store.models import FolderState
    from wpec_invoicing.store.outbox_models import OutboxAccount

    with ctx.session() as s:
        states = {a.name: a for a in s.scalars(select(OutboxAccount))}
        latest = (select(QuotaSample.account, func.max(QuotaSample.id).label("id"))
                  .group_by(QuotaSample.account).subquery())
        quotas = {q.account: q for q in s.scalars(
            select(QuotaSample).join(latest, QuotaSample.id == latest.c.id))}
        lifecycles = {lc.account: lc for lc in s.scalars(select(AccountLifecycle))}
        folders: dict[str, list[FolderState]] = {}
        for f in s.scalars(select(FolderState).order_by(FolderState.folder)):
            folders.setdefault(f.account, []).append(f)
        out = []
        for acc in ctx.config.accounts:
            st = states.get(acc.name)
            syncs = [FolderSync.model_validate(f) for f in folders.get(acc.name, [])]
            times = [f.synced_at for f in syncs if f.synced_at is not None]
            out.append(AccountOut(
                name=acc.name, address=acc.address,
                state="paused" if st is not None and st.paused else "active",
                pause_reason=st.pause_reason if st else None,
                paused_at=st.paused_at if st else None,
                sdi_address=st.sdi_address if st else None,
                last_sync=max(times) if times else None, folders=syncs,
                **_quota_and_lifecycle(quotas.get(acc.name), lifecycles.get(acc.name))))
        return out


def _quota_and_lifecycle(quota, lifecycle) -> dict:
    """The housekeeping's latest quota reading and the lifecycle state of one account."""
    out: dict = {}
    if quota is not None:
        out.update(quota_used_bytes=quota.used_bytes, quota_limit_bytes=quota.limit_bytes,
                   quota_at=quota.at, quota_source=quota.source)
    if lifecycle is not None:
        out.update(lifecycle=lifecycle.state, expires_on=lifecycle.expires_on)
    return out


def get_account(ctx: AppContext, name: str) -> AccountOut:
    for acc in list_accounts(ctx):
        if acc.name == name:
            return acc
    raise NotFound(f"no account named {name!r}")


def resume(ctx: AppContext, name: str) -> AccountOut:
    """Resume a paused account (after its credentials were fixed) and close its alert."""
    from wpec_invoicing.outbox.queue import Outbox

    get_account(ctx, name)
    Outbox(ctx.config, store=ctx.store).resume_account(name)
    return get_account(ctx, name)
