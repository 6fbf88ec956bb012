"""The retention decision as a pure function: its rules hold for any set of messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.housekeeping.policy import Candidate, Policy, Usage, evaluate
from wpec_invoicing.mailbox.imap import uid_set

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
KINDS = ["accettazione", "sdi-notification", "sdi-invoice", "posta-certificata", "anomalia",
         None]
DAYS = {"accettazione": 30, "sdi-notification": 90, "sdi-invoice": 180,
        "posta-certificata": None, "anomalia": None}


@st.composite
def candidates(draw) -> list[Candidate]:
    n = draw(st.integers(0, 40))
    out = []
    for i in range(n):
        out.append(Candidate(
            location_id=i + 1, message_id=i + 1, folder="INBOX", uidvalidity=1, uid=i + 1,
            sha256=f"{i:064x}", size=draw(st.integers(1, 50_000)),
            kind=draw(st.sampled_from(KINDS)),
            status=draw(st.sampled_from(["processed", "processed", "archived", "error"])),
            archived_at=NOW - timedelta(days=draw(st.integers(0, 400))),
            held=draw(st.booleans())))
    return out


@settings(max_examples=300, deadline=None)
@given(candidates(), st.one_of(st.none(), st.floats(10, 90)), st.integers(0, 3_000_000))
def test_rules_hold_for_any_box(cands, target, used):
    usage = Usage(used, 2_000_000)
    plan = evaluate(cands, Policy(DAYS, target), NOW, usage)
    assert len(plan.decisions) == len(cands)
    for d in plan.decisions:
        c = d.candidate
        if c.held or c.status != "processed" or DAYS.get(c.kind) is None:
            assert not d.delete, d  # never: held, unfinished, certified mail, anomalies
        elif NOW - c.archived_at >= timedelta(days=DAYS[c.kind]):
            assert d.delete and d.reason.startswith("retention"), d
    extra = [d for d in plan.deletions if d.reason.startswith("usage target")]
    if target is None:
        assert not extra
    else:
        goal = usage.limit_bytes * target / 100
        # Oldest first, and no more than needed: without the last one, still above the goal.
        kept_spare = [d.candidate for d in plan.decisions
                      if not d.delete and d.reason.startswith("within retention")]
        if extra:
            newest_deleted = max(d.candidate.archived_at for d in extra)
            assert all(c.archived_at >= newest_deleted for c in kept_spare)
            last = max(extra, key=lambda d: (d.candidate.archived_at, d.candidate.message_id))
            assert used - (plan.freed_bytes - last.candidate.size) > goal
        if plan.target_met is False:
            assert not kept_spare


def test_reasons_say_why():
    c = Candidate(1, 1, "INBOX", 1, 1, "0" * 64, 10, "accettazione", "processed",
                  NOW - timedelta(days=31))
    assert evaluate([c], Policy(DAYS), NOW).decisions[0].reason == "retention: accettazione 30 d"
    young = Candidate(2, 2, "INBOX", 1, 2, "1" * 64, 10, "sdi-invoice", "processed",
                      NOW - timedelta(days=10))
    assert evaluate([young], Policy(DAYS), NOW).decisions[0].reason == \
        "within retention (sdi-invoice 180 d, 170 d left)"


@given(st.sets(st.integers(1, 10**9), max_size=300))
def test_uid_set_round_trips(uids):
    text = uid_set(uids)
    back: set[int] = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition(":")
        back.update(range(int(lo), int(hi or lo) + 1))
    assert back == uids
