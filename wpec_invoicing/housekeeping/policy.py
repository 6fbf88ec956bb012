"""The retention decision, as a pure function: candidates + policy + clock (+ usage) → plan.

Nothing here reads a file, a database or a server, so every rule can be tested in isolation
(and by hypothesis): a held message is never deleted; a message whose processing did not
finish is never deleted; a kind without a retention (certified mail, anomalies) is never
deleted automatically; a message past its retention is deleted; with a usage target, the
oldest other eligible messages go next, only as many as needed to get under the target.
Whether the archive copy is really there is checked afterwards, by the deleter, at that moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Candidate:
    """One server copy of an archived message (a location that is not gone)."""

    location_id: int
    message_id: int
    folder: str
    uidvalidity: int
    uid: int
    sha256: str
    size: int
    kind: str | None
    status: str  # archived | processed | error
    archived_at: datetime
    held: bool = False
    header_message_id: str | None = None


@dataclass(frozen=True)
class Policy:
    """Days on the server after archiving, per kind (None or absent: never automatically), and
    an optional usage target in percent of the quota."""

    days: Mapping[str, int | None]
    usage_target_percent: float | None = None


@dataclass(frozen=True)
class Usage:
    used_bytes: int
    limit_bytes: int | None


@dataclass(frozen=True)
class Decision:
    candidate: Candidate
    delete: bool
    reason: str


@dataclass(frozen=True)
class Plan:
    decisions: tuple[Decision, ...]
    target_met: bool | None  # None: no target or no known limit

    @property
    def deletions(self) -> list[Decision]:
        return [d for d in self.decisions if d.delete]

    @property
    def freed_bytes(self) -> int:
        return sum(d.candidate.size for d in self.decisions if d.delete)


def evaluate(candidates: Iterable[Candidate], policy: Policy, now: datetime,
             usage: Usage | None = None) -> Plan:
    """What to delete and why (see the module docstring for the rules, in order)."""
    decisions: dict[int, Decision] = {}
    spare: list[Candidate] = []  # eligible for the usage target, not past retention
    order: list[int] = []
    for c in candidates:
        order.append(c.location_id)
        days = policy.days.get(c.kind) if c.kind else None
        if c.held:
            decisions[c.location_id] = Decision(c, False, "on hold")
        elif c.status != "processed":
            decisions[c.location_id] = Decision(c, False, f"processing not finished "
                                                          f"({c.status})")
        elif days is None:
            decisions[c.location_id] = Decision(
                c, False, f"kind {c.kind or 'unknown'}: never deleted automatically")
        elif now - c.archived_at >= timedelta(days=days):
            decisions[c.location_id] = Decision(c, True, f"retention: {c.kind} {days} d")
        else:
            left = timedelta(days=days) - (now - c.archived_at)
            decisions[c.location_id] = Decision(
                c, False, f"within retention ({c.kind} {days} d, {max(left.days, 0)} d left)")
            spare.append(c)
    target_met: bool | None = None
    target = policy.usage_target_percent
    if target is not None and usage is not None and usage.limit_bytes:
        goal = usage.limit_bytes * target / 100.0
        projected = usage.used_bytes - sum(d.candidate.size for d in decisions.values()
                                           if d.delete)
        for c in sorted(spare, key=lambda c: (c.archived_at, c.message_id, c.location_id)):
            if projected <= goal:
                break
            decisions[c.location_id] = Decision(
                c, True, f"usage target {target:g}%: oldest eligible first")
            projected -= c.size
        target_met = projected <= goal
    return Plan(tuple(decisions[i] for i in order), target_met)
