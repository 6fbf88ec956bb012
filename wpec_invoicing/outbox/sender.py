"""Work the queue: rate-limited, concurrency-capped, retried, crash-safe.

Per account: one adaptive token bucket (`ratelimit`), `concurrency` worker threads each with its
own reusable SMTP connection, and a strict order of commits around each SMTP call:

    claim (status=sending, claimed_by=this process, attempts+1)  → COMMIT
    SMTP MAIL/RCPT/DATA
    outcome (sent | queued with backoff | failed | verify)       → COMMIT

A process killed between the two commits leaves an item `sending` with a dead claimant; the
next run turns it into `verify`, and `recovery` asks the provider's receipts whether it went
out. An ambiguous failure (connection dropped during DATA) goes the same way. So no message is
lost and none is sent twice.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from wpec_invoicing.errors import WpecError
from wpec_invoicing.mailbox.smtp import SmtpClient, SmtpSettings
from wpec_invoicing.outbox.compose import replace_recipient
from wpec_invoicing.outbox.outcomes import (
    ACCEPTED,
    Outcome,
    OutcomeKind,
    classify_exception,
)
from wpec_invoicing.outbox.ratelimit import SharedRateLimiter, backoff_delay
from wpec_invoicing.outbox.records import (
    ACTIVE_STATUSES,
    RunResult,
    account_state,
    add_event,
    aware,
    raise_alert,
    utcnow,
)
from wpec_invoicing.outbox.recovery import (
    Verdict,
    claim_ended,
    claim_started,
    claimant_alive,
    claimant_id,
    decide,
)
from wpec_invoicing.sdi.lifecycle import InvoiceState, advance
from wpec_invoicing.store.events import record_event
from wpec_invoicing.store.outbox_models import OutboxEvent, OutboxItem

# The `queue.Outbox` that runs this sender (not imported: the queue imports this module).
Outbox = Any

log = logging.getLogger(__name__)


class Settings:
    """Outbox tunables from `[outbox]` (all optional)."""

    def __init__(self, outbox: Outbox) -> None:
        opt = outbox._outbox_option
        self.retry_base = float(opt("retry_base_seconds", 2.0))
        self.retry_cap = float(opt("retry_cap_seconds", 300.0))
        self.block_pause = float(opt("block_pause_seconds", 60.0))
        self.verify_after = float(opt("verify_after_seconds", 20.0))
        # How long, and how many looks, before "no receipt anywhere" means "not sent": see
        # AccountRunner._not_found_yet for the trade-off.
        self.verify_window = float(opt("verify_window_seconds",
                                       outbox.acceptance_timeout().total_seconds()))
        self.verify_checks = max(1, int(opt("verify_checks", 3)))
        self.stale_after = timedelta(seconds=float(opt("stale_claim_seconds", 600.0)))
        self.max_item_failures = int(opt("max_attempts", 1000))
        self.idle_poll = float(opt("idle_poll_seconds", 0.5))
        # Consecutive failures to even connect (refused, no route, TLS mismatch) after which
        # the run stops for that account: waiting (--until-empty) for a server that is down
        # was a silent endless loop. The items stay queued for the next run.
        self.max_connect_failures = max(1, int(opt("max_connect_failures", 5)))


class AccountRunner:
    """All sending for one account during one run."""

    def __init__(self, outbox: Outbox, account: Any, result: RunResult, lock: threading.Lock,
                 settings: Settings, deadline: float | None, until_empty: bool,
                 on_done: Any) -> None:
        self.outbox = outbox
        self.account = account
        self.result = result
        self.result_lock = lock
        self.settings = settings
        self.deadline = deadline
        self.until_empty = until_empty
        self.on_done = on_done
        limits = account.limits
        # One bucket per account for every process and machine: its state is in the store.
        self.limiter = SharedRateLimiter(outbox.store, account.name,
                                         float(limits.messages_per_minute), int(limits.burst))
        self.limiter_lock = threading.Lock()
        self.claim_lock = threading.Lock()
        self.stop = threading.Event()
        self.token = uuid.uuid4().hex[:8]
        self.me = claimant_id(self.token)
        claim_started(self.token)  # until run_outbox ends: see recovery._LIVE_TOKENS
        self.in_flight = 0
        self.connect_failures = 0

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        if self.account.smtp is None:
            log.warning("account %s has no [smtp]: nothing sent", self.account.name)
            return
        if self._paused():
            self._mark_paused()
            return
        workers = [threading.Thread(target=self._worker, name=f"outbox-{self.account.name}-{i}",
                                    daemon=True)
                   for i in range(max(1, int(self.account.limits.concurrency)))]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    def _worker(self) -> None:
        client = SmtpClient(SmtpSettings.from_account(self.account))
        try:
            while not self.stop.is_set():
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    return
                if self._verify_one():
                    continue
                wait = self._wait_for_token()
                if wait is None:
                    return
                item_id = self._claim()
                if item_id is None:
                    with self.limiter_lock:
                        self.limiter.give_back()
                    if not self._idle():
                        return
                    continue
                self._send(client, item_id)
        except Exception as exc:  # the store went away, a bug: stop cleanly, never spin
            log.exception("outbox worker for %s stopped", self.account.name)
            with self.result_lock:
                self.result.errors.append(f"{self.account.name}: {type(exc).__name__}: {exc}")
            self.stop.set()
        finally:
            client.close()

    def _wait_for_token(self) -> bool | None:
        while not self.stop.is_set():
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return None
            with self.limiter_lock:
                wait = self.limiter.acquire_or_wait()
            if not wait:
                return True
            time.sleep(min(max(wait, 0.01), 0.5))
        return None

    def _idle(self) -> bool:
        """Nothing due now. Keep going only while something will become due (until_empty) or
        another worker of ours still has a message in flight (its outcome may requeue it)."""
        with self.claim_lock, self.outbox.store.session() as s:  # same lock order as _claim
            self._recover_orphans(s)
            pending = s.scalar(select(func.count()).select_from(OutboxItem).where(
                OutboxItem.account == self.account.name,
                OutboxItem.status.in_(ACTIVE_STATUSES)))
            due = s.scalar(select(func.count()).select_from(OutboxItem).where(
                OutboxItem.account == self.account.name,
                OutboxItem.status.in_(("queued", "verify")),
                or_(OutboxItem.next_attempt_at.is_(None), OutboxItem.next_attempt_at <= utcnow())))
        if due:
            return True
        if not pending:
            return False
        with self.claim_lock:
            busy = self.in_flight > 0
        if not self.until_empty and not busy:
            return False
        time.sleep(self.settings.idle_poll)
        return True

    # -- claiming ---------------------------------------------------------------------------
    def _claim(self) -> int | None:
        with self.claim_lock, self.outbox.store.session() as s:
            if self._paused(s):
                self._mark_paused()
                self.stop.set()
                return None
            now = utcnow()
            candidates = s.scalars(
                select(OutboxItem.id).where(
                    OutboxItem.account == self.account.name, OutboxItem.status == "queued",
                    or_(OutboxItem.next_attempt_at.is_(None), OutboxItem.next_attempt_at <= now),
                ).order_by(OutboxItem.next_attempt_at.is_not(None), OutboxItem.id).limit(5)
            ).all()
            for item_id in candidates:
                item = s.get(OutboxItem, item_id)
                if item is None:
                    continue
                if item.to_sdi and item.attempts == 0:
                    learned = self.outbox.sdi_address(s, self.account.name)
                    if learned and learned != item.recipient:
                        item.raw = replace_recipient(item.raw, learned)
                        add_event(s, item, "outbox", "recipient",
                                  f"{item.recipient} → {learned} (dedicated SdI address)")
                        item.recipient = learned
                result = s.execute(
                    update(OutboxItem).where(OutboxItem.id == item_id,
                                             OutboxItem.status == "queued")
                    .values(status="sending", claimed_by=self.me, claimed_at=now,
                            attempts=OutboxItem.attempts + 1, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount:
                    self.in_flight += 1
                    return item_id
            return None

    def _paused(self, session=None) -> bool:
        if session is None:
            with self.outbox.store.session() as s:
                return self._paused(s)
        state = account_state(session, self.account.name)
        return bool(state.paused)

    def _mark_paused(self) -> None:
        with self.result_lock:
            if self.account.name not in self.result.paused_accounts:
                self.result.paused_accounts.append(self.account.name)

    # -- sending ----------------------------------------------------------------------------
    def _send(self, client: SmtpClient, item_id: int) -> None:
        try:
            with self.outbox.store.session() as s:
                item = s.get(OutboxItem, item_id)
                assert item is not None
                raw, sender, recipient = item.raw, item.sender, item.recipient
            try:
                client.send(raw, sender=sender, recipient=recipient)
                outcome: Outcome = ACCEPTED
                ambiguous = False
            except Exception as exc:  # classified below
                try:
                    outcome = classify_exception(exc)
                    ambiguous = (client.last_phase == "data" and outcome.code is None
                                 and outcome.kind is OutcomeKind.THROTTLED)
                except Exception:  # not an SMTP/network failure
                    if client.last_phase == "connect" and isinstance(exc, WpecError):
                        # e.g. the password file vanished mid-run: nothing left this machine
                        log.warning("item %s not sent: %s", item_id, exc)
                        outcome = Outcome(OutcomeKind.THROTTLED, None, str(exc))
                        ambiguous = False
                    else:  # we cannot tell what went out: the receipts will decide
                        log.exception("unexpected error sending item %s", item_id)
                        client.check_alive()
                        outcome = Outcome(OutcomeKind.THROTTLED, None,
                                          f"internal error: {type(exc).__name__}: {exc}")
                        ambiguous = True
            self._count_connect_failure(client, outcome, ambiguous)
            self._record(item_id, outcome, ambiguous)
        finally:
            with self.claim_lock:
                self.in_flight -= 1

    def _count_connect_failure(self, client: SmtpClient, outcome: Outcome,
                               ambiguous: bool) -> None:
        """Stop this account's run after `max_connect_failures` connections in a row that
        failed before any SMTP reply (nothing was sent, so nothing is uncertain)."""
        unreachable = (client.last_phase == "connect" and outcome.code is None and not ambiguous
                       and outcome.kind is OutcomeKind.THROTTLED)
        with self.claim_lock:
            self.connect_failures = self.connect_failures + 1 if unreachable else 0
            give_up = self.connect_failures >= self.settings.max_connect_failures
        if give_up and not self.stop.is_set():
            smtp = self.account.smtp
            with self.result_lock:
                self.result.errors.append(
                    f"{self.account.name}: SMTP {smtp.host}:{smtp.port} unreachable "
                    f"{self.connect_failures} times in a row ({outcome.reason}); the items "
                    "stay queued for the next run")
            self.stop.set()

    def _record(self, item_id: int, outcome: Outcome, ambiguous: bool) -> None:
        st = self.settings
        # The limiter's step runs after this transaction: its state is in the store too, and
        # on SQLite a second write transaction inside this one would wait for itself.
        limiter_step = None
        with self.outbox.store.session() as s:
            item = s.get(OutboxItem, item_id)
            assert item is not None
            now = utcnow()
            item.claimed_by = None
            item.updated_at = now
            if outcome.kind is OutcomeKind.ACCEPTED:
                item.status = "sent"
                item.sent_at = now
                item.last_error = None
                if item.kind == "invoice":
                    item.sdi_state = advance(InvoiceState(item.sdi_state or "queued"),
                                             InvoiceState.SENT).value
                add_event(s, item, "outbox", "sent",
                          f"submitted to {self.account.smtp.host} for {item.recipient}")
                limiter_step = self.limiter.on_success
                self._count("sent")
                done = True
            elif ambiguous:
                item.status = "verify"
                item.next_attempt_at = now + timedelta(seconds=st.verify_after)
                item.last_error = outcome.reason
                add_event(s, item, "outbox", "uncertain",
                          f"{outcome.reason}; the provider's receipts will decide")
                limiter_step = self.limiter.on_throttle
                self._count("throttled")
                done = False
            elif outcome.retry:
                blocked = outcome.kind is OutcomeKind.BLOCKED
                delay = backoff_delay(item.attempts, base=st.retry_base, cap=st.retry_cap)
                if blocked:
                    delay = max(delay, st.block_pause)
                else:
                    # The account's limiter paces the retries; the item's own delay only
                    # spreads them out, so it never needs to exceed a few token intervals.
                    # (the rate last seen; not under limiter_lock: a limiter step waits
                    # for the store's write lock, which this transaction holds)
                    interval = 60.0 / self.limiter.rate
                    delay = min(delay, max(st.retry_base, 4 * interval))
                item.status = "queued"
                item.next_attempt_at = now + timedelta(seconds=delay)
                item.last_error = outcome.reason
                add_event(s, item, "outbox", "blocked" if blocked else "throttled",
                          f"{outcome.reason}; retry in {delay:.1f} s")
                pause = st.block_pause if blocked else 0.0
                limiter_step = lambda: self.limiter.on_throttle(pause_seconds=pause)  # noqa: E731
                self._count("throttled")
                done = False
            elif outcome.kind is OutcomeKind.ACCOUNT_FAILED:
                item.status = "queued"  # not this item's fault: it waits for the account
                item.last_error = outcome.reason
                add_event(s, item, "outbox", "account-failed", outcome.reason)
                state = account_state(s, self.account.name)
                state.paused = True
                state.pause_reason = outcome.reason
                state.paused_at = now
                record_event(s, "account.paused", "account", self.account.name, {"reason": outcome.reason})  # noqa: E501
                raise_alert(s, "account-paused",
                            f"account {self.account.name} paused: {outcome.reason} "
                            f"(fix it, then `wpec outbox resume {self.account.name}`)",
                            account=self.account.name)
                self.stop.set()
                self._mark_paused()
                done = False
            else:
                item.status = "failed"
                item.last_error = outcome.reason
                if item.kind == "invoice":
                    item.sdi_state = advance(InvoiceState(item.sdi_state or "queued"),
                                             InvoiceState.SEND_FAILED).value
                add_event(s, item, "outbox", "failed", outcome.reason)
                self._count("failed")
                done = True
        if limiter_step is not None:
            with self.limiter_lock:
                limiter_step()
        if done:
            self.on_done()

    def _count(self, what: str) -> None:
        with self.result_lock:
            setattr(self.result, what, getattr(self.result, what) + 1)

    # -- recovery ---------------------------------------------------------------------------
    def _recover_orphans(self, s) -> int:
        """`sending` items whose process is gone → `verify` (the receipts will decide)."""
        now = utcnow()
        count = 0
        for item in s.scalars(select(OutboxItem).where(
                OutboxItem.account == self.account.name, OutboxItem.status == "sending")):
            if item.claimed_by == self.me:
                continue
            if claimant_alive(item.claimed_by, aware(item.claimed_at), now=now,
                              stale_after=self.settings.stale_after):
                continue
            claimed_at = aware(item.claimed_at) or now
            item.status = "verify"
            item.next_attempt_at = claimed_at + timedelta(seconds=self.settings.verify_after)
            add_event(s, item, "outbox", "orphaned",
                      f"the process sending it ({item.claimed_by}) is gone; the provider's "
                      "receipts will decide whether it went out")
            item.claimed_by = None
            count += 1
        if count:
            with self.result_lock:
                self.result.recovered += count
        return count

    def _verify_one(self) -> bool:
        """Decide one due `verify` item; True if one was handled."""
        with self.claim_lock, self.outbox.store.session() as s:
            now = utcnow()
            item_id = s.scalar(select(OutboxItem.id).where(
                OutboxItem.account == self.account.name, OutboxItem.status == "verify",
                or_(OutboxItem.next_attempt_at.is_(None), OutboxItem.next_attempt_at <= now),
            ).order_by(OutboxItem.id).limit(1))
            if item_id is None:
                return False
            result = s.execute(update(OutboxItem).where(
                OutboxItem.id == item_id, OutboxItem.status == "verify")
                .values(status="checking", claimed_by=self.me, claimed_at=now)
                .execution_options(synchronize_session=False))
            if not result.rowcount:
                return True
        with self.outbox.store.session() as s:
            item = s.get(OutboxItem, item_id)
            assert item is not None
            verdict = decide(s, self.account, item)
            now = utcnow()
            item.claimed_by = None
            if verdict.decision == "unsent":
                verdict = self._not_found_yet(s, item, verdict, now)
            if verdict.decision == "sent":
                item.status = "sent"
                item.sent_at = item.sent_at or aware(item.claimed_at) or now
                if item.kind == "invoice":
                    item.sdi_state = advance(InvoiceState(item.sdi_state or "queued"),
                                             InvoiceState.SENT).value
                add_event(s, item, "outbox", "sent", f"confirmed after the fact: {verdict.reason}")
                self._count("sent")
                done = True
            elif verdict.decision == "refused":
                item.status = "sent"  # the provider took it and refused it: the receipt says so
                add_event(s, item, "outbox", "sent", verdict.reason)
                self._count("sent")
                done = True
            elif verdict.decision == "unsent":
                item.status = "queued"
                item.next_attempt_at = None
                add_event(s, item, "outbox", "requeued", f"not sent before: {verdict.reason}")
                with self.result_lock:
                    self.result.retried += 1
                done = False
            elif verdict.decision == "not-found-yet":
                item.status = "verify"
                item.next_attempt_at = now + timedelta(seconds=verdict.wait)
                add_event(s, item, "outbox", "not-found-yet", verdict.reason)
                done = False
            else:
                item.status = "verify"
                item.next_attempt_at = now + timedelta(seconds=self.settings.verify_after)
                add_event(s, item, "outbox", "verify-later", verdict.reason)
                done = False
        if done:
            self.on_done()
        return True

    def _not_found_yet(self, s, item: OutboxItem, verdict: Verdict, now) -> Verdict:
        """One empty look is not proof: keep looking before deciding "not sent".

        WHY: a provider under load can write the acceptance receipt minutes after it took the
        message. Requeuing after the first empty look would then send the invoice twice,
        which on PEC cannot be undone (two deliveries, two SdI files). So "unsent" needs at
        least `verify_checks` empty looks (store + every IMAP folder + the Sent folders) AND
        `verify_window_seconds` since the send became uncertain (default: the acceptance
        timeout, after which a real provider's silence is itself an alert). The looks are
        spaced by doubling from `verify_after_seconds`, the last one at the window's end.
        The price is a late resend of a message that really did not go out (up to the window,
        30 min by default); we prefer late over twice. Lower the window for providers known
        to answer within seconds."""
        st = self.settings
        since = s.scalar(select(func.max(OutboxEvent.at)).where(
            OutboxEvent.item_id == item.id, OutboxEvent.event.in_(("uncertain", "orphaned"))))
        since = aware(since) or aware(item.updated_at) or now
        looks = 1 + (s.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.item_id == item.id, OutboxEvent.event == "not-found-yet",
            OutboxEvent.at >= since)) or 0)
        elapsed = (now - since).total_seconds()
        if looks >= st.verify_checks and elapsed >= st.verify_window:
            return Verdict("unsent", f"{verdict.reason} ({looks} looks over {elapsed:.0f} s)")
        remaining = max(0.0, st.verify_window - elapsed)
        wait = min(max(st.verify_after, elapsed), remaining) if remaining else st.verify_after
        return Verdict("not-found-yet",
                       f"{verdict.reason} at look {looks}; looking again in {wait:.0f} s "
                       f"(resent only after {st.verify_checks} empty looks over "
                       f"{st.verify_window:.0f} s)", wait=max(wait, 0.05))


def run_outbox(outbox: Outbox, *, until_empty: bool = False, account: str | None = None,
               max_seconds: float | None = None, progress=None) -> RunResult:
    """Send everything due (and, with `until_empty`, wait out retries until all is settled)."""
    started = time.monotonic()
    settings = Settings(outbox)
    accounts = [outbox.account(account)] if account else list(outbox.config.accounts)
    if not accounts:
        outbox.account(None)  # raises the clear "no [[accounts]]" error
    result = RunResult()
    lock = threading.Lock()
    deadline = started + max_seconds if max_seconds else None

    names = [a.name for a in accounts]
    with outbox.store.session() as s:
        # "checking" is a verify in progress by a run that died: verify again.
        s.execute(update(OutboxItem).where(OutboxItem.status == "checking",
                                           OutboxItem.account.in_(names))
                  .values(status="verify", next_attempt_at=None)
                  .execution_options(synchronize_session=False))
        total = s.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.account.in_(names), OutboxItem.status.in_(ACTIVE_STATUSES))) or 0
    done = 0

    def on_done() -> None:
        nonlocal done
        with lock:
            done += 1
            current = done
        if progress is not None:
            progress(current, total)

    if progress is not None:
        progress(0, total)
    runners = [AccountRunner(outbox, a, result, lock, settings, deadline, until_empty, on_done)
               for a in accounts]
    for r in runners:  # orphans first, so they are counted and verified in this run
        with outbox.store.session() as s:
            r._recover_orphans(s)
    threads = [threading.Thread(target=r.run, name=f"outbox-{r.account.name}", daemon=True)
               for r in runners]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for r in runners:
            claim_ended(r.token)
    with outbox.store.session() as s:
        result.remaining = s.scalar(select(func.count()).select_from(OutboxItem).where(
            OutboxItem.account.in_(names), OutboxItem.status.in_(ACTIVE_STATUSES))) or 0
        from wpec_invoicing.outbox.correlate import check_overdue

        check_overdue(s, outbox.acceptance_timeout())
    result.seconds = round(time.monotonic() - started, 3)
    return result
