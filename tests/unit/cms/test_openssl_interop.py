"""Interoperability with a real signer and verifier: the openssl command line.

Real CAdES .p7m files and provider S/MIME signatures come from OpenSSL-based and other
signers; these fixtures are made by `openssl cms` / `openssl smime` from the test PKI, and our
own signatures are checked by `openssl cms -verify`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wpec_invoicing.cms import (
    CmsError,
    TrustStore,
    open_signed_data,
    sign_attached,
    sign_detached,
    verify_detached,
)
from wpec_invoicing.cms.certs import cert_to_pem, key_to_pem

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl binary is not installed: interop fixtures cannot be made"
)

INVOICE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<p:FatturaElettronica versione="FPR12" '
    b'xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2">\n'
    b"  <FatturaElettronicaHeader/>\r\n</p:FatturaElettronica>\n"
) * 20


@pytest.fixture(scope="module")
def files(pki, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("openssl")
    out = {
        "content": d / "IT01234567890_00001.xml",
        "cert": d / "signer.pem",
        "key": d / "signer.key",
        "ca": d / "ca.pem",
        "leaf": d / "leaf.pem",
        "leaf_key": d / "leaf.key",
        "inter": d / "inter.pem",
        "dir": d,
    }
    out["content"].write_bytes(INVOICE)
    out["cert"].write_bytes(cert_to_pem(pki.cert))
    out["key"].write_bytes(key_to_pem(pki.key))
    out["ca"].write_bytes(cert_to_pem(pki.ca))
    out["leaf"].write_bytes(cert_to_pem(pki.leaf))
    out["leaf_key"].write_bytes(key_to_pem(pki.leaf_key))
    out["inter"].write_bytes(cert_to_pem(pki.inter))
    return out


def openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result


def cms_sign(files, name: str, *extra: str | Path, signer="cert", key="key") -> bytes:
    target = files["dir"] / name
    openssl("cms", "-sign", "-binary", "-in", files["content"], "-signer", files[signer],
            "-inkey", files[key], "-outform", "DER", "-out", target, *extra)
    return target.read_bytes()


@pytest.mark.parametrize("md", ["sha256", "sha1"])
def test_openssl_cades_p7m(pki, files, md):
    """The command a CAdES-BES invoice signer runs: `openssl cms -sign -cades -nodetach`."""
    p7m = cms_sign(files, f"cades-{md}.p7m", "-cades", "-nodetach", "-md", md)
    content, verdict = open_signed_data(p7m, trust=TrustStore([pki.ca]))
    assert content == INVOICE
    assert verdict.intact is True, verdict.reason
    assert verdict.trusted is True, verdict.reason
    assert verdict.digest_algorithm == md
    assert verdict.signer == pki.cert.subject.rfc4514_string()
    assert verdict.signing_time is not None


def test_openssl_cades_p7m_tampered(files):
    p7m = bytearray(cms_sign(files, "cades-tamper.p7m", "-cades", "-nodetach", "-md", "sha256"))
    at = bytes(p7m).index(b"FatturaElettronicaHeader")
    p7m[at] = ord("f")
    content, verdict = open_signed_data(bytes(p7m))
    assert b"fatturaElettronicaHeader" in content
    assert verdict.intact is False and "messageDigest" in verdict.reason


@pytest.mark.parametrize("md", ["sha1", "sha256"])
def test_openssl_smime_detached(pki, files, md):
    """A provider-style detached S/MIME signature: `openssl smime -sign` (detached default)."""
    target = files["dir"] / f"smime-{md}.p7s"
    openssl("smime", "-sign", "-binary", "-in", files["content"], "-signer", files["cert"],
            "-inkey", files["key"], "-md", md, "-outform", "DER", "-out", target)
    sig = target.read_bytes()
    verdict = verify_detached(INVOICE, sig, trust=TrustStore([pki.ca]))
    assert verdict.intact is True, verdict.reason
    assert verdict.trusted is True
    assert verdict.digest_algorithm == md
    broken = verify_detached(INVOICE.replace(b"FPR12", b"FPA12"), sig)
    assert broken.intact is False
    with pytest.raises(CmsError, match="no encapsulated content"):
        open_signed_data(sig)


def test_openssl_streamed_ber_p7m(files):
    """`-stream` writes indefinite-length BER with chunked content: must open the same."""
    p7m = cms_sign(files, "stream.p7m", "-nodetach", "-stream", "-md", "sha256")
    assert p7m[1] == 0x80  # indefinite length: really BER
    content, verdict = open_signed_data(p7m)
    assert content == INVOICE
    assert verdict.intact is True, verdict.reason


def test_openssl_subject_key_identifier_and_intermediate(pki, files):
    """Signer found by subjectKeyIdentifier (`-keyid`); chain through a carried intermediate."""
    p7m = cms_sign(files, "keyid.p7m", "-nodetach", "-keyid", "-certfile", files["inter"],
                   signer="leaf", key="leaf_key")
    content, verdict = open_signed_data(p7m, trust=TrustStore([pki.ca]))
    assert content == INVOICE
    assert verdict.intact is True, verdict.reason
    assert verdict.signer == pki.leaf.subject.rfc4514_string()
    assert verdict.trusted is True, verdict.reason


def test_openssl_no_signed_attributes(files):
    p7m = cms_sign(files, "noattr.p7m", "-nodetach", "-noattr")
    _content, verdict = open_signed_data(p7m)
    assert verdict.intact is True, verdict.reason
    assert verdict.signing_time is None


def test_openssl_rsa_pss(files):
    p7m = cms_sign(files, "pss.p7m", "-nodetach", "-keyopt", "rsa_padding_mode:pss", "-md",
                   "sha256")
    _content, verdict = open_signed_data(p7m)
    assert verdict.intact is True, verdict.reason
    assert open_signed_data(p7m.replace(b"FPR12", b"FPA12"))[1].intact is False


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_openssl_verifies_our_detached_signature(pki, files, digest):
    sig = files["dir"] / f"ours-{digest}.p7s"
    sig.write_bytes(sign_detached(INVOICE, pki.key, pki.cert, digest=digest))
    openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", sig,
            "-content", files["content"], "-CAfile", files["ca"], "-purpose", "any",
            "-out", files["dir"] / "verified-detached")


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_openssl_verifies_our_p7m(pki, files, digest):
    p7m = files["dir"] / f"ours-{digest}.p7m"
    p7m.write_bytes(sign_attached(INVOICE, pki.key, pki.cert, digest=digest))
    out = files["dir"] / f"ours-{digest}.xml"
    openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", p7m,
            "-CAfile", files["ca"], "-purpose", "any", "-out", out)
    assert out.read_bytes() == INVOICE
