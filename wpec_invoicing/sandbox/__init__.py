"""A faithful local stand-in for a PEC provider and for SdI, built on real mail servers.

    with Sandbox(directory) as sb:          # embedded IMAP (pymap); imap="dovecot" for Dovecot
        sb.smtp_implicit_port, sb.imap_port, sb.ca_path, sb.accounts  # address → password
        sb.write_config("wpec.toml")
        sb.set_throttle("azienda@pec.sandbox.test", messages_per_minute=6, burst=2)
        sb.inject_invoice(xml_bytes, "IT01234567897_00001.xml", to="azienda@pec.sandbox.test")

Everything listens on 127.0.0.1; ports are chosen by the OS unless given. The folder keeps the
CA, the passwords (mode 0600) and the mailboxes, so a restarted sandbox is the same provider.

May import: formats (it builds real PEC and SdI traffic with `pec.builder`), `config`,
`errors`; never `store`, the other services (it stands in for the outside world they talk
to), `app/` or the interfaces.
"""

from __future__ import annotations

import os
import shutil
import ssl
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from wpec_invoicing.sandbox.accounts import (
    DEFAULT_USERS,
    GESTORI,
    SDI_DEDICATED,
    SDI_FIRST,
    AccountRegistry,
    Gestore,
)
from wpec_invoicing.sandbox.ca import SandboxCA
from wpec_invoicing.sandbox.throttle import ThrottleConfig

__all__ = ["COMPANY", "Sandbox", "SandboxError"]

# The company the written wpec.toml describes (check digits valid: SdI checks 00300-00306).
COMPANY = {
    "name": "Azienda Demo S.r.l.",
    "vat": "IT01234567897",
    "fiscal_code": "01234567897",
    "address": "azienda@pec.sandbox.test",
}
# Where the sandbox company is (the CedentePrestatore address of the invoices it creates).
COMPANY_ADDRESS = {"street": "Via Roma", "number": "1", "postal_code": "00100", "city": "Roma",
                   "province": "RM", "country": "IT", "regime_fiscale": "RF01"}


class SandboxError(RuntimeError):
    """The sandbox cannot start or cannot do what was asked (the message says why)."""


class Sandbox:
    """The controller: CA, accounts, IMAP server, PEC provider (SMTP), SdI; a `with` block."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        imap: str = "embedded",
        *,
        users: Iterable[str] = DEFAULT_USERS,
        host: str = "127.0.0.1",
        smtp_starttls_port: int = 0,
        smtp_implicit_port: int = 0,
        smtp_inbound_port: int = 0,
        imap_port: int = 0,
        imaps_port: int = 0,
        preavviso_after: float = 5.0,
        mancata_consegna_after: float | None = None,
        max_total_bytes: int | None = None,
        sdi_delay: float = 0.0,
        sdi_pa_outcome: str | None = "EC01",
        sdi_directory: dict[str, str] | None = None,
    ) -> None:
        if imap not in ("embedded", "dovecot"):
            raise SandboxError(f"imap must be 'embedded' or 'dovecot', not {imap!r}")
        self.directory = Path(directory).resolve()
        self.imap_kind = imap
        self.host = host
        self._users = list(users)
        self._ports = {
            "smtp_starttls": smtp_starttls_port, "smtp_implicit": smtp_implicit_port,
            "smtp_inbound": smtp_inbound_port, "imap": imap_port, "imaps": imaps_port,
        }
        self._preavviso_after = preavviso_after
        self._mancata_after = mancata_consegna_after
        self._max_total = max_total_bytes
        self._sdi_options = {"delay": sdi_delay, "pa_outcome": sdi_pa_outcome,
                             "routing": dict(sdi_directory or {})}
        self.ca = SandboxCA(self.directory / "ca")
        self.registry = AccountRegistry(self.directory / "secrets")
        from wpec_invoicing.sandbox.lifecycle import SandboxLifecycle

        self.lifecycle = SandboxLifecycle(self.directory)  # suspended / deactivated / purged
        self._lifecycle_applied: dict[str, str] = {}
        self.imap_server: Any = None
        self.provider: Any = None
        self.smtp: Any = None
        self.sdi: Any = None
        self.mailstore: Any = None
        self._started = False

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._started:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def _start(self) -> None:
        from wpec_invoicing.pec import builder
        from wpec_invoicing.sandbox.mailstore import ImapMailstore
        from wpec_invoicing.sandbox.provider import DEFAULT_MAX_TOTAL_BYTES, PecProvider
        from wpec_invoicing.sandbox.sdi import SdiSimulator
        from wpec_invoicing.sandbox.smtp import SmtpController

        self.ca.ensure()
        self.ca.start_revocation(self.host)  # CRL + OCSP: issued certificates name them
        tls = self.ca.tls_server()
        for address in (*self._users, SDI_FIRST, *SDI_DEDICATED):
            self.registry.add(address)
        users = {a.address: a.password for a in self.registry.all()}
        if self.imap_kind == "embedded":
            from wpec_invoicing.sandbox.imap_server import EmbeddedImapServer

            self.imap_server = EmbeddedImapServer(
                self.directory / "imap", users, cert_file=tls.cert_path, key_file=tls.key_path,
                host=self.host, imap_port=self._ports["imap"], imaps_port=self._ports["imaps"])
        else:
            from wpec_invoicing.sandbox.dovecot import DovecotServer, DovecotUser, find_dovecot

            if find_dovecot() is None:
                raise SandboxError("--imap dovecot: dovecot is not installed (/usr/sbin/dovecot;"
                                   " Debian package dovecot-imapd)")
            self.imap_server = DovecotServer(
                self.directory / "dovecot",
                [DovecotUser(a.address, a.password, a.quota_bytes) for a in self.registry.all()],
                cert_file=tls.cert_path, key_file=tls.key_path, host=self.host,
                imap_port=self._ports["imap"] or None, imaps_port=self._ports["imaps"] or None)
        self.imap_server.start()
        self.mailstore = ImapMailstore(self.host, self.imap_server.imaps_port,
                                       str(self.ca.ca_path), self.registry.password)
        pec_providers: dict[str, Any] = {}

        def is_certified(address: str) -> bool:
            return self.registry.gestore_of(address) is not None

        for gestore in GESTORI:
            cred = self.ca.signer(gestore.domain, common_name=gestore.name,
                                  email=gestore.address, organization=gestore.name)
            pec_providers[gestore.domain] = builder.Provider(
                domain=gestore.domain, gestore=gestore.name,
                signer=builder.Signer(cred.key, cred.cert), is_certified=is_certified)

        def provider_of(gestore: Gestore) -> Any:
            return pec_providers[gestore.domain]

        self.provider = PecProvider(
            self.registry, self.mailstore, provider_of,
            max_total_bytes=self._max_total or DEFAULT_MAX_TOTAL_BYTES,
            preavviso_after=self._preavviso_after,
            mancata_consegna_after=self._mancata_after)
        self.provider.lifecycle = self.lifecycle
        self.sdi = SdiSimulator(self.provider, self.directory / "sdi", **self._sdi_options)
        self.provider.observers.append(self.sdi.on_delivered)
        self.sdi.start()
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(str(tls.cert_path), str(tls.key_path))
        self.smtp = SmtpController(
            self.provider, server_ctx, host=self.host,
            starttls_port=self._ports["smtp_starttls"],
            implicit_port=self._ports["smtp_implicit"],
            inbound_port=self._ports["smtp_inbound"]).start()

    def stop(self) -> None:
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None
        if self.sdi is not None:
            self.sdi.stop()
            self.sdi = None
        if self.provider is not None:
            self.provider.cancel_timers()
        if self.mailstore is not None:
            self.mailstore.close()
            self.mailstore = None
        if self.imap_server is not None:
            self.imap_server.stop()
            self.imap_server = None
        self.ca.stop_revocation()
        self._started = False

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what clients need -------------------------------------------------------------------
    @property
    def ca_path(self) -> Path:
        """The sandbox CA certificate: trust it for TLS and for PEC signatures."""
        return self.ca.ca_path

    @property
    def accounts(self) -> dict[str, str]:
        """Every mailbox address → its password (SdI's boxes included)."""
        return {a.address: a.password for a in self.registry.all()}

    def password_file(self, address: str) -> Path:
        return self.registry.password_file(address)

    @property
    def imap_port(self) -> int:
        """IMAP with implicit TLS (what PEC providers offer on 993)."""
        return int(self.imap_server.imaps_port)

    @property
    def imap_starttls_port(self) -> int:
        return int(self.imap_server.imap_port)

    @property
    def smtp_implicit_port(self) -> int:
        """SMTP submission with implicit TLS (465-style)."""
        return int(self.smtp.implicit_port)

    @property
    def smtp_starttls_port(self) -> int:
        """SMTP submission with STARTTLS (587-style)."""
        return int(self.smtp.starttls_port)

    @property
    def smtp_inbound_port(self) -> int:
        """Plain SMTP for ordinary mail from outside (lands as ANOMALIA)."""
        return int(self.smtp.inbound_port)

    @property
    def sdi_address(self) -> str:
        return SDI_FIRST

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting the sandbox CA (verification on)."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    def trust_store(self) -> Any:
        """A `TrustStore` with the sandbox CA, for verifying PEC signatures."""
        from wpec_invoicing.cms import TrustStore

        return TrustStore.from_pem(self.ca_path.read_bytes())

    def invoice_signer(self, name: str = "Fornitore Demo") -> tuple[Any, Any]:
        """(key, certificate) from the sandbox CA for signing `.xml.p7m` invoices."""
        cred = self.ca.signer(f"firma-{name}", common_name=f"{name} (firma di prova)",
                              email="firma@pec.sandbox.test", organization=name)
        return cred.key, cred.cert

    def endpoints(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "smtp_implicit_tls": self.smtp_implicit_port,
            "smtp_starttls": self.smtp_starttls_port,
            "smtp_inbound_plain": self.smtp_inbound_port,
            "imap_implicit_tls": self.imap_port,
            "imap_starttls": self.imap_starttls_port,
            "imap_server": self.imap_kind,
            "ca": str(self.ca_path),
            "sdi": SDI_FIRST,
        }

    # -- controls ----------------------------------------------------------------------------
    def add_account(self, address: str, password: str | None = None, *,
                    quota_bytes: int | None = None) -> str:
        """Create a mailbox (also while running); returns its password."""
        account = self.registry.add(address, password, quota_bytes=quota_bytes)
        if self.imap_server is not None:
            self._sync_imap_user(account.address)
        return account.password

    def _sync_imap_user(self, address: str, password: str | None = None) -> None:
        account = self.registry.get(address)
        assert account is not None
        password = password or account.password
        if self.imap_kind == "dovecot":
            self.imap_server.add_user(account.address, password, account.quota_bytes)
        else:
            self.imap_server.add_user(account.address, password)

    def apply_lifecycle(self) -> list[str]:
        """Make the IMAP server follow the boxes' lifecycle: a deactivated or purged box
        refuses logins (its IMAP password is replaced by a secret nobody holds), a purged
        box's mail is deleted, an active or suspended box logs in again, and a suspended box
        is read-only (embedded server: SELECT answers [READ-ONLY], writes are refused with
        "casella sospesa"). Returns the addresses changed. SMTP and deliveries ask
        `self.lifecycle` directly."""
        import secrets as _secrets

        from wpec_invoicing.sandbox.lifecycle import State

        changed = []
        for address, lc in self.lifecycle.boxes().items():
            if self.registry.get(address) is None or \
                    self._lifecycle_applied.get(address) == lc.state.value:
                continue
            if lc.state is State.PURGED and self.mailstore is not None:
                self.mailstore.purge(address)
            if lc.state in (State.DEACTIVATED, State.PURGED):
                self._sync_imap_user(address, _secrets.token_urlsafe(24))
            else:
                self._sync_imap_user(address)
            if self.imap_kind == "embedded":
                self.imap_server.set_read_only(address, self.lifecycle.write_refusal(address))
            self._lifecycle_applied[address] = lc.state.value
            changed.append(address)
        return changed

    def set_quota(self, address: str, quota_bytes: int | None) -> None:
        """Mailbox quota: deliveries past it fail (errore-consegna); Dovecot enforces it too."""
        self.registry.update(address, quota_bytes=quota_bytes)
        self._sync_imap_user(address)

    def set_throttle(self, address: str, messages_per_minute: float | None, burst: int = 1,
                     style: str = "451", block_seconds: float = 30.0) -> None:
        """Token bucket for `address` (None: unlimited). `style`: 451 | 550 | block."""
        config = None
        if messages_per_minute is not None:
            config = ThrottleConfig(messages_per_minute, burst, style, block_seconds)
        self.provider.throttle.configure(address, config)

    def set_size_limit(self, max_total_bytes: int) -> None:
        """The provider's limit on size × recipients (non-accettazione past it)."""
        self.provider.max_total_bytes = int(max_total_bytes)

    def set_preavviso_after(self, seconds: float, *,
                            then_fail_after: float | None = None) -> None:
        """How long a delivery may stay pending before the preavviso (real life: 12 h), and
        optionally how long after that the delivery is given up (errore-consegna; real life:
        24 h in all). None: it stays pending until `release`."""
        self.provider.preavviso_after = float(seconds)
        self.provider.mancata_consegna_after = then_fail_after

    def drop_next_data(self) -> None:
        """The next SMTP DATA gets its connection dropped (once): no reply, nothing sent."""
        self.provider.drop_next_data = True

    def stall(self, address: str) -> None:
        """Deliveries to `address` stay pending; a preavviso goes out after the timeout."""
        self.registry.update(address, stalled=True)

    def release(self, address: str) -> int:
        """Deliver what was held for `address` (delivery receipts follow)."""
        return int(self.provider.release(address))

    def inject_invoice(self, data: bytes, file_name: str, to: str | None = None) -> str:
        """A supplier's invoice delivered via SdI to `to` (default: the company's box):
        a PEC from SdI with the file and its `_MT_` metadata. Returns the IdentificativoSdI."""
        return str(self.sdi.inject_invoice(data, file_name, to=to or COMPANY["address"]))

    def injection_outcome(self, identificativo_sdi: str) -> Any:
        """What SdI did with an injected invoice (`kind` RC: delivered; MC: the recipient's
        box did not take it, e.g. over its quota), or None while it has not answered."""
        return next((o for o in list(self.sdi.outcomes)
                     if o.identificativo_sdi == identificativo_sdi), None)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until SdI has answered everything it received (True) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        return bool(self.sdi.wait_idle(max(0.0, deadline - time.monotonic())))

    def fetch(self, address: str, folder: str = "INBOX") -> list[bytes]:
        """Every message in `folder` of `address`, raw, read with a real IMAP client
        (BODY.PEEK: nothing is marked seen)."""
        from imapclient import IMAPClient

        with IMAPClient(self.host, port=self.imap_port, ssl_context=self.ssl_context(),
                        timeout=30) as client:
            client.login(address, self.accounts[address.lower()])
            client.select_folder(folder, readonly=True)
            uids = client.search()
            if not uids:
                return []
            data = client.fetch(uids, ["BODY.PEEK[]"])
            return [bytes(data[uid][b"BODY[]"]) for uid in sorted(data)]

    # -- configuration for the product -------------------------------------------------------
    def write_config(self, path: str | os.PathLike[str], *,
                     account: str = COMPANY["address"], data_dir: str = "wpec-data",
                     tls: str = "implicit",
                     limits: dict[str, Any] | None = None,
                     outbox_supplier: dict[str, str] | None = None) -> Path:
        """Write a wpec.toml pointing the product at this sandbox (TEAM.md contract): paths
        relative to the file; the password stays in its 0600 file (`password_file`).
        `outbox_supplier` (e.g. `COMPANY_ADDRESS`, what `wpec sandbox up` writes) becomes
        `[outbox.supplier]`, the company's address that `wpec invoice create` needs."""
        import tomli_w

        target = Path(path).resolve()
        base = target.parent
        base.mkdir(parents=True, exist_ok=True)

        def rel(p: Path) -> str:
            return os.path.relpath(p, base)

        ca = rel(self.ca_path)
        imap_port = self.imap_port if tls == "implicit" else self.imap_starttls_port
        smtp_port = self.smtp_implicit_port if tls == "implicit" else self.smtp_starttls_port
        doc = {
            "data_dir": data_dir,
            "trust_store": ca,
            "company": {k: COMPANY[k] for k in ("name", "vat", "fiscal_code")},
            "sdi": {"address": SDI_FIRST},
            "accounts": [{
                "name": "main",
                "address": account,
                "username": account,
                "password_file": rel(self.password_file(account)),
                "imap": {"host": self.host, "port": imap_port, "tls": tls, "ca_file": ca},
                "smtp": {"host": self.host, "port": smtp_port, "tls": tls, "ca_file": ca},
                "limits": limits or {"messages_per_minute": 60, "burst": 10, "concurrency": 2,
                                     "max_message_mb": 30},
            }],
        }
        if outbox_supplier:
            doc["outbox"] = {"supplier": dict(outbox_supplier)}
        header = ("# Written by `wpec sandbox`: points the product at the local sandbox.\n"
                  "# Passwords are in the files named by password_file (mode 0600).\n")
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(header + tomli_w.dumps(doc), encoding="utf-8")
        os.replace(tmp, target)
        return target

    def reset_mail(self) -> None:
        """Remove every mailbox's content (a stopped sandbox only)."""
        if self._started:
            raise SandboxError("stop the sandbox before resetting its mail")
        for sub in ("imap", "dovecot"):
            shutil.rmtree(self.directory / sub, ignore_errors=True)
