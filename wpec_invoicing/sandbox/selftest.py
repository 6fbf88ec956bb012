"""`wpec sandbox selftest`: drive a sandbox like any client would and check every outcome.

Sends with plain `smtplib`, reads with `imapclient`, classifies with the PEC engine (signatures
verified against the sandbox CA), and reports one line per expected outcome: every receipt
kind of the provider and the SdI answers (RC, NS). Usable from tests on a running Sandbox.
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


def run_selftest(sb: Sandbox) -> list[Check]:
    """Exercise `sb` (running) and return one Check per expected outcome."""
    from wpec_invoicing.fatturapa import write_invoice
    from wpec_invoicing.pec.builder import compose
    from wpec_invoicing.sandbox.invoices import OTHER_CUSTOMER, SUPPLIERS, supplier_invoice

    tag = uuid.uuid4().hex[:6]
    sender = f"selftest-{tag}@pec.sandbox.test"
    rcpt = f"selftest-dest-{tag}@pec.sandbox.test"
    slow = f"selftest-lento-{tag}@pec.sandbox.test"
    full = f"selftest-piena-{tag}@pec.sandbox.test"
    for box in (sender, rcpt, slow):
        sb.add_account(box)
    sb.add_account(full, quota_bytes=1)
    saved_preavviso = sb.provider.preavviso_after
    saved_size = sb.provider.max_total_bytes
    sb.set_preavviso_after(0.3)
    sb.stall(slow)

    def msg(subject: str, to: list[str], **kw: object) -> bytes:
        return compose(sender=sender, to=to, subject=subject, text="selftest", **kw)  # type: ignore[arg-type]

    try:
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
        _send(sb, sender, [slow], msg("lento", [slow]), starttls=False)
        _send(sb, sender, [full], msg("piena", [full]), starttls=False)
        big = msg("grande", [rcpt], attachments=[("dati.bin", b"0" * 4096,
                                                   "application/octet-stream")])
        sb.set_size_limit(len(big) - 1)
        _send(sb, sender, [rcpt], big, starttls=False)
        sb.set_size_limit(saved_size)
        with smtplib.SMTP(sb.host, sb.smtp_inbound_port, timeout=30) as client:
            plain = compose(sender="mario@esterno.example", to=[rcpt], subject="ordinaria",
                            text="posta ordinaria")
            client.sendmail("mario@esterno.example", [rcpt], plain)
        progressivo = f"{int(tag, 16) % 90000 + 10000:05d}"
        name, doc = supplier_invoice(supplier=SUPPLIERS[1], customer=OTHER_CUSTOMER,
                                     progressivo=progressivo, pec_destinatario=rcpt)
        good = write_invoice(doc)
        _send(sb, sender, [SDI_FIRST], msg(name, [SDI_FIRST], attachments=[
            (name, good, "application/xml")]), starttls=False)
        bad_name = name.replace(".xml", "B.xml")  # progressivo of 6 chars: 00001
        _send(sb, sender, [SDI_FIRST], msg(bad_name, [SDI_FIRST], attachments=[
            (bad_name, good, "application/xml")]), starttls=False)
        sb.wait_idle(20)
        mine = _wait(sb, sender, lambda ms: sum(
            1 for m in ms if m.sdi is not None) >= 2 and any(
            m.kind == "preavviso-errore-consegna" for m in ms))
        theirs = _read(sb, rcpt)
    finally:
        sb.set_preavviso_after(saved_preavviso)
        sb.set_size_limit(saved_size)
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

    def subj(m: object, text: str) -> bool:
        return text in (getattr(m, "subject", "") or "")

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
    expect("non-accettazione (dimensione)", mine, lambda m: m.kind == "non-accettazione"
           and subj(m, "grande"))
    expect("errore-consegna (casella inesistente)", mine,
           lambda m: m.kind == "errore-consegna" and subj(m, "ignoto"))
    expect("errore-consegna (casella piena)", mine,
           lambda m: m.kind == "errore-consegna" and subj(m, "piena"))
    expect("preavviso-errore-consegna", mine, lambda m: m.kind == "preavviso-errore-consegna")
    expect("posta-certificata (busta di trasporto)", theirs,
           lambda m: m.kind == "posta-certificata" and subj(m, "completa"))
    expect("anomalia (posta ordinaria)", theirs, lambda m: m.kind == "anomalia")
    expect("SdI: fattura recapitata al destinatario", theirs,
           lambda m: m.sdi is not None and m.sdi.kind == "invoice")
    expect("SdI: RicevutaConsegna (RC)", mine, lambda m: m.sdi is not None
           and m.sdi.kind == "RC")
    expect("SdI: RicevutaScarto (NS 00001)", mine, lambda m: m.sdi is not None
           and m.sdi.kind == "NS" and any(e.code == "00001" for e in m.sdi.errors))
    return checks
