"""Every leaf of the test PKI, signed into a `.p7m` or an S/MIME signature, gives the verdict
README's "Trust and revocation" table documents: against a real CRL/OCSP server on loopback,
with the cache on disk, offline, and with the responder down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wpec_invoicing.cms import TrustStore, open_signed_data, sign_attached, sign_detached
from wpec_invoicing.cms.revocation import RevocationPolicy
from wpec_invoicing.cms.verify import verify_detached
from wpec_invoicing.sandbox.revocation import RevocationResponder
from wpec_invoicing.trust.revocation import RevocationService, RevocationSettings

from .pki import Pki, build_pki

HARD = RevocationPolicy.HARD_FAIL
SOFT = RevocationPolicy.SOFT_FAIL


def service(cache: Path, policy: RevocationPolicy = SOFT, *, offline: bool = False,
            pec: RevocationPolicy | None = None) -> RevocationService:
    return RevocationService(RevocationSettings(
        policies={"invoice": policy, "pec": pec or policy}, offline=offline, cache_dir=cache))


def p7m(pki: Pki, name: str, *, signed: datetime | None = None) -> bytes:
    when = signed or datetime.now(UTC) - timedelta(minutes=2)
    return sign_attached(b"<FatturaElettronica/>", pki.key(name), pki.cert(name),
                         extra_certs=[pki.inter.cert], signing_time=when)


def judge(pki: Pki, name: str, svc: RevocationService, **kwargs):
    store = TrustStore([pki.root.cert]).with_revocation(svc)
    _, verdict = open_signed_data(p7m(pki, name, **kwargs), trust=store)
    return verdict


def test_good_signer_is_trusted_and_not_revoked(pki, tmp_path):
    v = judge(pki, "good", service(tmp_path))
    assert v.intact and v.trusted
    assert v.revocation.status == "good"
    assert v.revocation.source in ("ocsp", "crl")
    assert v.validated_at_source == "signing_time" and v.validated_at == v.signing_time
    assert v.checked_at is not None and v.qualified is False
    data = v.to_json()
    assert data["revocation"]["status"] == "good" and data["checked_at"]


def test_revoked_signer_is_not_trusted_with_date_and_reason(pki, tmp_path):
    v = judge(pki, "revoked", service(tmp_path))
    assert v.intact is True and v.trusted is False
    assert v.revocation.status == "revoked" and v.revocation.reason == "key_compromise"
    assert v.revocation.after_signing is False
    assert v.revocation.revoked_at < v.validated_at
    assert "revoked on" in v.reason and "key_compromise" in v.reason
    assert v.trusted_now is False


def test_signed_before_the_revocation_is_reported_but_still_trusted(pki, tmp_path):
    v = judge(pki, "revoked", service(tmp_path), signed=datetime.now(UTC) - timedelta(hours=2))
    assert v.trusted is True
    assert v.revocation.status == "revoked" and v.revocation.after_signing is True
    assert v.trusted_now is False


def test_expired_and_not_yet_valid_at_signing_time_are_untrusted(pki, tmp_path):
    svc = service(tmp_path)
    expired = judge(pki, "expired", svc)
    assert expired.trusted is False and "had expired" in expired.reason
    notyet = judge(pki, "notyet", svc)
    assert notyet.trusted is False and "not yet valid" in notyet.reason


def test_expired_now_but_valid_when_signed_is_trusted_and_checked(pki, tmp_path):
    cert = pki.cert("expired")
    v = judge(pki, "expired", service(tmp_path), signed=cert.not_valid_before_utc
              + timedelta(days=1))
    assert v.trusted is True and v.trusted_now is False
    assert "expired" in v.trusted_now_reason
    assert v.revocation.status == "good"


def test_qualified_certificate_is_reported_qualified(pki, tmp_path):
    v = judge(pki, "qualified", service(tmp_path))
    assert v.trusted and v.qualified is True
    assert v.qc == {"qc_compliance": True, "qc_sscd": True, "qc_types": ["esign"]}


def test_no_revocation_address_is_unknown_soft_fail_trusted_hard_fail_not(pki, tmp_path):
    soft = judge(pki, "nourl", service(tmp_path / "a"))
    assert soft.trusted is True and soft.revocation.status == "unknown"
    assert "no revocation information" in soft.revocation.detail
    hard = judge(pki, "nourl", service(tmp_path / "b", HARD))
    assert hard.trusted is False
    assert hard.reason.startswith("revocation status unknown (hard-fail)")


def test_crl_only_certificate_is_checked_by_crl(pki, tmp_path):
    v = judge(pki, "crlonly", service(tmp_path))
    assert v.revocation.status == "good" and "crl" in v.revocation.source


def test_policy_off_checks_nothing(pki, tmp_path):
    before = len(pki.responder.requests)
    v = judge(pki, "revoked", service(tmp_path, RevocationPolicy.OFF))
    assert v.trusted is True and v.revocation is None
    assert len(pki.responder.requests) == before


def test_per_use_policy_pec_envelope_vs_invoice(pki, tmp_path):
    svc = service(tmp_path, HARD, pec=SOFT)
    store = TrustStore([pki.root.cert]).with_revocation(svc)
    sig = sign_detached(b"body", pki.key("nourl"), pki.cert("nourl"),
                        extra_certs=[pki.inter.cert])
    pec = verify_detached(b"body", sig, trust=store)
    assert pec.trusted is True and pec.revocation.policy == "soft-fail"
    _, inv = open_signed_data(p7m(pki, "nourl"), trust=store)
    assert inv.trusted is False and inv.revocation.policy == "hard-fail"


def test_cache_answers_a_second_run_without_asking_the_server(pki, tmp_path):
    judge(pki, "good", service(tmp_path))
    before = len(pki.responder.requests)
    again = judge(pki, "good", service(tmp_path))  # a new process would start like this
    assert again.revocation.status == "good"
    assert len(pki.responder.requests) == before
    offline = judge(pki, "good", service(tmp_path, offline=True))
    assert offline.revocation.status == "good"
    assert len(pki.responder.requests) == before


def test_offline_with_an_empty_cache_is_unknown(pki, tmp_path):
    before = len(pki.responder.requests)
    v = judge(pki, "good", service(tmp_path, offline=True))
    assert v.revocation.status == "unknown" and v.trusted is True
    assert len(pki.responder.requests) == before


def test_offline_uses_the_raw_cache_when_the_verdict_is_gone(pki, tmp_path):
    judge(pki, "good", service(tmp_path))
    (tmp_path / "verdicts.json").unlink()
    before = len(pki.responder.requests)
    v = judge(pki, "good", service(tmp_path, offline=True))
    assert v.revocation.status == "good"
    assert len(pki.responder.requests) == before


@pytest.fixture
def own_pki():
    """A PKI of its own, for tests that stop its server or revoke its intermediate."""
    responder = RevocationResponder().start()
    try:
        yield build_pki(responder)
    finally:
        responder.stop()


def test_responder_down_is_unknown_soft_fail_and_failure_hard_fail(own_pki, tmp_path):
    own_pki.responder.stop()
    soft = judge(own_pki, "good", service(tmp_path / "a"))
    assert soft.trusted is True and soft.revocation.status == "unknown"
    assert "127.0.0.1" in soft.revocation.detail  # says which address did not answer
    hard = judge(own_pki, "good", service(tmp_path / "b", HARD))
    assert hard.trusted is False and "hard-fail" in hard.reason


def test_revoked_intermediate_revokes_the_chain(own_pki, tmp_path):
    own_pki.root.revoke(own_pki.inter.cert.serial_number,
                        when=datetime.now(UTC) - timedelta(hours=1))
    v = judge(own_pki, "good", service(tmp_path))
    assert v.trusted is False and v.revocation.status == "revoked"
    assert "CA certificate" in v.revocation.detail


def test_without_a_trust_store_nothing_is_fetched_but_times_and_qualified_are_told(pki):
    before = len(pki.responder.requests)
    _, v = open_signed_data(p7m(pki, "qualified"))
    assert v.trusted is None and v.revocation is None and v.qualified is True
    assert v.validated_at_source == "signing_time"
    assert len(pki.responder.requests) == before


def test_crls_embedded_in_the_signature_answer_offline(pki, tmp_path):
    from asn1crypto import cms, crl

    info = cms.ContentInfo.load(p7m(pki, "good"))
    info["content"]["crls"] = cms.RevocationInfoChoices([
        cms.RevocationInfoChoice({"crl": crl.CertificateList.load(a.crl_der())})
        for a in (pki.inter, pki.root)])
    before = len(pki.responder.requests)
    store = TrustStore([pki.root.cert]).with_revocation(service(tmp_path, offline=True))
    _, v = open_signed_data(info.dump(force=True), trust=store)
    assert v.intact and v.revocation.status == "good"
    assert v.revocation.source == "embedded"
    assert len(pki.responder.requests) == before
