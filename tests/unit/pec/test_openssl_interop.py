"""Interoperability with an independent S/MIME implementation (the openssl command):
what our builder signs, openssl verifies; what openssl signs (LF line ends, its own MIME
layout), our reader verifies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wpec_invoicing.cms.certs import cert_to_pem, key_to_pem
from wpec_invoicing.pec import Kind, inspect
from wpec_invoicing.pec import builder as b

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory, pki) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("openssl")
    signer = pki.sha256.signer
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    files["ca"].write_bytes(cert_to_pem(pki.ca))
    files["cert"].write_bytes(cert_to_pem(signer.cert))
    files["key"].write_bytes(key_to_pem(signer.key))
    return files


@pytest.mark.parametrize("opaque", [False, True])
@pytest.mark.parametrize("digest", ["sha256", "sha1"])
def test_openssl_verifies_what_the_builder_signs(pki, original, pem_files, tmp_path, digest,
                                                  opaque) -> None:
    provider = pki.sha256 if digest == "sha256" else pki.sha1
    raw = b.avvenuta_consegna(original, provider=provider, identificativo="o@pec.test",
                              consegna="cliente@pec.altro.it", opaque=opaque)
    path = tmp_path / "receipt.eml"
    path.write_bytes(raw)
    result = subprocess.run(
        ["openssl", "smime", "-verify", "-in", str(path), "-CAfile", str(pem_files["ca"]),
         "-purpose", "any", "-out", str(tmp_path / "content")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr


@pytest.mark.parametrize("digest", ["sha256", "sha1"])
def test_reader_verifies_what_openssl_signs(pki, pem_files, tmp_path, digest) -> None:
    entity = (
        b'Content-Type: multipart/mixed; boundary="X"\n\n--X\nContent-Type: text/plain\n\n'
        b"Ricevuta di accettazione\n--X--\n"
    )
    (tmp_path / "entity").write_bytes(entity)
    signed = subprocess.run(
        ["openssl", "smime", "-sign", "-in", str(tmp_path / "entity"), "-signer",
         str(pem_files["cert"]), "-inkey", str(pem_files["key"]), "-md", digest],
        capture_output=True, check=True,
    ).stdout
    raw = b"From: posta-certificata@pec.test\nX-Ricevuta: accettazione\nSubject: ACCETTAZIONE: x\n"
    raw += signed
    # openssl writes bare LF around its parts: the reader canonicalises, as S/MIME says
    assert raw.count(b"\n") > raw.count(b"\r\n")
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.ACCETTAZIONE
    assert m.signature.intact is True and m.signature.trusted is True
    assert m.signature.digest_algorithm == digest
    tampered = raw.replace(b"Ricevuta di accettazione", b"Ricevuta di accettaziona")
    assert inspect(tampered, trust=pki.trust).signature.intact is False
