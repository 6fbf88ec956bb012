"""Quota: read it from the server (RFC 9208 GETQUOTAROOT) or estimate it, keep it as a time
series, raise and clear threshold alerts.

Why an estimate at all: some PEC providers do not offer IMAP QUOTA; the sum of the message
sizes of every folder is then what the box holds, and the limit is unknown (no percentage,
no alert, but the trend is still kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wpec_invoicing.store.alerts import clear_alert, raise_alert
from wpec_invoicing.store.housekeeping_models import QuotaSample
from wpec_invoicing.store.outbox_models import OutboxAlert


@dataclass(frozen=True)
class QuotaReading:
    used_bytes: int
    limit_bytes: int | None
    source: str  # server | estimate
    messages: int | None = None

    @property
    def percent(self) -> float | None:
        if not self.limit_bytes:
            return None
        return 100.0 * self.used_bytes / self.limit_bytes

    def to_json(self) -> dict:
        return {"used_bytes": self.used_bytes, "limit_bytes": self.limit_bytes,
                "percent": round(self.percent, 2) if self.percent is not None else None,
                "source": self.source, "messages": self.messages}


def read_quota(imap, folders: list[str]) -> QuotaReading:
    """From the server when it offers QUOTA, else the sum of RFC822.SIZE over `folders`."""
    got = imap.quota(folders[0] if folders else "INBOX")
    if got is not None:
        return QuotaReading(got[0], got[1], "server")
    used = count = 0
    for folder in folders:
        info = imap.select(folder)
        if not info.exists:
            continue
        # By UID list, not a `1:*` sequence set, which some servers (pymap) refuse.
        sizes = imap.sizes(imap.uids_after(0))
        used += sum(sizes.values())
        count += len(sizes)
    return QuotaReading(used, None, "estimate", count)


def threshold_level(percent: float | None, warning: float, critical: float) -> str | None:
    """'critical', 'warning' or None (below both, or no known limit)."""
    if percent is None:
        return None
    if percent >= critical:
        return "critical"
    if percent >= warning:
        return "warning"
    return None


def record(session: Session, account: str, reading: QuotaReading, *, warning: float,
           critical: float, now: datetime | None = None) -> str | None:
    """Store the sample; open the alert of the level reached (resolving the other), or resolve
    every quota alert when usage is below both thresholds. Returns the level."""
    now = now or datetime.now(UTC)
    session.add(QuotaSample(account=account, at=now, used_bytes=reading.used_bytes,
                            limit_bytes=reading.limit_bytes, messages=reading.messages,
                            source=reading.source))
    level = threshold_level(reading.percent, warning, critical)
    open_alerts = list(session.scalars(select(OutboxAlert).where(
        OutboxAlert.account == account,
        OutboxAlert.kind.in_(("quota-warning", "quota-critical")),
        OutboxAlert.resolved_at.is_(None))))
    wanted = f"quota-{level}" if level else None
    for alert in open_alerts:
        if alert.kind != wanted:
            clear_alert(session, alert, actor="housekeeping", now=now)
    if wanted and not any(a.kind == wanted for a in open_alerts):
        raise_alert(session, wanted,
                    f"mailbox {account} is {reading.percent:.1f}% full "
                    f"({reading.used_bytes} of {reading.limit_bytes} bytes): {level}",
                    account=account, now=now)
    return level
