"""Per-account sending limits of the sandbox provider, with the replies real providers give.

Why: PEC providers throttle automated senders, each in its own words; the product must
settle at whatever rate the provider really allows. A token bucket (messages per minute,
burst) per account decides; past it the provider answers in one of three real styles:
- `451`: `451 4.7.1 ...` (temporary: try again later);
- `550`: Legalmail/InfoCert's `550 5.7.1 "Class Of Service" - Too much traffic from this
  sender` (a 5xx that a client must still treat as "slow down");
- `block`: Aruba-style temporary block of the client address for N seconds, answered with
  `421 4.7.0 Indirizzo IP bloccato temporaneamente per sospetto abuso`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

STYLES = ("451", "550", "block")

REPLY_451 = "451 4.7.1 Too many messages from this sender, try again later"
REPLY_550 = '550 5.7.1 "Class Of Service" - Too much traffic from this sender'
REPLY_BLOCK = "421 4.7.0 Indirizzo IP bloccato temporaneamente per sospetto abuso"


@dataclass(frozen=True)
class ThrottleConfig:
    """`messages_per_minute` = refill rate; `burst` = bucket size; `style` of refusal."""

    messages_per_minute: float
    burst: int = 1
    style: str = "451"
    block_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"throttle style must be one of {STYLES}, not {self.style!r}")
        if self.messages_per_minute <= 0 or self.burst < 1:
            raise ValueError("messages_per_minute must be > 0 and burst >= 1")


class TokenBucket:
    """Classic token bucket; `clock` is injectable so the arithmetic is testable."""

    def __init__(self, rate_per_minute: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_minute / 60.0
        self.capacity = float(burst)
        self.tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_time(self) -> float:
        """Seconds until one token is available."""
        return max(0.0, (1.0 - self.tokens) / self.rate) if self.rate else float("inf")


class Throttle:
    """Throttling state of the whole provider: buckets per account, blocked clients."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._configs: dict[str, ThrottleConfig] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._blocked_until: dict[str, float] = {}
        self.refusals = 0

    def configure(self, account: str, config: ThrottleConfig | None) -> None:
        with self._lock:
            account = account.lower()
            if config is None:
                self._configs.pop(account, None)
                self._buckets.pop(account, None)
            else:
                self._configs[account] = config
                self._buckets[account] = TokenBucket(config.messages_per_minute, config.burst,
                                                     self._clock)

    def blocked(self, client: str) -> str | None:
        """The 421 reply when `client` (an IP address) is blocked right now, else None."""
        with self._lock:
            until = self._blocked_until.get(client)
            if until is None:
                return None
            left = until - self._clock()
            if left <= 0:
                del self._blocked_until[client]
                return None
            return f"{REPLY_BLOCK} (ancora {int(left) + 1} s)"

    def check(self, account: str, client: str) -> str | None:
        """Take a token for one message of `account`; the refusal reply if there is none."""
        with self._lock:
            account = account.lower()
            bucket = self._buckets.get(account)
            if bucket is None or bucket.take():
                return None
            self.refusals += 1
            config = self._configs[account]
            if config.style == "550":
                return REPLY_550
            if config.style == "block":
                self._blocked_until[client] = self._clock() + config.block_seconds
                return f"{REPLY_BLOCK} ({int(config.block_seconds)} s)"
            return REPLY_451
