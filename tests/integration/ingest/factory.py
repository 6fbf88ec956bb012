"""Realistic PEC box traffic for the ingestion tests and the sync benchmark.

Everything is built the way a provider builds it (`wpec_invoicing.pec.builder`, signed with a
test provider certificate issued by a test CA): SdI invoices in transport envelopes with their
`_MT_` metadata, SdI notifications, provider receipts, anomalies, ordinary mail.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import make_msgid

from wpec_invoicing.cms.certs import cert_to_pem, issue_certificate, make_ca
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import CUSTOMER, SUPPLIER, sample_invoice
from wpec_invoicing.pec import builder
from wpec_invoicing.pec.kinds import Kind
from wpec_invoicing.sdi.messages import SdiNotification, build_notification

COMPANY_VAT = f"{CUSTOMER.vat.country}{CUSTOMER.vat.code}"
SUPPLIER_VAT = f"{SUPPLIER.vat.country}{SUPPLIER.vat.code}"
COMPANY_ADDRESS = "azienda@pec.sandbox.test"

_ca_cache: dict[str, object] = {}


def _provider() -> tuple[builder.Provider, bytes]:
    if "provider" not in _ca_cache:
        ca_key, ca_cert = make_ca("Test PEC Root CA", organization="Test")
        key, cert = issue_certificate(ca_key, ca_cert, "Test PEC Provider",
                                      email="posta-certificata@pec.sandbox.test")
        _ca_cache["provider"] = builder.Provider(
            domain="pec.sandbox.test", gestore="Test PEC S.p.A.",
            signer=builder.Signer(key, cert))
        _ca_cache["ca_pem"] = cert_to_pem(ca_cert)
    return _ca_cache["provider"], _ca_cache["ca_pem"]  # type: ignore[return-value]


class Factory:
    """Builds messages; `ca_pem` is the trust store that makes their signatures trusted."""

    def __init__(self) -> None:
        self.provider, self.ca_pem = _provider()
        self._n = itertools.count(1)

    # -- plain building blocks -------------------------------------------------------------
    def original(self, *, sender: str = "fornitore@pec.example.it", to: str = COMPANY_ADDRESS,
                 subject: str = "Documenti", body: str = "In allegato.",
                 attachments: list[tuple[str, str, bytes]] = ()) -> bytes:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
        msg["Message-ID"] = make_msgid(domain="client.example")
        msg.set_content(body)
        for name, ctype, data in attachments:
            maintype, _, subtype = ctype.partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        return bytes(msg).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    def plain(self, subject: str = "Newsletter", **kw) -> bytes:
        return self.original(subject=subject, sender="news@example.com", **kw)

    def certified(self, **kw) -> bytes:
        """A certified message for us (transport envelope)."""
        return builder.transport_envelope(self.original(**kw), provider=self.provider)

    def anomaly(self, **kw) -> bytes:
        return builder.anomaly_envelope(self.original(**kw), provider=self.provider)

    def receipt(self, kind: Kind = Kind.AVVENUTA_CONSEGNA) -> bytes:
        n = next(self._n)
        original = self.original(sender=COMPANY_ADDRESS, to=f"cliente{n}@pec.example.it",
                                 subject=f"IT{COMPANY_VAT[2:]}_{n:05d}.xml")
        ident = builder.new_identificativo(self.provider.domain)
        kwargs = {}
        if kind in (Kind.AVVENUTA_CONSEGNA, Kind.ERRORE_CONSEGNA,
                    Kind.PREAVVISO_ERRORE_CONSEGNA):
            kwargs["consegna"] = f"cliente{n}@pec.example.it"
        return builder.receipt(kind, original, provider=self.provider, identificativo=ident,
                               **kwargs)

    # -- SdI -------------------------------------------------------------------------------
    def invoice_xml(self, number: str | None = None, *, customer=CUSTOMER, supplier=SUPPLIER,
                    on: date = date(2026, 1, 15), lines: int = 1) -> bytes:
        n = next(self._n)
        doc = sample_invoice(progressivo=f"{n % 99999:05d}", customer=customer,
                             supplier=supplier, on=on, lines=lines)
        doc = dataclasses.replace(doc, bodies=tuple(
            dataclasses.replace(b, number=number or f"F{n}") for b in doc.bodies))
        return write_invoice(doc)

    def sdi_invoice(self, xml: bytes | None = None, *, ident: str | None = None,
                    file_name: str | None = None, sdi: str = "sdi27@pec.fatturapa.it") -> bytes:
        """An incoming supplier invoice: SdI's transport envelope with the file and its MT."""
        n = next(self._n)
        xml = xml if xml is not None else self.invoice_xml()
        ident = ident or str(700000000 + n)
        file_name = file_name or f"{SUPPLIER_VAT}_{n % 99999:05d}.xml"
        stem = file_name.split(".")[0]
        meta_name = f"{stem}_MT_001.xml"
        meta = build_notification(SdiNotification(
            kind="MT", family="b2b", identificativo_sdi=ident, nome_file=file_name,
            codice_destinatario="0000000", formato="FPR12", tentativi_invio=1,
            message_id=str(900000 + n)))
        original = self.original(
            sender=sdi, subject=f"Invio File {ident}", body="Fattura elettronica",
            attachments=[(file_name, "application/xml", xml),
                         (meta_name, "application/xml", meta)])
        return builder.transport_envelope(original, provider=self.provider)

    def sdi_notification(self, kind: str = "RC", *, ident: str = "123456",
                         file_name: str = f"IT{COMPANY_VAT[2:]}_00001.xml") -> bytes:
        stem = file_name.split(".")[0]
        data = build_notification(SdiNotification(
            kind=kind, family="b2b", identificativo_sdi=ident, nome_file=file_name,
            data_ora_ricezione=datetime(2026, 1, 16, 9, 0, tzinfo=UTC),
            data_ora_consegna=datetime(2026, 1, 16, 9, 5, tzinfo=UTC) if kind == "RC" else None,
            message_id="42"))
        original = self.original(
            sender="sdi27@pec.fatturapa.it", subject=f"Ricevuta di consegna {ident}",
            attachments=[(f"{stem}_{kind}_001.xml", "application/xml", data)])
        return builder.transport_envelope(original, provider=self.provider)

    def mixed(self, count: int) -> list[bytes]:
        """`count` messages of every kind, in a fixed rotation."""
        makers = [
            lambda: self.sdi_invoice(),
            lambda: self.receipt(Kind.ACCETTAZIONE),
            lambda: self.receipt(Kind.AVVENUTA_CONSEGNA),
            lambda: self.sdi_notification("RC", ident=str(next(self._n))),
            lambda: self.anomaly(subject=f"Ciao {next(self._n)}"),
            lambda: self.certified(subject=f"Contratto {next(self._n)}",
                                   attachments=[("contratto.pdf", "application/pdf",
                                                 b"%PDF-1.4\n%test\n")]),
            lambda: self.plain(subject=f"News {next(self._n)}"),
        ]
        return [makers[i % len(makers)]() for i in range(count)]
