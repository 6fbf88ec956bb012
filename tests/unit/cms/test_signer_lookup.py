"""The signer's certificate is found by the DER of issuer + serial, and still found when a
signer re-encoded the issuer name (the normalised comparison is the fallback)."""

from __future__ import annotations

from asn1crypto import cms, x509

from wpec_invoicing.cms import sign_detached, verify_detached

CONTENT = b"Content-Type: text/plain\r\n\r\nRicevuta di avvenuta consegna\r\n"


def _with_sid(signature: bytes, change) -> bytes:
    info = cms.ContentInfo.load(signature)
    signer = info["content"]["signer_infos"][0]
    sid = signer["sid"].chosen
    change(sid)
    signer["sid"] = cms.SignerIdentifier(name="issuer_and_serial_number", value=sid)
    return info.dump(force=True)


def test_signer_found_by_issuer_and_serial(pki):
    verdict = verify_detached(CONTENT, sign_detached(CONTENT, pki.key, pki.cert))
    assert verdict.intact is True
    assert verdict.signer == pki.cert.subject.rfc4514_string()


def test_signer_found_when_the_issuer_name_is_re_encoded(pki):
    """Same name, other string type (PrintableString instead of UTF8String): DER differs,
    RFC 5280 comparison says equal; the signature is still judged intact."""

    def reencode(sid) -> None:
        native = sid["issuer"].native
        re_encoded = x509.Name.build(native, use_printable=True)
        assert re_encoded.dump() != sid["issuer"].dump()  # the DER really differs
        sid["issuer"] = re_encoded

    signature = _with_sid(sign_detached(CONTENT, pki.key, pki.cert), reencode)
    verdict = verify_detached(CONTENT, signature)
    assert verdict.intact is True, verdict.reason


def test_a_wrong_serial_finds_no_signer(pki):
    def other_serial(sid) -> None:
        sid["serial_number"] = sid["serial_number"].native + 1

    signature = _with_sid(sign_detached(CONTENT, pki.key, pki.cert), other_serial)
    verdict = verify_detached(CONTENT, signature)
    assert verdict.intact is False
    assert "signer certificate not found" in verdict.reason
