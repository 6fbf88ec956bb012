"""Trust is a separate verdict: the chain to the operator's store, judged at the signing time."""

from __future__ import annotations

from datetime import UTC, datetime

from wpec_invoicing.cms import (
    TrustStore,
    open_signed_data,
    sign_attached,
    sign_detached,
    verify_detached,
)
from wpec_invoicing.cms.certs import cert_to_pem, make_ca

CONTENT = b"postacert.eml and daticert.xml, signed by the provider\r\n" * 10


def test_trusted_with_the_right_ca(pki):
    store = TrustStore.from_pem(cert_to_pem(pki.ca))
    verdict = verify_detached(CONTENT, sign_detached(CONTENT, pki.key, pki.cert), trust=store)
    assert verdict.intact is True
    assert verdict.trusted is True
    assert verdict.reason is None


def test_not_trusted_with_another_ca(pki):
    store = TrustStore.from_pem(cert_to_pem(pki.other_ca))
    verdict = verify_detached(CONTENT, sign_detached(CONTENT, pki.key, pki.cert), trust=store)
    assert verdict.intact is True  # the maths is fine...
    assert verdict.trusted is False  # ...but nobody we trust vouches for the signer
    assert "unknown issuer" in verdict.reason
    assert "Test PEC Root CA" in verdict.reason


def test_trust_unknown_without_store(pki):
    verdict = verify_detached(CONTENT, sign_detached(CONTENT, pki.key, pki.cert))
    assert verdict.trusted is None


def test_same_name_different_key_is_a_bad_link(pki):
    """A CA that merely copies the trusted CA's name must not make its certificates trusted."""
    store = TrustStore.from_pem(cert_to_pem(pki.other_ca))
    _, impostor_ca = make_ca("Test PEC Root CA", organization="Gestore Test S.p.A.")
    store = TrustStore([impostor_ca])
    verdict = verify_detached(CONTENT, sign_detached(CONTENT, pki.key, pki.cert), trust=store)
    assert verdict.trusted is False
    assert "bad link" in verdict.reason


def test_signer_certificate_itself_in_store(pki):
    store = TrustStore([pki.cert])
    verdict = verify_detached(CONTENT, sign_detached(CONTENT, pki.key, pki.cert), trust=store)
    assert verdict.trusted is True


def test_store_with_many_certificates(pki):
    store = TrustStore.from_pem(cert_to_pem(pki.other_ca) + cert_to_pem(pki.ca))
    assert len(store) == 2
    verdict = verify_detached(CONTENT, sign_detached(CONTENT, pki.key, pki.cert), trust=store)
    assert verdict.trusted is True


def test_expired_at_signing_time(pki):
    """old_cert was valid during 2020 only: a message signed today with it is not trusted."""
    store = TrustStore([pki.ca])
    verdict = verify_detached(CONTENT, sign_detached(CONTENT, pki.old_key, pki.old_cert),
                              trust=store)
    assert verdict.intact is True
    assert verdict.trusted is False
    assert "expired" in verdict.reason and "signing time" in verdict.reason


def test_valid_at_signing_time_even_if_expired_now(pki):
    """A receipt signed in 2020 with the 2020 certificate stays trusted today."""
    store = TrustStore([pki.ca])
    when = datetime(2020, 6, 15, 12, 0, tzinfo=UTC)
    sig = sign_detached(CONTENT, pki.old_key, pki.old_cert, signing_time=when)
    verdict = verify_detached(CONTENT, sig, trust=store)
    assert verdict.trusted is True, verdict.reason


def test_not_yet_valid_at_signing_time(pki):
    store = TrustStore([pki.ca])
    when = datetime(2019, 6, 15, tzinfo=UTC)
    sig = sign_detached(CONTENT, pki.old_key, pki.old_cert, signing_time=when)
    verdict = verify_detached(CONTENT, sig, trust=store)
    assert verdict.trusted is False and "not yet valid" in verdict.reason


def test_chain_through_intermediate_carried_in_cms(pki):
    store = TrustStore([pki.ca])
    with_inter = sign_attached(CONTENT, pki.leaf_key, pki.leaf, extra_certs=[pki.inter])
    assert open_signed_data(with_inter, trust=store)[1].trusted is True
    without = sign_attached(CONTENT, pki.leaf_key, pki.leaf)
    verdict = open_signed_data(without, trust=store)[1]
    assert verdict.trusted is False
    assert "unknown issuer" in verdict.reason and "Intermediate" in verdict.reason


def test_chain_through_intermediate_in_store(pki):
    store = TrustStore([pki.inter])
    verdict = open_signed_data(sign_attached(CONTENT, pki.leaf_key, pki.leaf), trust=store)[1]
    assert verdict.trusted is True


def test_cached_result_is_stable(pki):
    """The second judgement of the same signer comes from the cache and says the same thing."""
    store = TrustStore([pki.ca])
    sig_ok = sign_detached(CONTENT, pki.key, pki.cert)
    sig_old = sign_detached(CONTENT, pki.old_key, pki.old_cert)
    first = [verify_detached(CONTENT, s, trust=store) for s in (sig_ok, sig_old)]
    second = [verify_detached(CONTENT, s, trust=store) for s in (sig_ok, sig_old)]
    assert [v.trusted for v in first] == [v.trusted for v in second] == [True, False]
    # The cache keys on the store too: another store gives its own answer.
    other = TrustStore([pki.other_ca])
    assert verify_detached(CONTENT, sig_ok, trust=other).trusted is False


def test_is_trusted_for_plain_certificates(pki):
    store = TrustStore([pki.ca])
    assert store.is_trusted(pki.cert) == (True, None)
    ok, reason = store.is_trusted(pki.leaf, [pki.inter])
    assert ok is True
    ok, reason = store.is_trusted(pki.other_cert)
    assert ok is False and "unknown issuer" in reason


def test_untrusted_tampered_signature_reports_intact_false_first(pki):
    store = TrustStore([pki.ca])
    sig = sign_detached(CONTENT, pki.key, pki.cert)
    verdict = verify_detached(CONTENT + b"x", sig, trust=store)
    assert verdict.intact is False
    assert verdict.trusted is None  # no trust judgement on a broken signature


def test_store_from_der_and_pem_bytes(pki):
    from cryptography.hazmat.primitives import serialization

    der = pki.ca.public_bytes(serialization.Encoding.DER)
    for store in (TrustStore([der]), TrustStore([cert_to_pem(pki.ca)])):
        verdict = verify_detached(CONTENT, sign_detached(CONTENT, pki.key, pki.cert), trust=store)
        assert verdict.trusted is True


def test_store_from_pem_without_certificates():
    import pytest

    with pytest.raises(ValueError, match="no PEM certificate"):
        TrustStore.from_pem(b"just some text\n")
    with pytest.raises(ValueError, match="unreadable PEM certificate"):
        TrustStore.from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
