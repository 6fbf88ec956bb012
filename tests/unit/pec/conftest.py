"""A provider PKI and builders, made once per test session (RSA key generation is the slow part)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from wpec_invoicing.cms import TrustStore
from wpec_invoicing.cms.certs import issue_certificate, make_ca
from wpec_invoicing.pec import builder

# Messages in tests carry timestamps from 2020 to 2035: certificates valid all along.
VALIDITY: dict[str, Any] = {"not_before": datetime(2019, 1, 1, tzinfo=UTC), "days": 20 * 365}


@dataclass(frozen=True)
class ProviderPki:
    ca: Any
    trust: TrustStore
    sha256: builder.Provider  # signed by a certificate of `ca`
    sha1: builder.Provider
    rogue: builder.Provider  # same names, self-made CA: intact but not trusted
    sdi: builder.Provider  # SdI's provider (pcert.sogei.it)


@pytest.fixture(scope="session")
def pki() -> ProviderPki:
    ca_key, ca = make_ca(
        "Test PEC Root CA", organization="Gestore Test S.p.A.",
        not_before=datetime(2019, 1, 1, tzinfo=UTC), days=20 * 365,
    )
    key, cert = issue_certificate(
        ca_key, ca, "Posta certificata Gestore Test", email="posta-certificata@pec.test",
        organization="Gestore Test S.p.A.", **VALIDITY,
    )
    sdi_key, sdi_cert = issue_certificate(
        ca_key, ca, "Posta certificata Sogei", email="posta-certificata@pcert.sogei.it",
        **VALIDITY,
    )
    rogue_ca_key, rogue_ca = make_ca("Rogue CA", not_before=VALIDITY["not_before"])
    rogue_key, rogue_cert = issue_certificate(
        rogue_ca_key, rogue_ca, "Posta certificata Gestore Test",
        email="posta-certificata@pec.test", **VALIDITY,
    )
    gestore = "Gestore Test S.p.A."
    return ProviderPki(
        ca=ca,
        trust=TrustStore([ca]),
        sha256=builder.Provider("pec.test", gestore, builder.Signer(key, cert, "sha256")),
        sha1=builder.Provider("pec.test", gestore, builder.Signer(key, cert, "sha1")),
        rogue=builder.Provider("pec.test", gestore, builder.Signer(rogue_key, rogue_cert)),
        sdi=builder.Provider("pcert.sogei.it", "Sogei S.p.A.", builder.Signer(sdi_key, sdi_cert)),
    )


@pytest.fixture(scope="session")
def original() -> bytes:
    """A client's message with an invoice attached (what a sender hands to its provider)."""
    return builder.compose(
        sender="azienda@pec.test",
        to=["cliente@pec.altro.it"],
        cc=["copia@pec.altro.it"],
        subject="Fattura n. 7 — novembre",
        text="Buongiorno,\nin allegato la fattura.\n",
        attachments=[
            ("IT01234567890_00007.xml", b"<FatturaElettronica/>", "application/xml"),
            ("nota.pdf", b"%PDF-1.4 fake", "application/pdf"),
        ],
        message_id="<7.1700000000@client.example>",
        date=datetime(2026, 11, 3, 10, 0, tzinfo=UTC),
    )
