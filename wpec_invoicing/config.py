"""`wpec.toml`: the one configuration file, validated with clear messages.

Why pydantic: every key is declared once with its type and default, and a wrong value becomes
a message naming the key and the problem (`accounts[0].imap.port: ...`), never a traceback.
Relative paths are relative to the file that contains them, so a config can be moved together
with its data. Secrets are never in the file: an account names an environment variable or a
file, and `AccountConfig.password()` reads it at use time (so a rotated password needs no
restart and the secret never sits in a long-lived object or a log).
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from wpec_invoicing.errors import ConfigError

CONFIG_ENV = "WPEC_CONFIG"
DEFAULT_FILE = "wpec.toml"
DEFAULT_DATA_DIR = "wpec-data"

# Keys that would carry a secret in clear: refused with a message saying what to do instead.
_SECRET_KEYS = {"password", "pass", "passwd", "secret", "token", "api_key"}

# A mailbox address as PEC providers issue them: local part, @, a domain with at least one dot.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
# SdI's CodiceDestinatario: 7 characters for companies (0000000: by PEC), 6 for a public
# administration's IPA office code.
_CODICE_DESTINATARIO = re.compile(r"^(?:[A-Z0-9]{7}|[A-Z0-9]{6})$")


def check_address(value: str) -> str:
    """A PEC (e-mail) address, or ValueError saying what is wrong with it."""
    if not _ADDRESS.fullmatch(value.strip()):
        raise ValueError("not a PEC address (expected name@provider.tld)")
    return value.strip()


def check_vat(value: str) -> str:
    """A VAT number with its country prefix; an Italian one must have the right check digit
    (the function SdI's check 00300 uses: `fatturapa.identifiers`)."""
    from wpec_invoicing.fatturapa.identifiers import is_valid_partita_iva

    value = value.strip().upper().replace(" ", "")
    if not re.fullmatch(r"[A-Z]{2}[A-Z0-9+*]{2,28}", value):
        raise ValueError("not a VAT number (country code, then the number: IT01234567897)")
    if value.startswith("IT") and not is_valid_partita_iva(value[2:]):
        raise ValueError("not a valid partita IVA (IT and 11 digits whose last one is the "
                         "check digit)")
    return value


def check_fiscal_code(value: str) -> str:
    """A codice fiscale: a company's 11 digits or a person's 16 characters, check digit right."""
    from wpec_invoicing.fatturapa.identifiers import is_valid_codice_fiscale

    value = value.strip().upper()
    if not is_valid_codice_fiscale(value):
        raise ValueError("not a valid codice fiscale (11 digits, or 16 characters, with the "
                         "right check character)")
    return value


def check_codice_destinatario(value: str) -> str:
    value = value.strip().upper()
    if not _CODICE_DESTINATARIO.fullmatch(value):
        raise ValueError("not an SdI codice destinatario (7 letters or digits, 0000000 when "
                         "invoices go by PEC; 6 for a public administration)")
    return value


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default. TOML's `inf`
    and `nan` are refused too (an infinite timeout crashed the socket layer)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TlsMode(StrEnum):
    IMPLICIT = "implicit"
    STARTTLS = "starttls"


class ServerConfig(_Strict):
    """One IMAP or SMTP endpoint. TLS verification is always on unless explicitly turned off."""

    host: str
    port: int = Field(ge=1, le=65535)
    tls: TlsMode = TlsMode.IMPLICIT
    ca_file: Path | None = None
    insecure_skip_verify: bool = False
    timeout_seconds: float = Field(default=60.0, gt=0)

    def ssl_context(self):  # -> ssl.SSLContext
        """A client TLS context: system CAs plus `ca_file`, hostname checked."""
        import ssl

        ctx = ssl.create_default_context()
        if self.ca_file is not None:
            from wpec_invoicing.inputs import check_regular

            try:
                check_regular(self.ca_file)  # a FIFO would block the TLS library forever
                ctx.load_verify_locations(cafile=str(self.ca_file))
            except OSError as exc:
                raise ConfigError(f"cannot load ca_file {self.ca_file}: "
                                  f"{exc.strerror or exc}") from None
            except ssl.SSLError as exc:
                raise ConfigError(f"cannot load ca_file {self.ca_file}: not a PEM CA "
                                  f"certificate ({exc.reason or exc})") from None
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


class LimitsConfig(_Strict):
    """What the provider allows an automated sender (used by the outbox)."""

    messages_per_minute: float = Field(default=60, gt=0)
    burst: int = Field(default=10, ge=1)
    concurrency: int = Field(default=2, ge=1, le=50)  # one SMTP connection + thread each
    max_message_mb: float = Field(default=30, gt=0)


class AccountConfig(_Strict):
    """A PEC mailbox. The password comes from `password_env` or `password_file`, never the TOML."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    address: str = Field(min_length=3)
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    imap: ServerConfig | None = None
    smtp: ServerConfig | None = None
    limits: LimitsConfig = LimitsConfig()
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    # Messages fetched per FETCH (and archived, made durable and recorded together): each
    # batch costs a round trip, a wait on the disk and a commit, so not too few.
    batch_size: int = Field(default=500, ge=1, le=5000)

    _address = field_validator("address")(classmethod(lambda cls, v: check_address(v)))

    @model_validator(mode="after")
    def _one_password_source(self) -> AccountConfig:
        if self.password_env and self.password_file:
            raise ValueError("give either password_env or password_file, not both")
        return self

    @property
    def login(self) -> str:
        return self.username or self.address

    def password(self) -> str:
        """Read the secret now (env or file); a clear error says where it was looked for."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"account {self.name!r}: environment variable {self.password_env} is not set"
                )
            if not value:
                raise ConfigError(
                    f"account {self.name!r}: environment variable {self.password_env} is empty"
                )
            return value
        if self.password_file:
            from wpec_invoicing.inputs import read_file

            where = f"account {self.name!r}: password_file {self.password_file}"
            try:
                raw = read_file(self.password_file, max_bytes=64 * 1024)
            except OSError as exc:
                raise ConfigError(f"{where}: cannot read it: {exc.strerror or exc}") from None
            try:
                value = raw.decode("utf-8-sig").rstrip("\r\n")
            except UnicodeDecodeError:
                raise ConfigError(f"{where}: not UTF-8 text (is it the right file?)") from None
            if not value:
                raise ConfigError(f"{where}: the file is empty")
            return value
        raise ConfigError(
            f"account {self.name!r}: no password source; set password_env or password_file"
        )


class CompanyConfig(_Strict):
    """The company: its VAT number and codice fiscale are checked (check digits included)."""

    name: str = ""
    vat: str | None = None
    fiscal_code: str | None = None

    @field_validator("vat", "fiscal_code", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    _vat = field_validator("vat")(classmethod(
        lambda cls, v: None if v is None else check_vat(v)))
    _fiscal_code = field_validator("fiscal_code")(classmethod(
        lambda cls, v: None if v is None else check_fiscal_code(v)))

    @property
    def vat_country(self) -> str | None:
        return self.vat[:2] if self.vat else None

    @property
    def vat_code(self) -> str | None:
        return self.vat[2:] if self.vat else None


class SdiConfig(_Strict):
    address: str = "sdi01@pec.fatturapa.it"

    _address = field_validator("address")(classmethod(lambda cls, v: check_address(v)))


SaveWhat = Literal["header", "body", "attachments"]

# What a save-path template may use (see rules/files.py render_path).
TEMPLATE_FIELDS = ("kind", "date", "sender", "subject", "id", "sha", "sha256")
# Rule kinds: every kind of the PEC engine plus the two SdI ones; plugins add theirs.
BUILTIN_KINDS = (
    "posta-certificata", "anomalia", "accettazione", "non-accettazione", "presa-in-carico",
    "avvenuta-consegna", "errore-consegna", "preavviso-errore-consegna", "rilevazione-virus",
    "non-pec", "sdi-invoice", "sdi-notification",
)
INVOICE_STATUSES = ("verified", "needs-review", "refused")


def _check_template(value: str | None) -> str | None:
    import string

    if value is None:
        return value
    try:
        fields = [f for _t, f, _s, _c in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ValueError(f"bad path template: {exc}") from None
    for name in fields:
        base = name.split(".")[0].split("[")[0]
        if base not in TEMPLATE_FIELDS:
            raise ValueError(f"unknown field {{{name}}} in path template (use: "
                             f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})")
    return value


def plugin_kinds() -> tuple[str, ...]:
    """Kinds added by installed document-type plugins (entry point names, not loaded)."""
    from importlib.metadata import entry_points

    return tuple(ep.name for ep in entry_points(group="wpec_invoicing.doctypes"))


class RuleAction(BaseModel):
    """An extra action by name (e.g. `auto_reply`) with its own options (checked by the action)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    action: str = Field(min_length=1)


class KindRule(_Strict):
    """What to do with one kind of message (a PEC kind, `sdi-invoice`, `sdi-notification`…)."""

    save: list[SaveWhat] = Field(default_factory=list)
    path: str | None = None  # template; default: RulesConfig.path
    move_to: str | None = None
    flag: list[str] = Field(default_factory=list)
    export: bool | list[str] = False  # hand invoices to all exporters, or to the named ones
    actions: list[RuleAction] = Field(default_factory=list)

    _path = field_validator("path")(classmethod(lambda cls, v: _check_template(v)))


class RulesConfig(_Strict):
    """Per-kind rules plus the shared settings (save root, accepted formats)."""

    save_dir: Path = Path("files")  # relative to data_dir
    path: str = "{kind}/{date:%Y}/{date:%m}/{sender}/{date:%Y%m%d-%H%M%S}-{subject}"
    accepted_extensions: list[str] = Field(
        default_factory=lambda: [
            "xml", "p7m", "pdf", "txt", "csv", "zip", "eml", "jpg", "jpeg", "png", "tif", "tiff",
            "odt", "ods", "docx", "xlsx", "html", "htm", "p7s",
        ]
    )
    kinds: dict[str, KindRule] = Field(default_factory=dict)

    @field_validator("accepted_extensions")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.lower().lstrip(".") for v in value]

    _path = field_validator("path")(classmethod(lambda cls, v: _check_template(v)))

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: dict[str, KindRule]) -> dict[str, KindRule]:
        unknown = [k for k in value if k not in BUILTIN_KINDS]
        if unknown:
            known = (*BUILTIN_KINDS, *plugin_kinds())
            bad = [k for k in unknown if k not in known]
            if bad:
                raise ValueError(f"unknown message kind {bad[0]!r} (kinds: {', '.join(known)})")
        return value


class ExporterConfig(_Strict):
    """One exporter: a built-in (`jsonl`, `csv`, `webhook`) or an entry point by name."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    type: str = Field(min_length=1)
    path: Path | None = None  # folder for file exporters (relative to data_dir)
    url: str | None = None
    secret_env: str | None = None
    secret_file: Path | None = None
    statuses: list[Literal["verified", "needs-review", "refused"]] = Field(
        default_factory=lambda: ["verified"])
    timeout_seconds: float = Field(default=10, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_seconds: float = Field(default=1.0, ge=0)
    # A webhook without a secret posts unsigned: the receiver cannot tell our posts from
    # anyone else's. Allowed only when written out on purpose.
    unsigned: bool = False
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _webhook_is_signed(self) -> ExporterConfig:
        if self.secret_env and self.secret_file:
            raise ValueError("give either secret_env or secret_file, not both")
        if self.type == "webhook":
            secret = bool(self.secret_env or self.secret_file)
            if not secret and not self.unsigned:
                raise ValueError(
                    f"exporter {self.name!r}: a webhook needs secret_env or secret_file (the "
                    "receiver checks X-Wpec-Signature with it); to post unsigned on purpose "
                    "write unsigned = true")
            if secret and self.unsigned:
                raise ValueError(f"exporter {self.name!r}: unsigned = true and a secret: "
                                 "choose one")
        return self

    @field_validator("url")
    @classmethod
    def _no_password_in_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value and urlsplit(value).password:
            raise ValueError("the URL carries a password (user:password@): leave it out; the "
                             "receiver checks the X-Wpec-Signature made with secret_env or "
                             "secret_file")
        return value

    def secret(self) -> bytes | None:
        if self.secret_env:
            value = os.environ.get(self.secret_env)
            if value is None:
                raise ConfigError(
                    f"exporter {self.name!r}: environment variable {self.secret_env} is not set"
                )
            return value.encode()
        if self.secret_file:
            try:
                return self.secret_file.read_bytes().rstrip(b"\r\n")
            except OSError as exc:
                raise ConfigError(
                    f"exporter {self.name!r}: cannot read secret_file {self.secret_file}: {exc}"
                ) from exc
        return None


class OutboxConfig(BaseModel):
    """Settings of the active cycle (read by the outbox). Every key is declared, so a typo such
    as `retry_base_secods` is an error naming the key, never a setting silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    acceptance_timeout_minutes: float = Field(default=30, gt=0)
    # Invoices built from data: the company's CedentePrestatore details, the number format,
    # and the PEM key/certificate that sign FPA12 files (paths relative to this file).
    supplier: dict[str, str | int | None] | None = None
    invoice_number_format: str | None = None
    sign_all: bool | None = None
    signing_key_file: str | None = None
    signing_cert_file: str | None = None
    # The sender's tunables (None: its built-in default). Declared here so a wrong type or a
    # negative delay is a config error naming the key, not a crash or a busy loop mid-run.
    receipt_type: Literal["completa", "breve", "sintetica"] | None = None
    retry_base_seconds: float | None = Field(default=None, gt=0)
    retry_cap_seconds: float | None = Field(default=None, gt=0)
    block_pause_seconds: float | None = Field(default=None, ge=0)
    verify_after_seconds: float | None = Field(default=None, gt=0)
    verify_window_seconds: float | None = Field(default=None, ge=0)
    verify_checks: int | None = Field(default=None, ge=1, le=100)
    stale_claim_seconds: float | None = Field(default=None, gt=0)
    max_attempts: int | None = Field(default=None, ge=1)
    max_connect_failures: int | None = Field(default=None, ge=1, le=1000)
    idle_poll_seconds: float | None = Field(default=None, gt=0, le=60)

    @field_validator("supplier")
    @classmethod
    def _supplier_identifiers(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """The identifiers the CedentePrestatore block may carry are checked like [company]'s."""
        if not value:
            return value
        checks = {"vat": check_vat, "fiscal_code": check_fiscal_code, "pec": check_address,
                  "codice_destinatario": check_codice_destinatario}
        out = dict(value)
        for key, check in checks.items():
            if isinstance(out.get(key), str):
                try:
                    out[key] = check(out[key])
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc} (got {out[key]!r})") from None
        return out


RevocationMode = Literal["hard-fail", "soft-fail", "off"]


class TrustConfig(_Strict):
    """`[trust]`: the managed trust store and revocation checking (issue 16, `trust/`).

    Relative paths are relative to `data_dir`. Revocation policy per use: `soft-fail` (an
    unknown status is a warning), `hard-fail` (unknown makes the signature untrusted), `off`.
    `offline`: never fetch, use only cached or embedded CRL/OCSP data.
    """

    store_dir: Path = Path("trust")
    revocation_pec: RevocationMode = "soft-fail"
    revocation_invoices: RevocationMode = "soft-fail"
    offline: bool = False
    cache_dir: Path = Path("revocation-cache")
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_fetch_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)

    def resolve(self, data_dir: Path, path: Path) -> Path:
        return path if path.is_absolute() else data_dir / path


# -- housekeeping and mailbox lifecycle (issue 15): a self-contained block ------------------
# Retention groups: what a `kind` falls under when no per-kind number is written.
RETENTION_GROUPS: dict[str, tuple[str, ...]] = {
    "receipts": ("accettazione", "non-accettazione", "presa-in-carico", "avvenuta-consegna",
                 "errore-consegna", "preavviso-errore-consegna", "rilevazione-virus"),
    "sdi-notification": ("sdi-notification",),
    "sdi-invoice": ("sdi-invoice",),
    "posta-certificata": ("posta-certificata",),
    "anomalia": ("anomalia",),
    "non-pec": ("non-pec",),
}
# Days on the server after archiving; None = never deleted automatically (certified mail and
# anomalies are evidence: an operator deletes them, housekeeping does not).
DEFAULT_RETENTION: dict[str, int | None] = {
    "receipts": 30, "sdi-notification": 90, "sdi-invoice": 180,
    "posta-certificata": None, "anomalia": None, "non-pec": None,
}


class RetentionConfig(_Strict):
    """Per account (or the defaults): days per retention group or kind, and a usage target."""

    days: dict[str, int | None] = Field(default_factory=dict)
    usage_target_percent: float | None = Field(default=None, gt=0, lt=100)

    @field_validator("days")
    @classmethod
    def _known(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        known = (*RETENTION_GROUPS, *BUILTIN_KINDS)
        for key, days in value.items():
            if key not in known:
                raise ValueError(f"unknown kind or group {key!r} (use: {', '.join(known)})")
            if days is not None and days < 0:
                raise ValueError(f"{key}: days must be 0 or more")
        return value


class HousekeepingConfig(_Strict):
    """`[housekeeping]`: retention, quota thresholds, and whether to run after each sync."""

    after_sync: bool = False
    warning_percent: float = Field(default=80, gt=0, le=100)
    critical_percent: float = Field(default=95, gt=0, le=100)
    batch_size: int = Field(default=2000, ge=1, le=20000)
    retention: RetentionConfig = RetentionConfig()
    accounts: dict[str, RetentionConfig] = Field(default_factory=dict)

    def retention_for(self, account: str) -> tuple[dict[str, int | None], float | None]:
        """(days per kind, usage target) of `account`: its own values over the defaults."""
        days: dict[str, int | None] = {}
        own = self.accounts.get(account)
        layers = [DEFAULT_RETENTION, self.retention.days] + ([own.days] if own else [])
        for layer in layers:  # groups first, then kinds, each layer over the previous one
            for key, value in layer.items():
                for kind in RETENTION_GROUPS.get(key, ()):
                    days[kind] = value
            for key, value in layer.items():
                if key not in RETENTION_GROUPS:
                    days[key] = value
        target = own.usage_target_percent if own and own.usage_target_percent else \
            self.retention.usage_target_percent
        return days, target


class HolderConfig(_Strict):
    """The holder of one mailbox: who receives the lifecycle notices and signs reactivation."""

    fiscal_code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{11,16}$")
    pec: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    expires_on: date | None = None


class NoticeSmtpConfig(_Strict):
    """The ordinary-mail relay the notices go through (password from env or file)."""

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["implicit", "starttls", "none"] = "starttls"
    ca_file: Path | None = None
    username: str | None = None
    password_env: str | None = None
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    timeout_seconds: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _plain_only_on_loopback(self) -> NoticeSmtpConfig:
        if self.tls == "none" and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"tls = \"none\" sends notices in clear: only allowed to a "
                             f"relay on this machine, not {self.host}")
        return self


class LifecycleConfig(_Strict):
    """`[lifecycle]`: the provider's soft-closure timings, the notices and the holders."""

    suspension_days: int = Field(default=30, ge=1)
    retention_days: int = Field(default=180, ge=1)
    notice_days: list[int] = Field(default_factory=lambda: [60, 30, 7, 1])
    notice_account: str | None = None  # the account whose outbox sends PEC notices
    smtp: NoticeSmtpConfig | None = None
    holders: dict[str, HolderConfig] = Field(default_factory=dict)


class JobsConfig(_Strict):
    """`[jobs]`: the job queue (PostgreSQL only; `wpec worker`). Each `*_cron` is a cron line
    (5 fields, or 6 with seconds last) at which the work of that kind is scheduled for every
    account; "" turns that kind off. Every worker must read the same file."""

    sync_cron: str = "* * * * *"
    send_cron: str = "* * * * *"
    housekeep_cron: str = "30 3 * * *"
    exports_cron: str = "* * * * *"
    lifecycle_cron: str = "0 6 * * *"
    # A worker whose heartbeat is this old is dead: its running jobs are given to the others.
    heartbeat_seconds: float = Field(default=10, gt=0, le=3600)
    stalled_after_seconds: float = Field(default=60, gt=0)
    stalled_check_cron: str = "* * * * *"
    # Failed jobs come back after retry_base_seconds * 2^attempt (capped), at most max_attempts.
    retry_base_seconds: float = Field(default=15, gt=0)
    retry_cap_seconds: float = Field(default=900, gt=0)
    max_attempts: int = Field(default=6, ge=1, le=100)
    # One send job stops after this long (the rest is for the next one), so a worker can stop.
    send_max_seconds: float = Field(default=300, gt=0)
    # On SIGTERM a worker finishes its jobs for at most this long, then leaves them to others.
    shutdown_seconds: float = Field(default=60, ge=0)
    # Open an alert when an account's sync has failed this many times in a row.
    alert_after_failures: int = Field(default=3, ge=1)

    @field_validator("sync_cron", "send_cron", "housekeep_cron", "exports_cron",
                     "lifecycle_cron", "stalled_check_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        value = value.strip()
        if value:
            from croniter import croniter

            if not croniter.is_valid(value):
                raise ValueError(f"{value!r} is not a cron line (e.g. \"*/5 * * * *\")")
        return value


class ApiConfig(_Strict):
    """`[api]`: how `wpec serve` listens (its options override these)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8040, ge=1, le=65535)
    certfile: Path | None = None
    keyfile: Path | None = None
    behind_proxy: bool = False
    body_limit_mb: float = Field(default=30, gt=0, le=1024)


class ArchiveConfig(_Strict):
    """`[archive]`: where the blobs (raw messages, invoice files) live. "filesystem" (the
    default): files under `data_dir/archive` (a shared mount for several machines);
    "postgresql": in the store's PostgreSQL database, so workers need nothing else.
    `wpec archive migrate --to ...` moves the blobs before the switch."""

    backend: Literal["filesystem", "postgresql"] = "filesystem"


class Config(_Strict):
    """The whole configuration, with every path already made absolute."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    store_url: str | None = None
    trust_store: Path | None = None
    trust: TrustConfig = TrustConfig()
    company: CompanyConfig = CompanyConfig()
    sdi: SdiConfig = SdiConfig()
    accounts: list[AccountConfig] = Field(default_factory=list)
    rules: RulesConfig = RulesConfig()
    exporters: list[ExporterConfig] = Field(default_factory=list)
    outbox: OutboxConfig = OutboxConfig()
    api: ApiConfig = ApiConfig()
    suppliers_csv: Path | None = None
    housekeeping: HousekeepingConfig = HousekeepingConfig()  # issue 15
    lifecycle: LifecycleConfig = LifecycleConfig()  # issue 15
    archive: ArchiveConfig = ArchiveConfig()  # issue 17: blob store backend
    jobs: JobsConfig = JobsConfig()  # issue 17: the job queue and its workers
    # Where this config came from (None = built-in defaults); set by load_config.
    source: Path | None = None
    searched: tuple[str, ...] = ()

    @field_validator("store_url")
    @classmethod
    def _no_password_in_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a database URL (sqlite:///path or "
                             "postgresql://user@host/db)") from None
        if url.password:
            raise ValueError("the URL carries a password: leave it out and give it to "
                             "PostgreSQL via PGPASSWORD or a ~/.pgpass file")
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"unsupported database {backend!r}: the store runs on SQLite "
                             "(sqlite:///path) or PostgreSQL (postgresql://user@host/db)")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for what, names in (
            ("accounts", [a.name for a in self.accounts]),
            ("exporters", [e.name for e in self.exporters]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what}: duplicate name(s) {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _archive_needs_postgresql(self) -> Config:
        if self.archive.backend == "postgresql" and not (
                self.store_url or "").lower().startswith(("postgresql", "postgres")):
            raise ValueError('[archive] backend = "postgresql" keeps the blobs in the store\'s '
                             'database: set store_url = "postgresql://..." too')
        return self

    # -- derived locations -------------------------------------------------------------
    @property
    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'wpec.db'}"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def save_dir(self) -> Path:
        return self.rules.save_dir

    def account(self, name: str | None = None) -> AccountConfig:
        """The named account (or the only/first one); a clear error when there is none."""
        if not self.accounts:
            if self.source is None:
                where = " or ".join(self.searched) or "./wpec.toml"
                raise ConfigError(f"no [[accounts]] configured: no configuration file found "
                                  f"(looked for {where}); give --config PATH or set "
                                  f"${CONFIG_ENV}")
            raise ConfigError(f"no [[accounts]] configured in {self.source}")
        if name is None:
            return self.accounts[0]
        for account in self.accounts:
            if account.name == name:
                return account
        known = ", ".join(a.name for a in self.accounts)
        raise ConfigError(f"no account named {name!r} (configured: {known})")

    def exporter(self, name: str) -> ExporterConfig:
        for exporter in self.exporters:
            if exporter.name == name:
                return exporter
        known = ", ".join(e.name for e in self.exporters) or "none"
        raise ConfigError(f"no exporter named {name!r} (configured: {known})")


# -- loading ---------------------------------------------------------------------------

def _find_secret_keys(data: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if str(key).lower() in _SECRET_KEYS and not isinstance(value, dict):
                found.append(where)
            found.extend(_find_secret_keys(value, where))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found.extend(_find_secret_keys(value, f"{path}[{i}]"))
    return found


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: `file: key: what is wrong`."""
    lines = []
    for err in exc.errors(include_url=False):
        # Drop pydantic's internal tags (e.g. function-after[...]) from the location.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not a setting of this section)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            msg = "must be a table ([section] or { key = value, ... })"
        msg = msg.removeprefix("Value error, ")
        got = err.get("input")
        # Never echo an unknown key's value (a misspelt `pasword = "..."` is a secret), nor
        # anything that may carry credentials.
        sensitive = (err["type"] == "extra_forbidden" or "password" in msg
                     or any(str(p) in ("store_url", "url") for p in loc))
        if err["type"] != "missing" and not sensitive and isinstance(
                got, str | int | float | bool):
            msg += f" (got {got!r})"
        lines.append(f"{source}: {_loc(loc)}: {msg}")
    return "\n".join(lines)


class _KeyProblem(Exception):
    """A key with a value of the wrong kind, found before pydantic sees the document."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")


def _toml_type(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _absolutize(data: dict[str, Any], base: Path) -> None:
    """Make the path-valued keys absolute, relative to `base` (the config file's folder)."""

    def fix(value: Any, root: Path, key: str = "") -> Any:
        if isinstance(value, str) and value:
            p = Path(value).expanduser()
            return str(p if p.is_absolute() else root / p)
        if key and not isinstance(value, str):
            raise _KeyProblem(key, f"must be a path (a string in quotes), not "
                                   f"{_toml_type(value)}")
        return value

    data_dir = Path(fix(data.get("data_dir", DEFAULT_DATA_DIR), base, "data_dir") or ".")
    data["data_dir"] = str(data_dir)
    for key in ("trust_store", "suppliers_csv"):
        if key in data:
            data[key] = fix(data[key], base, key)
    accounts = data.get("accounts", []) or []
    for i, account in enumerate(accounts if isinstance(accounts, list) else []):
        if not isinstance(account, dict):
            continue
        if "password_file" in account:
            account["password_file"] = fix(account["password_file"], base,
                                           f"accounts[{i}].password_file")
        for server in ("imap", "smtp"):
            if isinstance(account.get(server), dict) and "ca_file" in account[server]:
                account[server]["ca_file"] = fix(account[server]["ca_file"], base,
                                                 f"accounts[{i}].{server}.ca_file")
    api = data.get("api")
    for key in ("certfile", "keyfile"):
        if isinstance(api, dict) and key in api:
            api[key] = fix(api[key], base, f"api.{key}")
    rules = data.get("rules")
    if isinstance(rules, dict):
        rules["save_dir"] = fix(rules.get("save_dir", "files"), data_dir, "rules.save_dir")
    else:
        data.setdefault("rules", {})
        if isinstance(data["rules"], dict):
            data["rules"]["save_dir"] = str(data_dir / "files")
    exporters = data.get("exporters", []) or []
    for i, exporter in enumerate(exporters if isinstance(exporters, list) else []):
        if isinstance(exporter, dict):
            if "path" in exporter:
                exporter["path"] = fix(exporter["path"], data_dir, f"exporters[{i}].path")
            else:
                exporter["path"] = str(data_dir / "export" / str(exporter.get("name", "x")))
            if "secret_file" in exporter:
                exporter["secret_file"] = fix(exporter["secret_file"], base,
                                              f"exporters[{i}].secret_file")


def config_from_dict(data: dict[str, Any], *, base: Path, source: str = "wpec.toml") -> Config:
    """Validate a parsed TOML document (paths relative to `base`)."""
    secrets = _find_secret_keys(data)
    if secrets:
        raise ConfigError(
            f"{source}: {secrets[0]}: secrets must not be written in the config file; "
            "use password_env (an environment variable) or password_file (a file readable "
            "only by this user)"
        )
    data = copy.deepcopy(data)
    try:
        _absolutize(data, base)
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            "invalid configuration:\n" + format_validation_error(exc, source)
        ) from None
    except _KeyProblem as exc:
        raise ConfigError(f"invalid configuration:\n{source}: {exc}") from None
    except (TypeError, AttributeError) as exc:
        raise ConfigError(f"{source}: malformed configuration: {exc}") from None


def candidate_paths(path: Path | str | None = None) -> list[Path]:
    """Where the config is looked for, in order."""
    if path is not None:
        return [Path(path)]
    env = os.environ.get(CONFIG_ENV)
    if env:
        return [Path(env)]
    return [Path.cwd() / DEFAULT_FILE]


def load_config(path: Path | str | None = None) -> Config:
    """Load `--config PATH`, else `$WPEC_CONFIG`, else `./wpec.toml`, else the defaults.

    An explicitly named file (argument or env) must exist; only the implicit `./wpec.toml`
    falls back to the defaults (data in `./wpec-data`).
    """
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
    candidates = candidate_paths(path)
    chosen = candidates[0]
    searched = tuple(str(c) for c in candidates)
    if chosen.exists() and not chosen.is_file():
        raise ConfigError(f"config file {chosen}: not a regular file (a folder, FIFO or "
                          "device); give the path of the wpec.toml file")
    if chosen.is_symlink() and not chosen.exists():
        raise ConfigError(f"config file {chosen}: broken symbolic link (to "
                          f"{os.readlink(chosen)})")
    if not chosen.is_file():
        if explicit:
            how = "--config" if path is not None else f"${CONFIG_ENV}"
            raise ConfigError(f"config file {chosen} (from {how}) does not exist")
        config = config_from_dict({}, base=Path.cwd(), source="defaults")
        return config.model_copy(update={"searched": searched})
    try:
        raw = chosen.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {chosen}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # Windows editors write a BOM
    except UnicodeDecodeError:
        raise ConfigError(f"{chosen}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: not valid TOML: {exc}") from None
    config = config_from_dict(data, base=chosen.resolve().parent, source=str(chosen))
    return config.model_copy(update={"source": chosen.resolve(), "searched": searched})
