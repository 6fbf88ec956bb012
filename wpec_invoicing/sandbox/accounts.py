"""Mailboxes of the sandbox and the PEC providers ("gestori") that host them.

Addresses are production-like on purpose: SdI is `sdi01@pec.fatturapa.it` (and dedicated
`sdiNN@...`), hosted by Sogei's `pcert.sogei.it`, so moving from sandbox to production changes
only servers and credentials. Passwords are random at first start and kept, one file per
account with mode 0600, under `<sandbox>/secrets/`.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from wpec_invoicing.sandbox.ca import write_private


@dataclass(frozen=True)
class Gestore:
    """A PEC provider: its name (daticert gestore-emittente), the domain of its certifying
    address (`posta-certificata@<domain>`, identificativi `...@<domain>`) and the mailbox
    domains it hosts."""

    name: str
    domain: str
    mail_domains: tuple[str, ...]

    @property
    def address(self) -> str:
        return f"posta-certificata@{self.domain}"


SANDBOX_GESTORE = Gestore("Sandbox PEC S.p.A.", "pec.sandbox.test", ("pec.sandbox.test",))
SDI_GESTORE = Gestore("Sogei S.p.A. per SdI (sandbox)", "pcert.sogei.it", ("pec.fatturapa.it",))
GESTORI = (SANDBOX_GESTORE, SDI_GESTORE)

SDI_DOMAIN = "pec.fatturapa.it"
SDI_FIRST = f"sdi01@{SDI_DOMAIN}"
# Dedicated addresses SdI answers from (seen in production: sdi03, sdi27, sdi48).
SDI_DEDICATED = tuple(f"sdi{n:02d}@{SDI_DOMAIN}" for n in (3, 27, 48))

# The default cast: the company using the product, a customer, a supplier, a PA customer.
DEFAULT_USERS = (
    "azienda@pec.sandbox.test",
    "cliente@pec.sandbox.test",
    "fornitore@pec.sandbox.test",
    "comune@pec.sandbox.test",
)


@dataclass(frozen=True)
class Account:
    """One mailbox. `quota_bytes`: the provider refuses delivery past it. `stalled`: deliveries
    to it stay pending (the recipient's provider does not answer) until released or timed out.
    """

    address: str
    password: str = field(repr=False)
    quota_bytes: int | None = None
    stalled: bool = False

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


def _safe(address: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "@.-_+" else "_" for ch in address)


class AccountRegistry:
    """Thread-safe set of accounts; passwords persisted under `secrets_dir`."""

    def __init__(self, secrets_dir: Path, gestori: tuple[Gestore, ...] = GESTORI) -> None:
        self.secrets_dir = secrets_dir
        self.gestori = gestori
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}

    def password_file(self, address: str) -> Path:
        return self.secrets_dir / f"{_safe(address.lower())}.pw"

    def add(self, address: str, password: str | None = None, *,
            quota_bytes: int | None = None) -> Account:
        """Create (or return) an account; a new password is random unless one is given or
        one was stored by an earlier run."""
        key = address.lower()
        if "@" not in key or any(ch in key for ch in ":/\\ \r\n\0"):
            raise ValueError(f"not a usable mailbox address: {address!r}")
        path = self.password_file(key)
        with self._lock:
            existing = self._accounts.get(key)
            if existing is not None and password is None:
                return existing
            if password is None:
                password = (path.read_text(encoding="utf-8").strip()
                            if path.exists() else secrets.token_urlsafe(12))
            write_private(path, (password + "\n").encode("utf-8"))
            account = Account(key, password, quota_bytes)
            self._accounts[key] = account
            return account

    def get(self, address: str | None) -> Account | None:
        if not address:
            return None
        with self._lock:
            return self._accounts.get(address.lower())

    def password(self, address: str) -> str | None:
        account = self.get(address)
        return account.password if account else None

    def update(self, address: str, **changes: object) -> Account:
        with self._lock:
            key = address.lower()
            account = replace(self._accounts[key], **changes)  # type: ignore[arg-type]
            self._accounts[key] = account
            return account

    def all(self) -> list[Account]:
        with self._lock:
            return list(self._accounts.values())

    def gestore_of(self, address: str) -> Gestore | None:
        """The sandbox provider hosting `address`'s domain (None: outside the sandbox)."""
        domain = address.rpartition("@")[2].lower()
        for gestore in self.gestori:
            if domain in gestore.mail_domains:
                return gestore
        return None
