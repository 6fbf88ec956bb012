"""XML tree → normalized model, tolerant of what the XSD would refuse.

Navigation is by local name (so a vendor prefixing every element still reads), values are
stripped of surrounding blanks, and a value that cannot be converted (a date that is not a
date, an amount that is not a number) becomes None with a warning instead of an exception:
an importer must get everything that *is* there. Strictness is the validator's job.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from wpec_invoicing.fatturapa.model import (
    LINKED_KINDS,
    Address,
    ArticleCode,
    Attachment,
    Body,
    Discount,
    InvoiceDocument,
    Line,
    LinkedDocument,
    Party,
    Payment,
    PaymentDetail,
    PensionFund,
    StampDuty,
    Transmission,
    VatId,
    VatSummary,
    Withholding,
)

_El = etree._Element


class _Ctx:
    """Collects conversion warnings while extracting."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, el: _El | None, what: str) -> None:
        line = f" (line {el.sourceline})" if el is not None and el.sourceline else ""
        self.warnings.append(f"{what}{line}")


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None  # comments, processing instructions
    return tag.rpartition("}")[2]


def _kids(el: _El | None, name: str) -> list[_El]:
    if el is None:
        return []
    return [c for c in el if _local(c.tag) == name]


def _kid(el: _El | None, name: str) -> _El | None:
    if el is None:
        return None
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: _El | None, name: str | None = None) -> str | None:
    node = _kid(el, name) if name is not None else el
    if node is None:
        return None
    text = "".join(node.itertext()) if len(node) else (node.text or "")
    text = text.strip()
    return text if text else None


def _req(el: _El | None, name: str) -> str:
    return _text(el, name) or ""


def _dec(ctx: _Ctx, el: _El | None, name: str) -> Decimal | None:
    node = _kid(el, name)
    raw = _text(node)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        ctx.warn(node, f"{name} is not a number: {raw!r}")
        return None
    if not value.is_finite():
        ctx.warn(node, f"{name} is not a finite number: {raw!r}")
        return None
    return value


def _date(ctx: _Ctx, el: _El | None, name: str) -> date | None:
    node = _kid(el, name)
    raw = _text(node)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        ctx.warn(node, f"{name} is not a date: {raw!r}")
        return None


def _int(ctx: _Ctx, el: _El | None, name: str) -> int | None:
    node = _kid(el, name)
    raw = _text(node)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        ctx.warn(node, f"{name} is not an integer: {raw!r}")
        return None


def _vat(el: _El | None) -> VatId | None:
    if el is None:
        return None
    return VatId(_req(el, "IdPaese").upper(), _req(el, "IdCodice"))


def _address(el: _El | None) -> Address | None:
    if el is None:
        return None
    return Address(
        street=_req(el, "Indirizzo"),
        postal_code=_req(el, "CAP"),
        city=_req(el, "Comune"),
        country=_req(el, "Nazione"),
        number=_text(el, "NumeroCivico"),
        province=_text(el, "Provincia"),
    )


def _names(el: _El | None) -> dict:
    return {
        "company_name": _text(el, "Denominazione"),
        "first_name": _text(el, "Nome"),
        "last_name": _text(el, "Cognome"),
    }


def _discounts(ctx: _Ctx, el: _El) -> tuple[Discount, ...]:
    return tuple(
        Discount(
            kind=_req(d, "Tipo"),
            percentage=_dec(ctx, d, "Percentuale"),
            amount=_dec(ctx, d, "Importo"),
        )
        for d in _kids(el, "ScontoMaggiorazione")
    )


def _si(el: _El | None, name: str) -> bool:
    return (_text(el, name) or "").upper() == "SI"


def _attachments(ctx: _Ctx, body: _El) -> tuple[Attachment, ...]:
    out = []
    for a in _kids(body, "Allegati"):
        raw = _text(a, "Attachment") or ""
        try:
            data = base64.b64decode("".join(raw.split()), validate=False)
        except (binascii.Error, ValueError):
            ctx.warn(a, f"attachment {_text(a, 'NomeAttachment')!r} is not valid base64")
            data = b""
        out.append(
            Attachment(
                name=_req(a, "NomeAttachment"),
                data=data,
                compression=_text(a, "AlgoritmoCompressione"),
                format=_text(a, "FormatoAttachment"),
                description=_text(a, "DescrizioneAttachment"),
            )
        )
    return tuple(out)


def _transmission(header: _El | None) -> Transmission:
    dt = _kid(header, "DatiTrasmissione")
    return Transmission(
        sender=_vat(_kid(dt, "IdTrasmittente")) or VatId("", ""),
        progressivo=_req(dt, "ProgressivoInvio"),
        codice_destinatario=_req(dt, "CodiceDestinatario"),
        formato=_req(dt, "FormatoTrasmissione"),
        pec_destinatario=_text(dt, "PECDestinatario"),
    )


# --- FPA12 / FPR12 ---


def _linked(ctx: _Ctx, dg: _El | None) -> tuple[LinkedDocument, ...]:
    out = []
    for kind in LINKED_KINDS:
        for el in _kids(dg, kind):
            out.append(
                LinkedDocument(
                    kind=kind,
                    id=_req(el, "IdDocumento"),
                    date=_date(ctx, el, "Data"),
                    line_numbers=tuple(
                        int(t)
                        for t in (_text(n) for n in _kids(el, "RiferimentoNumeroLinea"))
                        if t and t.isdigit()
                    ),
                    num_item=_text(el, "NumItem"),
                    codice_commessa=_text(el, "CodiceCommessaConvenzione"),
                    cup=_text(el, "CodiceCUP"),
                    cig=_text(el, "CodiceCIG"),
                )
            )
    return tuple(out)


def _line(ctx: _Ctx, el: _El) -> Line:
    return Line(
        number=_int(ctx, el, "NumeroLinea") or 0,
        description=_req(el, "Descrizione"),
        total_price=_dec(ctx, el, "PrezzoTotale"),
        vat_rate=_dec(ctx, el, "AliquotaIVA"),
        unit_price=_dec(ctx, el, "PrezzoUnitario"),
        quantity=_dec(ctx, el, "Quantita"),
        unit=_text(el, "UnitaMisura"),
        natura=_text(el, "Natura"),
        withholding=_si(el, "Ritenuta"),
        discounts=_discounts(ctx, el),
        codes=tuple(
            ArticleCode(_req(c, "CodiceTipo"), _req(c, "CodiceValore"))
            for c in _kids(el, "CodiceArticolo")
        ),
        period_start=_date(ctx, el, "DataInizioPeriodo"),
        period_end=_date(ctx, el, "DataFinePeriodo"),
    )


def _body_ordinaria(ctx: _Ctx, body: _El) -> Body:
    dg = _kid(body, "DatiGenerali")
    dgd = _kid(dg, "DatiGeneraliDocumento")
    dbs = _kid(body, "DatiBeniServizi")
    bollo = _kid(dgd, "DatiBollo")
    return Body(
        document_type=_req(dgd, "TipoDocumento"),
        currency=_req(dgd, "Divisa"),
        date=_date(ctx, dgd, "Data"),
        number=_req(dgd, "Numero"),
        lines=tuple(_line(ctx, ln) for ln in _kids(dbs, "DettaglioLinee")),
        vat_summary=tuple(
            VatSummary(
                rate=_dec(ctx, s, "AliquotaIVA"),
                taxable=_dec(ctx, s, "ImponibileImporto"),
                tax=_dec(ctx, s, "Imposta"),
                natura=_text(s, "Natura"),
                esigibilita=_text(s, "EsigibilitaIVA"),
                legal_reference=_text(s, "RiferimentoNormativo"),
                expenses=_dec(ctx, s, "SpeseAccessorie"),
                rounding=_dec(ctx, s, "Arrotondamento"),
            )
            for s in _kids(dbs, "DatiRiepilogo")
        ),
        total=_dec(ctx, dgd, "ImportoTotaleDocumento"),
        rounding=_dec(ctx, dgd, "Arrotondamento"),
        causale=tuple(t for t in (_text(c) for c in _kids(dgd, "Causale")) if t),
        withholdings=tuple(
            Withholding(
                kind=_req(w, "TipoRitenuta"),
                amount=_dec(ctx, w, "ImportoRitenuta"),
                rate=_dec(ctx, w, "AliquotaRitenuta"),
                causale_pagamento=_req(w, "CausalePagamento"),
            )
            for w in _kids(dgd, "DatiRitenuta")
        ),
        pension_funds=tuple(
            PensionFund(
                kind=_req(c, "TipoCassa"),
                rate=_dec(ctx, c, "AlCassa"),
                amount=_dec(ctx, c, "ImportoContributoCassa"),
                vat_rate=_dec(ctx, c, "AliquotaIVA"),
                taxable=_dec(ctx, c, "ImponibileCassa"),
                withholding=_si(c, "Ritenuta"),
                natura=_text(c, "Natura"),
            )
            for c in _kids(dgd, "DatiCassaPrevidenziale")
        ),
        stamp_duty=StampDuty(_dec(ctx, bollo, "ImportoBollo")) if bollo is not None else None,
        discounts=_discounts(ctx, dgd) if dgd is not None else (),
        payments=tuple(
            Payment(
                conditions=_req(p, "CondizioniPagamento"),
                details=tuple(
                    PaymentDetail(
                        method=_req(d, "ModalitaPagamento"),
                        amount=_dec(ctx, d, "ImportoPagamento"),
                        due_date=_date(ctx, d, "DataScadenzaPagamento"),
                        iban=_text(d, "IBAN"),
                        bic=_text(d, "BIC"),
                        bank_name=_text(d, "IstitutoFinanziario"),
                        beneficiary=_text(d, "Beneficiario"),
                        term_days=_int(ctx, d, "GiorniTerminiPagamento"),
                    )
                    for d in _kids(p, "DettaglioPagamento")
                ),
            )
            for p in _kids(body, "DatiPagamento")
        ),
        linked_documents=_linked(ctx, dg),
        attachments=_attachments(ctx, body),
    )


def _ordinaria(ctx: _Ctx, root: _El) -> InvoiceDocument:
    header = _kid(root, "FatturaElettronicaHeader")
    cp = _kid(header, "CedentePrestatore")
    cp_da = _kid(cp, "DatiAnagrafici")
    cc = _kid(header, "CessionarioCommittente")
    cc_da = _kid(cc, "DatiAnagrafici")
    supplier = Party(
        vat=_vat(_kid(cp_da, "IdFiscaleIVA")),
        fiscal_code=_text(cp_da, "CodiceFiscale"),
        address=_address(_kid(cp, "Sede")),
        regime_fiscale=_text(cp_da, "RegimeFiscale"),
        **_names(_kid(cp_da, "Anagrafica")),
    )
    customer = Party(
        vat=_vat(_kid(cc_da, "IdFiscaleIVA")),
        fiscal_code=_text(cc_da, "CodiceFiscale"),
        address=_address(_kid(cc, "Sede")),
        **_names(_kid(cc_da, "Anagrafica")),
    )
    return InvoiceDocument(
        format=(root.get("versione") or "").strip(),
        transmission=_transmission(header),
        supplier=supplier,
        customer=customer,
        bodies=tuple(_body_ordinaria(ctx, b) for b in _kids(root, "FatturaElettronicaBody")),
    )


# --- FSM10 ---


def _body_semplificata(ctx: _Ctx, body: _El) -> Body:
    dg = _kid(body, "DatiGenerali")
    dgd = _kid(dg, "DatiGeneraliDocumento")
    linked = []
    for fr in _kids(dg, "DatiFatturaRettificata"):
        linked.append(
            LinkedDocument(
                kind="DatiFatturaRettificata",
                id=_req(fr, "NumeroFR"),
                date=_date(ctx, fr, "DataFR"),
                description=_text(fr, "ElementiRettificati"),
            )
        )
    lines = []
    for i, el in enumerate(_kids(body, "DatiBeniServizi"), start=1):
        iva = _kid(el, "DatiIVA")
        lines.append(
            Line(
                number=i,
                description=_req(el, "Descrizione"),
                total_price=_dec(ctx, el, "Importo"),
                vat_rate=_dec(ctx, iva, "Aliquota"),
                vat_amount=_dec(ctx, iva, "Imposta"),
                natura=_text(el, "Natura"),
                legal_reference=_text(el, "RiferimentoNormativo"),
            )
        )
    return Body(
        document_type=_req(dgd, "TipoDocumento"),
        currency=_req(dgd, "Divisa"),
        date=_date(ctx, dgd, "Data"),
        number=_req(dgd, "Numero"),
        lines=tuple(lines),
        stamp_duty=StampDuty() if _si(dgd, "BolloVirtuale") else None,
        linked_documents=tuple(linked),
        attachments=_attachments(ctx, body),
    )


def _semplificata(ctx: _Ctx, root: _El) -> InvoiceDocument:
    header = _kid(root, "FatturaElettronicaHeader")
    cp = _kid(header, "CedentePrestatore")
    cc = _kid(header, "CessionarioCommittente")
    ids = _kid(cc, "IdentificativiFiscali")
    other = _kid(cc, "AltriDatiIdentificativi")
    supplier = Party(
        vat=_vat(_kid(cp, "IdFiscaleIVA")),
        fiscal_code=_text(cp, "CodiceFiscale"),
        address=_address(_kid(cp, "Sede")),
        regime_fiscale=_text(cp, "RegimeFiscale"),
        **_names(cp),
    )
    customer = Party(
        vat=_vat(_kid(ids, "IdFiscaleIVA")),
        fiscal_code=_text(ids, "CodiceFiscale"),
        address=_address(_kid(other, "Sede")),
        **_names(other),
    )
    return InvoiceDocument(
        format=(root.get("versione") or "").strip(),
        transmission=_transmission(header),
        supplier=supplier,
        customer=customer,
        bodies=tuple(
            _body_semplificata(ctx, b) for b in _kids(root, "FatturaElettronicaBody")
        ),
    )


ROOTS = ("FatturaElettronica", "FatturaElettronicaSemplificata")


def extract(root: _El) -> tuple[InvoiceDocument | None, list[str]]:
    """The model of a FatturaPA root element, plus conversion warnings.

    Returns (None, [reason]) when the root is not a FatturaPA invoice at all.
    """
    ctx = _Ctx()
    name = _local(root.tag)
    if name == "FatturaElettronicaSemplificata":
        return _semplificata(ctx, root), ctx.warnings
    if name == "FatturaElettronica":
        return _ordinaria(ctx, root), ctx.warnings
    return None, [f"the root element is {name!r}, not a FatturaPA invoice"]
