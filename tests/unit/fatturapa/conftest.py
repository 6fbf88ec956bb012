"""Fixtures of the FatturaPA tests: documents built with the writer, signers with a test CA."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from wpec_invoicing.cms import TrustStore, sign_attached
from wpec_invoicing.cms.certs import cert_to_pem, issue_certificate, key_to_pem, make_ca
from wpec_invoicing.fatturapa import InvoiceDocument, summarize_vat, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice

GOOD_NAME = "IT01234567897_00001.xml"


@dataclass
class Signer:
    key: object
    cert: object
    ca_cert: object
    trust: TrustStore
    tmp: Path

    def sign(self, data: bytes) -> bytes:
        return sign_attached(data, self.key, self.cert)

    def openssl_sign(self, data: bytes) -> bytes:
        """A CAdES p7m made by `openssl cms -sign -cades` (what signing tools produce)."""
        src = self.tmp / "in.xml"
        src.write_bytes(data)
        out = self.tmp / "out.p7m"
        subprocess.run(
            [
                "openssl", "cms", "-sign", "-cades", "-binary", "-nodetach", "-outform", "DER",
                "-md", "sha256", "-in", str(src), "-signer", str(self.tmp / "cert.pem"),
                "-inkey", str(self.tmp / "key.pem"), "-out", str(out),
            ],
            check=True,
            capture_output=True,
        )
        return out.read_bytes()


@pytest.fixture(scope="session")
def signer(tmp_path_factory) -> Signer:
    ca_key, ca_cert = make_ca("FatturaPA Test CA", organization="wpec tests")
    key, cert = issue_certificate(ca_key, ca_cert, "Mario Rossi", organization="Fornitore Demo")
    tmp = tmp_path_factory.mktemp("signer")
    (tmp / "cert.pem").write_bytes(cert_to_pem(cert))
    (tmp / "key.pem").write_bytes(key_to_pem(key))
    (tmp / "ca.pem").write_bytes(cert_to_pem(ca_cert))
    return Signer(key, cert, ca_cert, TrustStore([ca_cert]), tmp)


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl missing")


def with_body(doc: InvoiceDocument, index: int = 0, *, resummarize: bool = False, **changes):
    """`doc` with body `index` changed; optionally DatiRiepilogo recomputed from its lines."""
    body = replace(doc.bodies[index], **changes)
    if resummarize:
        body = replace(body, vat_summary=summarize_vat(body.lines, body.pension_funds))
    bodies = list(doc.bodies)
    bodies[index] = body
    return replace(doc, bodies=tuple(bodies))


def with_line(doc: InvoiceDocument, index: int = 0, *, resummarize: bool = True, **changes):
    body = doc.bodies[0]
    lines = list(body.lines)
    lines[index] = replace(lines[index], **changes)
    return with_body(doc, lines=tuple(lines), resummarize=resummarize)


@pytest.fixture
def fpr12() -> InvoiceDocument:
    return sample_invoice(format="FPR12", lines=2)


@pytest.fixture
def fpr12_bytes(fpr12) -> bytes:
    return write_invoice(fpr12)
