"""`wpec sandbox selftest`: drive a sandbox like any client would and check every outcome.

Sends with plain `smtplib`, reads with `imapclient`, classifies with the PEC engine (signatures
verified against the sandbox CA), and reports one line per expected outcome: every receipt
kind of the provider (acceptance, non-acceptance for Bcc / virus / size, delivery receipts
completa / breve / sintetica, delivery failures for unknown and full mailboxes, preavviso and
the give-up after the maximum time, 4.4.7, anomaly), its SMTP-level behaviour (throttling
replies 451 / 550 / temporary block, the connection dropped mid-DATA once) and every SdI
answer (delivery with _MT_, RC, NS, MC, NE EC01 / EC02, DT). Usable from tests on a running
Sandbox; timers are shortened for the run (seconds, not hours) and restored afterwards.
"""

from __future__ import annotations

import smtplib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from wpec_invoicing.sandbox import Sandbox
from wpec_invoicing.sandbox.accounts import SDI_FIRST
from wpec_invoicing.sandbox.provider import EICAR


@dataclass(frozen=True)
class Check:
    """One expected outcome: did it happen (and was it signed by the sandbox CA)?"""

    name: str
    ok: bool
    detail: str = ""


def _send(sb: Sandbox, sender: str, rcpts: list[str], raw: bytes, *, starttls: bool) -> None:
    ctx = sb.ssl_context()
    if starttls:
        with smtplib.SMTP(sb.host, sb.smtp_starttls_port, timeout=30) as client:
            client.starttls(context=ctx)
            client.login(sender, sb.accounts[sender])
            client.sendmail(sender, rcpts, raw)
    else:
        with smtplib.SMTP_SSL(sb.host, sb.smtp_implicit_port, context=ctx, timeout=30) as c:
            c.login(sender, sb.accounts[sender])
            c.sendmail(sender, rcpts, raw)


def _read(sb: Sandbox, address: str) -> list:
    """Every message of the INBOX, via imapclient + pec.inspect (trust: the sandbox CA)."""
    from imapclient import IMAPClient

    from wpec_invoicing.pec import inspect

    trust = sb.trust_store()
    with IMAPClient(sb.host, port=sb.imap_port, ssl_context=sb.ssl_context(),
                    timeout=30) as client:
        client.login(address, sb.accounts[address])
        client.select_folder("INBOX", readonly=True)
        uids = client.search()
        data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    return [inspect(bytes(data[u][b"BODY[]"]), trust=trust) for u in sorted(data)]


def _wait(sb: Sandbox, address: str, ready: Callable[[list], bool],
          timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        msgs = _read(sb, address)
        if ready(msgs) or time.monotonic() > deadline:
            return msgs
        time.sleep(0.1)


def _smtp_refusal(sb: Sandbox, sender: str, rcpts: list[str], raw: bytes
                  ) -> tuple[int, str] | None:
    """Send once; the (code, text) of a refused MAIL FROM (throttling), or None if accepted."""
    try:
        _send(sb, sender, rcpts, raw, starttls=False)
    except smtplib.SMTPSenderRefused as exc:
        return exc.smtp_code, exc.smtp_error.decode("utf-8", "replace")
    return None


def _dropped(sb: Sandbox, sender: str, rcpts: list[str], raw: bytes) -> bool:
    """Send with the provider's "drop mid-DATA once" switch on: True if the connection died."""
    sb.drop_next_data()
    try:
        _send(sb, sender, rcpts, raw, starttls=False)
    except (smtplib.SMTPServerDisconnected, OSError):
        return True
    finally:
        sb.provider.drop_next_data = False
    return False


def _wait_unblocked(sb: Sandbox, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while sb.provider.throttle.blocked(sb.host) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# Short timers of the selftest: preavviso after PREAVVISO s, errore-consegna 4.4.7 GIVE_UP s
# later (real life: 12 h and 24 h), a throttling block of BLOCK s.
PREAVVISO, GIVE_UP, BLOCK = 0.3, 0.3, 1.0


def run_selftest(sb: Sandbox) -> list[Check]:
    """Exercise `sb` (running) and return one Check per expected outcome.

    Leaves the sandbox as found: its timers, size limit and PA outcome restored, no throttle
    or block left behind (it may be a sandbox shared with other work)."""
    from wpec_invoicing.fatturapa import write_invoice
    from wpec_invoicing.pec.builder import compose
    from wpec_invoicing.sandbox.invoices import (
        OTHER_CUSTOMER,
        SUPPLIERS,
        sign_p7m,
        supplier_invoice,
    )

    tag = uuid.uuid4().hex[:6]
    sender = f"selftest-{tag}@pec.sandbox.test"
    rcpt = f"selftest-dest-{tag}@pec.sandbox.test"
    slow = f"selftest-lento-{tag}@pec.sandbox.test"
    full = f"selftest-piena-{tag}@pec.sandbox.test"
    limited = f"selftest-limiti-{tag}@pec.sandbox.test"
    outside = "fuori@esterno.example"  # not a PEC box: acceptance only, cheap
    for box in (sender, rcpt, slow, limited):
        sb.add_account(box)
    sb.add_account(full, quota_bytes=1)
    saved_preavviso = sb.provider.preavviso_after
    saved_give_up = sb.provider.mancata_consegna_after
    saved_size = sb.provider.max_total_bytes
    saved_pa = sb.sdi.pa_outcome
    sb.set_preavviso_after(PREAVVISO, then_fail_after=GIVE_UP)
    sb.stall(slow)
    replies: dict[str, tuple[int, str] | None] = {}
    dropped = False
    block_then_ok = False

    def msg(subject: str, to: list[str], **kw: object) -> bytes:
        return compose(sender=sender, to=to, subject=subject, text="selftest", **kw)  # type: ignore[arg-type]

    def limited_msg(subject: str) -> bytes:
        return compose(sender=limited, to=[outside], subject=subject, text="selftest")

    def to_sdi(name: str, data: bytes) -> None:
        _send(sb, sender, [SDI_FIRST], msg(name, [SDI_FIRST], attachments=[
            (name, data, "application/xml")]), starttls=False)

    try:
        # The stalled delivery first, so its timers run while the rest is sent.
        _send(sb, sender, [slow], msg("lento", [slow]), starttls=False)
        _send(sb, sender, [rcpt], msg("completa", [rcpt]), starttls=False)
        _send(sb, sender, [rcpt], msg("breve", [rcpt],
                                      extra_headers=[("X-TipoRicevuta", "breve")]),
              starttls=True)
        _send(sb, sender, [rcpt], msg("sintetica", [rcpt],
                                      extra_headers=[("X-TipoRicevuta", "sintetica")]),
              starttls=False)
        _send(sb, sender, [rcpt, "nascosto@pec.sandbox.test"], msg("bcc", [rcpt]),
              starttls=False)
        _send(sb, sender, [rcpt], msg("virus", [rcpt], attachments=[
            ("eicar.com", EICAR, "application/octet-stream")]), starttls=False)
        missing = f"inesistente-{tag}@pec.sandbox.test"
        _send(sb, sender, [missing], msg("ignoto", [missing]), starttls=False)
        _send(sb, sender, [full], msg("piena", [full]), starttls=False)
        big = msg("grande", [rcpt], attachments=[("dati.bin", b"0" * 4096,
                                                   "application/octet-stream")])
        sb.set_size_limit(len(big) - 1)
        _send(sb, sender, [rcpt], big, starttls=False)
        sb.set_size_limit(saved_size)
        dropped = _dropped(sb, sender, [rcpt], msg("interrotta", [rcpt]))
        with smtplib.SMTP(sb.host, sb.smtp_inbound_port, timeout=30) as client:
            plain = compose(sender="mario@esterno.example", to=[rcpt], subject="ordinaria",
                            text="posta ordinaria")
            client.sendmail("mario@esterno.example", [rcpt], plain)
        for style in ("451", "550"):
            sb.set_throttle(limited, messages_per_minute=1, burst=1, style=style)
            _send(sb, limited, [outside], limited_msg(f"limite {style} 1"), starttls=False)
            replies[style] = _smtp_refusal(sb, limited, [outside],
                                           limited_msg(f"limite {style} 2"))
        sb.set_throttle(limited, None)

        base = int(tag, 16) % 89000 + 10000
        progressivi = (f"{base + i:05d}" for i in range(10))
        name, doc = supplier_invoice(supplier=SUPPLIERS[1], customer=OTHER_CUSTOMER,
                                     progressivo=next(progressivi), pec_destinatario=rcpt)
        good = write_invoice(doc)
        to_sdi(name, good)
        to_sdi(name.replace(".xml", "B.xml"), good)  # progressivo of 6 chars: 00001
        # Nobody to deliver to (codice 0000000, no PEC, customer not in the directory): MC.
        name, doc = supplier_invoice(supplier=SUPPLIERS[0], customer=OTHER_CUSTOMER,
                                     progressivo=next(progressivi))
        to_sdi(name, write_invoice(doc))
        # FPA12 (signed, to a PA office): RC, then the configured NE EC01 / NE EC02 / DT.
        key, cert = sb.invoice_signer()
        for outcome in ("EC01", "EC02", "DT"):
            sb.wait_idle(20)  # SdI reads pa_outcome when it answers
            sb.sdi.pa_outcome = outcome
            name, doc = supplier_invoice(supplier=SUPPLIERS[2], customer=OTHER_CUSTOMER,
                                         progressivo=next(progressivi), format="FPA12",
                                         codice_destinatario="UFABCD", pec_destinatario=rcpt)
            to_sdi(name + ".p7m", sign_p7m(write_invoice(doc), key, cert))
        sb.wait_idle(20)
        sb.sdi.pa_outcome = saved_pa

        # Last SMTP step: the block holds the whole client (127.0.0.1) for BLOCK seconds.
        sb.set_throttle(limited, messages_per_minute=1, burst=1, style="block",
                        block_seconds=BLOCK)
        _send(sb, limited, [outside], limited_msg("blocco 1"), starttls=False)
        replies["block"] = _smtp_refusal(sb, limited, [outside], limited_msg("blocco 2"))
        replies["block (altro account)"] = _smtp_refusal(
            sb, sender, [outside], msg("blocco 3", [outside]))
        sb.set_throttle(limited, None)

        mine = _wait(sb, sender, lambda ms: any(
            m.kind == "errore-consegna" and "4.4.7" in (m.error_detail or "") for m in ms))
        theirs = _read(sb, rcpt)
        if _wait_unblocked(sb, BLOCK + 5):
            block_then_ok = _smtp_refusal(sb, limited, [outside],
                                          limited_msg("dopo il blocco")) is None
    finally:
        sb.set_preavviso_after(saved_preavviso, then_fail_after=saved_give_up)
        sb.set_size_limit(saved_size)
        sb.sdi.pa_outcome = saved_pa
        sb.set_throttle(limited, None)
        sb.provider.drop_next_data = False
        _wait_unblocked(sb, BLOCK + 5)
        sb.release(slow)

    checks: list[Check] = []

    def expect(name: str, msgs: list, pred: Callable[[object], bool]) -> None:
        found = [m for m in msgs if pred(m)]
        if not found:
            checks.append(Check(name, False, "not received"))
            return
        sig = found[0].signature
        if not (sig.present and sig.intact and sig.trusted):
            checks.append(Check(name, False, f"signature not verified: {sig.reason}"))
            return
        checks.append(Check(name, True, found[0].subject or ""))

    def refused(name: str, reply: tuple[int, str] | None, code: int, text: str) -> None:
        if reply is None:
            checks.append(Check(name, False, "the message was accepted"))
        elif reply[0] != code or text not in reply[1]:
            checks.append(Check(name, False, f"expected {code} '{text}', got "
                                             f"{reply[0]} {reply[1]}"))
        else:
            checks.append(Check(name, True, f"{reply[0]} {reply[1]}"))

    def subj(m: object, text: str) -> bool:
        return text in (getattr(m, "subject", "") or "")

    def sdi(m: object, kind: str, esito: str | None = None) -> bool:
        payload = getattr(m, "sdi", None)
        if payload is None or payload.kind != kind:
            return False
        return esito is None or getattr(payload.notification, "esito", None) == esito

    expect("accettazione", mine, lambda m: m.kind == "accettazione")
    expect("avvenuta-consegna completa", mine, lambda m: m.kind == "avvenuta-consegna"
           and m.receipt_type == "completa" and m.original is not None)
    expect("avvenuta-consegna breve", mine, lambda m: m.kind == "avvenuta-consegna"
           and m.receipt_type == "breve")
    expect("avvenuta-consegna sintetica", mine, lambda m: m.kind == "avvenuta-consegna"
           and m.receipt_type == "sintetica" and m.original is None)
    expect("non-accettazione (Bcc)", mine, lambda m: m.kind == "non-accettazione"
           and subj(m, "bcc"))
    expect("non-accettazione (virus)", mine, lambda m: m.kind == "non-accettazione"
           and subj(m, "virus"))
    expect("non-accettazione (message too large)", mine, lambda m: m.kind == "non-accettazione"
           and subj(m, "grande"))
    expect("errore-consegna (no such mailbox)", mine,
           lambda m: m.kind == "errore-consegna" and subj(m, "ignoto"))
    expect("errore-consegna (mailbox full)", mine,
           lambda m: m.kind == "errore-consegna" and subj(m, "piena"))
    expect("preavviso-errore-consegna", mine, lambda m: m.kind == "preavviso-errore-consegna")
    expect("errore-consegna (delivery timed out, 4.4.7)", mine,
           lambda m: m.kind == "errore-consegna" and subj(m, "lento")
           and "4.4.7" in (m.error_detail or ""))
    expect("posta-certificata (transport envelope)", theirs,
           lambda m: m.kind == "posta-certificata" and subj(m, "completa"))
    expect("anomalia (ordinary mail)", theirs, lambda m: m.kind == "anomalia")
    expect("SdI: invoice delivered to the recipient", theirs, lambda m: sdi(m, "invoice"))
    expect("SdI: RicevutaConsegna (RC)", mine, lambda m: sdi(m, "RC"))
    expect("SdI: RicevutaScarto (NS 00001)", mine, lambda m: sdi(m, "NS")
           and any(e.code == "00001" for e in m.sdi.errors))
    expect("SdI: RicevutaImpossibilitaRecapito (MC)", mine, lambda m: sdi(m, "MC"))
    expect("SdI: NotificaEsito EC01 (NE)", mine, lambda m: sdi(m, "NE", "EC01"))
    expect("SdI: NotificaEsito EC02 (NE)", mine, lambda m: sdi(m, "NE", "EC02"))
    expect("SdI: NotificaDecorrenzaTermini (DT)", mine, lambda m: sdi(m, "DT"))
    refused("throttling 451 4.7.1", replies.get("451"), 451, "4.7.1")
    refused("throttling 550 (Too much traffic)", replies.get("550"), 550,
            "Too much traffic from this sender")
    refused("throttling: temporary block (421)", replies.get("block"), 421, "bloccato")
    refused("temporary block: applies to the whole client", replies.get("block (altro account)"),
            421, "bloccato")
    checks.append(Check("temporary block: over, accepted again", block_then_ok,
                        "" if block_then_ok else f"still refused {BLOCK} s after the block"))
    lost = [m for m in mine if subj(m, "interrotta")]
    checks.append(Check(
        "connection dropped in the middle of DATA (once, nothing accepted)",
        dropped and not lost,
        "" if dropped and not lost else
        ("the connection was not dropped" if not dropped else "the message was accepted")))
    return checks
