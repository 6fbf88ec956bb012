"""The sandbox's own certification authority, made at first start and kept in its folder.

Why: PEC signatures are only worth something against a trust store. The sandbox issues the
certificates of its PEC providers ("gestori") and its TLS servers from one CA, and the product
pointed at the sandbox trusts exactly that CA (`ca.pem`). Keys are kept (mode 0600) so a
restarted sandbox signs with the same certificates and mail stored earlier still verifies.

Revocation (issue 16): while the sandbox runs, the CA publishes its CRL and answers OCSP on
loopback HTTP (`start_revocation`, `sandbox/revocation.py`), and the certificates it issues
carry those addresses, so the product really checks them. The port is kept in
`revocation.json` with the revoked serials, so a restarted sandbox answers at the same address.

Layout under the folder: `ca.pem`, `tls.pem`, `certs/<name>.pem`, `private/*.key` (0600),
`revocation.json`.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wpec_invoicing.cms import certs as certlib

CA_NAME = "wpec Sandbox PEC Root CA"
CA_ORGANIZATION = "wpec sandbox (not a real CA)"


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by the owner only (created with 0600, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Credential:
    """A key and its certificate (and where they are stored)."""

    key: Any
    cert: Any
    cert_path: Path
    key_path: Path


class SandboxCA:
    """Load the CA from `directory`, or create it there at first use."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).resolve()
        self._lock = threading.Lock()
        self._ca: Credential | None = None
        self._issued: dict[str, Credential] = {}
        self._responder: Any = None
        self._authority: Any = None

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM): what the product trusts for TLS and PEC signatures."""
        return self.directory / "ca.pem"

    def _key_path(self, name: str) -> Path:
        return self.directory / "private" / f"{name}.key"

    def ensure(self) -> Credential:
        """The CA credential, created (and stored) if the folder has none yet."""
        with self._lock:
            if self._ca is None:
                self._ca = self._load_or_make_ca()
            return self._ca

    def _load_or_make_ca(self) -> Credential:
        key_path = self._key_path("ca")
        if self.ca_path.exists() and key_path.exists():
            cert = certlib.load_pem_certificate(self.ca_path.read_bytes())
            key = certlib.load_pem_key(key_path.read_bytes())
        else:
            key, cert = certlib.make_ca(CA_NAME, organization=CA_ORGANIZATION)
            write_private(key_path, certlib.key_to_pem(key))
            self.ca_path.parent.mkdir(parents=True, exist_ok=True)
            self.ca_path.write_bytes(certlib.cert_to_pem(cert))
        return Credential(key, cert, self.ca_path, key_path)

    def _issue(self, name: str, cert_path: Path, **kwargs: Any) -> Credential:
        with self._lock:
            if name in self._issued:
                return self._issued[name]
        ca = self.ensure()
        with self._lock:
            key_path = self._key_path(name)
            if cert_path.exists() and key_path.exists():
                cert = certlib.load_pem_certificate(cert_path.read_bytes())
                key = certlib.load_pem_key(key_path.read_bytes())
            else:
                if self._responder is not None and "server_names" not in kwargs:
                    kwargs = {**kwargs, "crl_url": self._responder.crl_url("ca"),
                              "ocsp_url": self._responder.ocsp_url("ca")}
                key, cert = certlib.issue_certificate(ca.key, ca.cert, **kwargs)
                write_private(key_path, certlib.key_to_pem(key))
                cert_path.parent.mkdir(parents=True, exist_ok=True)
                cert_path.write_bytes(certlib.cert_to_pem(cert))
            cred = Credential(key, cert, cert_path, key_path)
            self._issued[name] = cred
            return cred

    def tls_server(self) -> Credential:
        """The TLS certificate of every sandbox server (SAN: localhost, 127.0.0.1)."""
        return self._issue("tls", self.directory / "tls.pem", common_name="localhost",
                           organization=CA_ORGANIZATION,
                           server_names=("localhost", "127.0.0.1"))

    def signer(self, name: str, *, common_name: str, email: str,
               organization: str) -> Credential:
        """The signing certificate of one PEC provider (e.g. `posta-certificata@<domain>`)."""
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
        return self._issue(f"signer-{safe}", self.directory / "certs" / f"{safe}.pem",
                           common_name=common_name, email=email, organization=organization)

    # -- revocation: CRL and OCSP on loopback ---------------------------------------------
    @property
    def _revocation_file(self) -> Path:
        return self.directory / "revocation.json"

    def _revocation_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._revocation_file.read_text("utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def start_revocation(self, host: str = "127.0.0.1") -> Any:
        """Serve the CA's CRL and OCSP (same port as last time when free); the responder."""
        from cryptography import x509

        from wpec_invoicing.sandbox.revocation import Authority, RevocationResponder

        if self._responder is not None:
            return self._responder
        ca = self.ensure()
        state = self._revocation_state()
        responder_cred = self._ocsp_credential(ca)
        authority = Authority("ca", ca.key, ca.cert, responder_cred.key, responder_cred.cert)
        for serial, (when, reason) in (state.get("revoked") or {}).items():
            authority.revoked[int(serial)] = (datetime.fromisoformat(when),
                                              x509.ReasonFlags(reason))
        try:
            responder = RevocationResponder(host, int(state.get("port") or 0)).start()
        except OSError:  # the old port is taken: a new one (older certs then say "unknown")
            responder = RevocationResponder(host, 0).start()
        responder.add(authority)
        self._responder, self._authority = responder, authority
        self._save_revocation()
        return responder

    def stop_revocation(self) -> None:
        if self._responder is not None:
            self._responder.stop()
            self._responder = None

    def revoke(self, cert: Any, reason: str = "key_compromise") -> None:
        """Revoke a certificate this CA issued (published at once on the CRL and OCSP)."""
        from cryptography import x509

        if self._authority is None:
            self.start_revocation()
        flag = x509.ReasonFlags[reason] if reason in x509.ReasonFlags.__members__ \
            else x509.ReasonFlags(reason)  # key_compromise or keyCompromise
        self._authority.revoke(cert.serial_number, when=datetime.now(UTC), reason=flag)
        self._save_revocation()

    def _save_revocation(self) -> None:
        authority = self._authority
        state = {
            "port": self._responder.port if self._responder is not None else None,
            "revoked": {str(serial): [when.isoformat(), reason.value]
                        for serial, (when, reason) in authority.revoked.items()},
        }
        self._revocation_file.write_text(json.dumps(state, indent=1), encoding="utf-8")

    def _ocsp_credential(self, ca: Credential) -> Credential:
        key_path = self._key_path("ocsp")
        cert_path = self.directory / "ocsp.pem"
        if cert_path.exists() and key_path.exists():
            return Credential(certlib.load_pem_key(key_path.read_bytes()),
                              certlib.load_pem_certificate(cert_path.read_bytes()),
                              cert_path, key_path)
        key, cert = certlib.issue_ocsp_responder(ca.key, ca.cert, f"{CA_NAME} OCSP")
        write_private(key_path, certlib.key_to_pem(key))
        cert_path.write_bytes(certlib.cert_to_pem(cert))
        return Credential(key, cert, cert_path, key_path)
