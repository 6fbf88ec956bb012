"""Trust as a service: the managed store, revocation (CRL/OCSP) with its cache, trusted lists.

The pure judgement lives in `cms/` (`TrustStore`, `judgement.py`, `revocation.py`); this
package does the disk and network work around it and hands `cms/` a ready `TrustStore` with a
`RevocationService` attached:

    trust = load_trust(config)            # config trust_store + managed store, revocation on
    inspect(raw, trust=trust)             # every signature report gains `revocation`, ...

May import: formats (`cms/`) and the standard library, httpx and pyhanko-certvalidator; never
`store/`, `app/`, `cli/` or `web/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# The certificate stack (cryptography, `cms`) is imported inside the functions that use it:
# `cli_trust` answers "nothing to trust" without it (see `_nothing_to_trust`), so a command
# that reads plain XML invoices does not pay for it at start-up.


def _purpose_uses() -> dict[str, tuple[str, ...]]:
    """What each purpose of the managed store vouches for."""
    from wpec_invoicing.cms.revocation import USE_INVOICE, USE_PEC

    return {"pec-provider": (USE_PEC,), "qualified-ca": (USE_INVOICE,)}


def revocation_settings(config: Any, *, policy: str | None = None,
                        offline: bool | None = None) -> Any:
    """The `RevocationSettings` of `config` (`policy` overrides both uses)."""
    from wpec_invoicing.cms.revocation import USE_INVOICE, USE_PEC, RevocationPolicy

    from .http import HttpLimits
    from .revocation import RevocationSettings

    trust = config.trust
    policies = {USE_PEC: RevocationPolicy(policy or trust.revocation_pec),
                USE_INVOICE: RevocationPolicy(policy or trust.revocation_invoices)}
    return RevocationSettings(
        policies=policies,
        offline=trust.offline if offline is None else offline,
        cache_dir=trust.resolve(config.data_dir, trust.cache_dir),
        limits=HttpLimits(timeout_seconds=trust.timeout_seconds,
                          max_bytes=trust.max_fetch_bytes),
    )


def managed_store(config: Any) -> Any:
    from .store import ManagedStore

    return ManagedStore(config.trust.resolve(config.data_dir, config.trust.store_dir))


def read_pem_path(path: Path) -> list[Any]:
    """Certificates from a PEM file or every .pem/.crt/.cer of a folder (ValueError: why)."""
    from wpec_invoicing.cms.trust import load_pem_certificates
    from wpec_invoicing.inputs import read_file

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in (".pem", ".crt", ".cer") and p.is_file())
        if not files:
            raise ValueError(f"{path}: no .pem/.crt/.cer file in this folder")
    else:
        files = [path]
    certs: list[Any] = []
    for file in files:
        try:
            data = read_file(file)
        except OSError as exc:
            raise ValueError(f"{file}: cannot read ({exc.strerror or exc})") from None
        try:
            certs.extend(load_pem_certificates(data))
        except ValueError as exc:
            raise ValueError(f"{file}: {exc}") from None
    return certs


def load_trust(config: Any, *, extra: Path | None = None, policy: str | None = None,
               offline: bool | None = None, revocation: bool = True) -> Any:
    """The `TrustStore` for `config`: its `trust_store` file/folder, the managed store and
    `extra` (a `--trust` path); None when there is no certificate at all. Revocation is
    attached unless both uses are `off` (or `revocation` is False)."""
    from cryptography.hazmat.primitives import hashes

    from wpec_invoicing.cms import TrustStore
    from wpec_invoicing.cms.revocation import RevocationPolicy
    from wpec_invoicing.errors import ConfigError, InputError

    certs: list[Any] = []
    if getattr(config, "trust_store", None) is not None:
        try:
            certs.extend(read_pem_path(config.trust_store))
        except ValueError as exc:
            raise ConfigError(f"trust_store {exc}") from None
    if extra is not None:
        try:
            certs.extend(read_pem_path(extra))
        except ValueError as exc:
            raise InputError(f"trust store {exc}") from None
    from .store import StoreError

    purpose_uses = _purpose_uses()
    try:
        managed = managed_store(config)
        by_purpose = {purpose: managed.certificates(purpose) for purpose in purpose_uses}
    except StoreError as exc:
        raise ConfigError(str(exc)) from None
    everything = certs + [c for group in by_purpose.values() for c in group]
    if not everything:
        return None
    store = TrustStore(everything)
    # Certificates of the managed store vouch only for their purpose's use; those of the
    # config's trust_store (and --trust) for every use, as before.
    own = {c.fingerprint(hashes.SHA256()) for c in certs}
    for purpose, group in by_purpose.items():
        for cert in group:
            if cert.fingerprint(hashes.SHA256()) not in own:
                store.restrict(cert, purpose_uses[purpose])
    if revocation:
        settings = revocation_settings(config, policy=policy, offline=offline)
        if any(p != RevocationPolicy.OFF for p in settings.policies.values()):
            from .revocation import RevocationService

            store = store.with_revocation(RevocationService(settings))
    return store


@dataclass(frozen=True)
class TrustDefaults:
    """`config.TrustConfig`'s defaults, for commands run without any config file: they then
    need not import the config machinery (pydantic) at all. A test keeps the two equal."""

    store_dir: Path = Path("trust")
    revocation_pec: str = "soft-fail"
    revocation_invoices: str = "soft-fail"
    offline: bool = False
    cache_dir: Path = Path("revocation-cache")
    timeout_seconds: float = 10.0
    max_fetch_bytes: int = 20 * 1024 * 1024

    def resolve(self, data_dir: Path, path: Path) -> Path:
        return path if path.is_absolute() else data_dir / path


# config.py's names (a test keeps them equal): read here without importing config.py.
CONFIG_ENV, DEFAULT_FILE, DEFAULT_DATA_DIR = "WPEC_CONFIG", "wpec.toml", "wpec-data"


def _user_cache() -> Path:
    import os

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "wpec_invoicing" / "revocation"


def _command_config() -> Any:
    """The config a command uses: `load_config()` when a file is named or present, else
    the defaults (without loading pydantic), the revocation cache in the user's cache."""
    import os

    if os.environ.get(CONFIG_ENV) or (Path.cwd() / DEFAULT_FILE).exists():
        from wpec_invoicing.config import load_config

        return load_config()
    return SimpleNamespace(data_dir=Path.cwd() / DEFAULT_DATA_DIR, trust_store=None,
                           trust=TrustDefaults(cache_dir=_user_cache()), source=None)


def _nothing_to_trust(config: Any) -> bool:
    """True when `load_trust(config)` can only find no certificate: no `trust_store` in the
    config and no index of the managed store (`ManagedStore` reads a missing index as an
    empty store; a test holds the file name equal)."""
    if getattr(config, "trust_store", None) is not None:
        return False
    directory = config.trust.resolve(config.data_dir, config.trust.store_dir)
    return not (directory / MANAGED_INDEX).exists()


MANAGED_INDEX = "index.json"


def cli_trust(store: Any, *, policy: str | None = None, config: Any = None) -> Any:
    """The trust a command uses: `store` (from `--trust`) or else the configured and managed
    stores, with revocation checking per the config (`policy` overrides it; `off` none).

    Without a config file the revocation cache goes to the user's cache folder
    (`$XDG_CACHE_HOME/wpec_invoicing`), never into the current folder."""
    if policy is not None and policy not in ("hard-fail", "soft-fail", "off"):
        from wpec_invoicing.errors import InputError

        raise InputError(f"--revocation {policy!r}: use hard-fail, soft-fail or off")
    if config is None:
        config = _command_config()
    if store is None:
        if _nothing_to_trust(config):
            return None  # what load_trust returns then, without importing the certificate stack
        return load_trust(config, policy=policy)
    from wpec_invoicing.cms.revocation import RevocationPolicy

    settings = revocation_settings(config, policy=policy)
    if all(p == RevocationPolicy.OFF for p in settings.policies.values()):
        return store
    from .revocation import RevocationService

    return store.with_revocation(RevocationService(settings))


__all__ = ["TrustDefaults", "cli_trust", "load_trust", "managed_store", "read_pem_path",
           "revocation_settings"]
