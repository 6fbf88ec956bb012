"""The sandbox's bridge to the PEC engine's builder: one function per notice the provider
sends, taking the provider's own `Submission` record. All the MIME, daticert and signing work
is `wpec_invoicing.pec.builder`'s; this module only decides the arguments (which gestore signs,
which identificativo, which receipt type)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from wpec_invoicing.pec import builder
from wpec_invoicing.pec.mime import decode_words

if TYPE_CHECKING:
    from wpec_invoicing.sandbox.submission import Submission

Provider = builder.Provider
Signer = builder.Signer


def decode_subject(value: str | None) -> str:
    return decode_words(str(value or "")).strip()


def _now() -> datetime:
    return datetime.now(UTC).astimezone()


def acceptance(sub: Submission, provider: Provider) -> bytes:
    return builder.accettazione(sub.raw, provider=provider, identificativo=sub.identificativo,
                                timestamp=_now())


def non_acceptance(sub: Submission, provider: Provider, *, errore: str, reason: str) -> bytes:
    return builder.non_accettazione(sub.raw, provider=provider,
                                    identificativo=sub.identificativo, timestamp=_now(),
                                    errore=errore, errore_esteso=reason)


def transport_envelope(sub: Submission, provider: Provider) -> bytes:
    return builder.transport_envelope(sub.raw, provider=provider,
                                      identificativo=sub.identificativo, timestamp=_now())


def delivery_receipt(sub: Submission, recipient: str, provider: Provider) -> bytes:
    return builder.avvenuta_consegna(sub.raw, provider=provider,
                                     identificativo=sub.identificativo, timestamp=_now(),
                                     consegna=recipient, receipt_type=sub.receipt_type)


def delivery_error(sub: Submission, recipient: str, provider: Provider, *, errore: str,
                   detail: str) -> bytes:
    return builder.errore_consegna(sub.raw, provider=provider,
                                   identificativo=sub.identificativo, timestamp=_now(),
                                   consegna=recipient, errore=errore, errore_esteso=detail)


def preavviso(sub: Submission, recipient: str, provider: Provider) -> bytes:
    return builder.preavviso_errore_consegna(
        sub.raw, provider=provider, identificativo=sub.identificativo, timestamp=_now(),
        consegna=recipient,
        errore_esteso=f"4.4.7 - {recipient}: messaggio non consegnato entro il tempo previsto")


def anomaly(raw: bytes, recipient: str, provider: Provider, identificativo: str) -> bytes:
    return builder.anomaly_envelope(raw, provider=provider, recipient=recipient,
                                    identificativo=identificativo, timestamp=_now())
