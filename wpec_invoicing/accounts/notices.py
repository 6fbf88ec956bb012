"""Which notices are due: before expiry (default 60, 30, 7 and 1 days) and at every transition.

Pure: the lifecycle, the clock and the notice days in; (key, subject, body) out. The key makes
a notice idempotent (the store keeps one row per key and channel): running the check twice a
day, or after a crash, never sends a notice twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wpec_invoicing.accounts.lifecycle import DEFAULT_TIMINGS, Event, Lifecycle, State, Timings


@dataclass(frozen=True)
class Notice:
    key: str
    subject: str
    body: str


_STATE_TEXT = {
    "expired": "è scaduta ed è sospesa: per {days} giorni si può leggere ma non inviare né "
               "ricevere; rinnovandola entro il {deadline} torna attiva.",
    "soft-closed": "è stata sospesa: per {days} giorni si può leggere ma non inviare né "
                   "ricevere; entro il {deadline} può essere recuperata.",
    "deactivated": "è disattivata: non è più accessibile. Il gestore conserva i messaggi fino "
                   "al {deadline}; entro quella data può essere riattivata solo con una "
                   "richiesta firmata digitalmente dal titolare.",
    "purged": "è stata cancellata dal gestore: l'archivio locale è l'unica copia rimasta dei "
              "messaggi.",
    "recovered": "è di nuovo attiva (recuperata).",
    "reactivated": "è stata riattivata.",
    "renewed": "è stata rinnovata.",
}


def expiry_notices(account: str, address: str, lc: Lifecycle, now: datetime,
                   days: list[int]) -> tuple[Notice | None, list[str]]:
    """The one expiry notice due now (the closest threshold reached) and the keys of the
    farther thresholds it supersedes (recorded as skipped: a box created 5 days before its
    expiry gets the 7-day notice, not three at once)."""
    if lc.state is not State.ACTIVE or lc.expires_on is None:
        return None, []
    left = (lc.expires_on - now.date()).days
    if left <= 0:
        return None, []
    reached = sorted(d for d in days if left <= d)
    if not reached:
        return None, []
    key = f"expiry-{reached[0]}:{lc.expires_on}"
    subject = f"La casella PEC {address} scade tra {left} giorn{'o' if left == 1 else 'i'}"
    body = (f"La casella PEC {address} (account {account}) scade il {lc.expires_on}.\n"
            "Rinnovarla prima della scadenza evita la sospensione: dopo la scadenza la casella "
            "resta per 30 giorni in sola lettura, poi viene disattivata.\n")
    return Notice(key, subject, body), [f"expiry-{d}:{lc.expires_on}" for d in reached[1:]]


def transition_notice(account: str, address: str, event: Event, lc: Lifecycle,
                      timings: Timings = DEFAULT_TIMINGS) -> Notice:
    deadline = lc.deadline(timings)
    days = timings.suspension_days if event.to_state is State.SUSPENDED else \
        timings.retention_days
    text = _STATE_TEXT.get(event.event, "ha cambiato stato: {state}.").format(
        days=days, deadline=deadline.date() if deadline else "-", state=event.to_state)
    return Notice(f"{event.event}:{event.at:%Y-%m-%dT%H:%M}",
                  f"Casella PEC {address}: {event.to_state}",
                  f"La casella PEC {address} (account {account}) {text}\n"
                  + (f"Motivo: {event.detail}\n" if event.detail else ""))
