"""Helpers of the sandbox tests: send with plain smtplib, read back with the PEC engine."""

from __future__ import annotations

import itertools
import smtplib
import time
from collections.abc import Callable, Sequence

from wpec_invoicing.pec import inspect
from wpec_invoicing.pec.builder import compose
from wpec_invoicing.sandbox import Sandbox

_n = itertools.count(1)


def new_box(sb: Sandbox, prefix: str = "user", **kwargs: object) -> tuple[str, str]:
    """A fresh mailbox on the sandbox: (address, password)."""
    address = f"{prefix}{next(_n)}-{time.monotonic_ns() % 10**6}@pec.sandbox.test"
    return address, sb.add_account(address, **kwargs)  # type: ignore[arg-type]


def send(sb: Sandbox, sender: str, rcpts: Sequence[str], raw: bytes, *,
         starttls: bool = False, login: str | None = None) -> dict:
    """Submit like any mail client: smtplib, TLS verified against the sandbox CA, AUTH."""
    ctx = sb.ssl_context()
    login = login or sender
    if starttls:
        with smtplib.SMTP("127.0.0.1", sb.smtp_starttls_port, timeout=30) as client:
            client.starttls(context=ctx)
            client.login(login, sb.accounts[login])
            return client.sendmail(sender, list(rcpts), raw)
    with smtplib.SMTP_SSL("127.0.0.1", sb.smtp_implicit_port, context=ctx, timeout=30) as client:
        client.login(login, sb.accounts[login])
        return client.sendmail(sender, list(rcpts), raw)


def message(sender: str, to: Sequence[str], subject: str = "Prova", *, cc: Sequence[str] = (),
            attachments: Sequence[tuple[str, bytes, str]] = (), text: str = "Testo di prova",
            extra_headers: Sequence[tuple[str, str]] = ()) -> bytes:
    return compose(sender=sender, to=list(to), cc=list(cc), subject=subject, text=text,
                   attachments=list(attachments), extra_headers=list(extra_headers))


def read_box(sb: Sandbox, address: str) -> list:
    """Every message of the INBOX, inspected by the PEC engine with the sandbox CA as trust."""
    trust = sb.trust_store()
    return [inspect(raw, trust=trust) for raw in sb.fetch(address)]


def wait_box(sb: Sandbox, address: str, predicate: Callable[[list], bool],
             timeout: float = 10.0) -> list:
    """Poll the INBOX until `predicate(messages)` holds; return the messages either way."""
    deadline = time.monotonic() + timeout
    while True:
        msgs = read_box(sb, address)
        if predicate(msgs) or time.monotonic() > deadline:
            return msgs
        time.sleep(0.1)


def kinds(msgs: list) -> list[str]:
    return sorted(str(m.kind) for m in msgs)


def assert_signed_by_sandbox(msg: object) -> None:
    """Signature present, intact and trusted (chains to the sandbox CA)."""
    sig = msg.signature  # type: ignore[attr-defined]
    assert sig.present, msg
    assert sig.intact is True, sig.reason
    assert sig.trusted is True, sig.reason


# Every outcome `wpec sandbox selftest` must check, in its order: each receipt kind of the
# provider, its SMTP-level behaviour (throttling, dropped DATA) and every SdI answer (issue 4).
SELFTEST_CHECKS = [
    "accettazione",
    "avvenuta-consegna completa",
    "avvenuta-consegna breve",
    "avvenuta-consegna sintetica",
    "non-accettazione (Bcc)",
    "non-accettazione (virus)",
    "non-accettazione (message too large)",
    "errore-consegna (no such mailbox)",
    "errore-consegna (mailbox full)",
    "preavviso-errore-consegna",
    "errore-consegna (delivery timed out, 4.4.7)",
    "posta-certificata (transport envelope)",
    "anomalia (ordinary mail)",
    "SdI: invoice delivered to the recipient",
    "SdI: RicevutaConsegna (RC)",
    "SdI: RicevutaScarto (NS 00001)",
    "SdI: RicevutaImpossibilitaRecapito (MC)",
    "SdI: NotificaEsito EC01 (NE)",
    "SdI: NotificaEsito EC02 (NE)",
    "SdI: NotificaDecorrenzaTermini (DT)",
    "throttling 451 4.7.1",
    "throttling 550 (Too much traffic)",
    "throttling: temporary block (421)",
    "temporary block: applies to the whole client",
    "temporary block: over, accepted again",
    "connection dropped in the middle of DATA (once, nothing accepted)",
]
