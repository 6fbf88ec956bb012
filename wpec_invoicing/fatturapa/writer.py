"""Model → FatturaPA XML (FPA12/FPR12 schema 1.2.3, FSM10 schema 1.0.2).

The writer serializes exactly what the model says, in the XSD's element order; it does not
"fix" the document (tests build deliberately wrong invoices with it). One exception: text
outside Latin-1 (typographic quotes, the euro sign, control characters), which no FatturaPA
string type accepts, is spelled in Latin-1 (`latin_text`) instead of making the file invalid.
`summarize_vat` and `line_total` help callers build a consistent document (DatiRiepilogo
computed from the lines the way SdI recomputes it), so that a written invoice passes the
XSD and the SdI checks.
"""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from wpec_invoicing.fatturapa.model import (
    NAMESPACE_ORDINARIA,
    NAMESPACE_SEMPLIFICATA,
    Address,
    Body,
    Discount,
    InvoiceDocument,
    Line,
    LinkedDocument,
    Party,
    PensionFund,
    VatId,
    VatSummary,
)

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_CENT = Decimal("0.01")


# --- number formatting (the XSD wants fixed decimals: "22.00", "100.00", "1.50000000") ---


def fmt2(value: Decimal) -> str:
    """Amount2DecimalType / RateType: exactly two decimals."""
    return f"{Decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP):f}"


def fmt8(value: Decimal) -> str:
    """Amount8DecimalType / QuantitaType: 2 to 8 decimals, keeping what the value has."""
    value = Decimal(value)
    exponent = value.as_tuple().exponent
    places = 2 if not isinstance(exponent, int) else min(max(-exponent, 2), 8)
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"


# --- helpers for callers building documents ---


def line_total(
    unit_price: Decimal, quantity: Decimal | None = None, discounts: Iterable[Discount] = ()
) -> Decimal:
    """PrezzoTotale as SdI recomputes it (check 00423): price × quantity, then discounts."""
    price = Decimal(unit_price)
    for d in discounts:
        sign = Decimal(-1) if d.kind == "SC" else Decimal(1)
        if d.percentage is not None:
            price += sign * price * d.percentage / 100
        elif d.amount is not None:
            price += sign * d.amount
    total = price * (Decimal(quantity) if quantity is not None else Decimal(1))
    return total.quantize(_CENT, rounding=ROUND_HALF_UP)


def summarize_vat(
    lines: Iterable[Line],
    pension_funds: Iterable[PensionFund] = (),
    *,
    esigibilita: str | None = "I",
    legal_references: dict[str, str] | None = None,
) -> tuple[VatSummary, ...]:
    """DatiRiepilogo from lines and cassa: one entry per (rate, natura), tax rounded to cents.

    Entries with a Natura get no EsigibilitaIVA "S" (check 00420) and a RiferimentoNormativo
    from `legal_references` when given.
    """
    groups: dict[tuple[Decimal, str | None], Decimal] = {}
    for ln in lines:
        key = (Decimal(ln.vat_rate or 0), ln.natura)
        groups[key] = groups.get(key, Decimal(0)) + ln.total_price
    for pf in pension_funds:
        key = (Decimal(pf.vat_rate), pf.natura)
        groups[key] = groups.get(key, Decimal(0)) + pf.amount
    out = []
    refs = legal_references or {}
    for (rate, natura), taxable in groups.items():
        taxable = taxable.quantize(_CENT, rounding=ROUND_HALF_UP)
        tax = (taxable * rate / 100).quantize(_CENT, rounding=ROUND_HALF_UP)
        out.append(
            VatSummary(
                rate=rate,
                taxable=taxable,
                tax=tax,
                natura=natura,
                esigibilita=None if natura else esigibilita,
                legal_reference=refs.get(natura) if natura else None,
            )
        )
    return tuple(out)


# --- the writer ---


# --- text: FatturaPA's free-text types accept Latin-1 only (Basic Latin + Latin-1 Supplement)

_TYPOGRAPHIC = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2015": "-", "\u2212": "-", "\u2022": "-", "\u2026": "...", "\u20ac": "EUR",
    "\u2122": "TM", "\u2009": " ", "\u202f": " ", "\u2007": " ", "\u200b": "",
    "\ufeff": "",
})


def latin_text(text: str) -> str:
    """`text` as FatturaPA can carry it: typographic quotes, dashes, ellipsis and the euro
    sign (what word processors and web forms put in descriptions) become their Latin-1
    spelling ('...', "EUR"); other characters outside Latin-1 lose their accents (NFKD) or
    become "?"; control characters XML cannot hold become a space. Latin-1 text is
    returned unchanged, so such values round-trip exactly."""
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text.translate(_TYPOGRAPHIC):
        code = ord(ch)
        if code < 0x20:
            out.append(ch if ch in "\t\n\r" else " ")
        elif code <= 0xFF:
            out.append(ch)
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if ord(c) <= 0xFF)
            out.append(base or "?")
    return "".join(out)


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text if text.isascii() and text.isprintable() else latin_text(text)
    return el


def _opt(parent: etree._Element, tag: str, value: object, conv=str) -> None:
    if value is not None:
        _sub(parent, tag, conv(value))


def _vat_id(parent: etree._Element, tag: str, vat: VatId) -> None:
    el = _sub(parent, tag)
    _sub(el, "IdPaese", vat.country)
    _sub(el, "IdCodice", vat.code)


def _address(parent: etree._Element, tag: str, a: Address) -> None:
    el = _sub(parent, tag)
    _sub(el, "Indirizzo", a.street)
    _opt(el, "NumeroCivico", a.number)
    _sub(el, "CAP", a.postal_code)
    _sub(el, "Comune", a.city)
    _opt(el, "Provincia", a.province)
    _sub(el, "Nazione", a.country)


def _names(parent: etree._Element, p: Party) -> None:
    if p.company_name is not None:
        _sub(parent, "Denominazione", p.company_name)
    else:
        _sub(parent, "Nome", p.first_name or "")
        _sub(parent, "Cognome", p.last_name or "")


def _anagrafica(parent: etree._Element, p: Party) -> None:
    _names(_sub(parent, "Anagrafica"), p)


def _discounts(parent: etree._Element, discounts: Iterable[Discount]) -> None:
    for d in discounts:
        el = _sub(parent, "ScontoMaggiorazione")
        _sub(el, "Tipo", d.kind)
        _opt(el, "Percentuale", d.percentage, fmt2)
        _opt(el, "Importo", d.amount, fmt8)


def _date(value) -> str:
    return value.isoformat()


def _attachments(parent: etree._Element, body: Body) -> None:
    for a in body.attachments:
        el = _sub(parent, "Allegati")
        _sub(el, "NomeAttachment", a.name)
        _opt(el, "AlgoritmoCompressione", a.compression)
        _opt(el, "FormatoAttachment", a.format)
        _opt(el, "DescrizioneAttachment", a.description)
        _sub(el, "Attachment", base64.b64encode(a.data).decode("ascii"))


def _header_ordinaria(root: etree._Element, doc: InvoiceDocument) -> None:
    header = _sub(root, "FatturaElettronicaHeader")
    t = doc.transmission
    dt = _sub(header, "DatiTrasmissione")
    _vat_id(dt, "IdTrasmittente", t.sender)
    _sub(dt, "ProgressivoInvio", t.progressivo)
    _sub(dt, "FormatoTrasmissione", t.formato)
    _sub(dt, "CodiceDestinatario", t.codice_destinatario)
    _opt(dt, "PECDestinatario", t.pec_destinatario)

    s = doc.supplier
    cp = _sub(header, "CedentePrestatore")
    da = _sub(cp, "DatiAnagrafici")
    if s.vat is not None:
        _vat_id(da, "IdFiscaleIVA", s.vat)
    _opt(da, "CodiceFiscale", s.fiscal_code)
    _anagrafica(da, s)
    _sub(da, "RegimeFiscale", s.regime_fiscale or "RF01")
    if s.address is not None:
        _address(cp, "Sede", s.address)

    c = doc.customer
    cc = _sub(header, "CessionarioCommittente")
    da = _sub(cc, "DatiAnagrafici")
    if c.vat is not None:
        _vat_id(da, "IdFiscaleIVA", c.vat)
    _opt(da, "CodiceFiscale", c.fiscal_code)
    _anagrafica(da, c)
    if c.address is not None:
        _address(cc, "Sede", c.address)


def _linked(parent: etree._Element, ld: LinkedDocument) -> None:
    el = _sub(parent, ld.kind)
    for n in ld.line_numbers:
        _sub(el, "RiferimentoNumeroLinea", str(n))
    _sub(el, "IdDocumento", ld.id)
    _opt(el, "Data", ld.date, _date)
    _opt(el, "NumItem", ld.num_item)
    _opt(el, "CodiceCommessaConvenzione", ld.codice_commessa)
    _opt(el, "CodiceCUP", ld.cup)
    _opt(el, "CodiceCIG", ld.cig)


def _body_ordinaria(root: etree._Element, b: Body) -> None:
    body = _sub(root, "FatturaElettronicaBody")
    dg = _sub(body, "DatiGenerali")
    dgd = _sub(dg, "DatiGeneraliDocumento")
    _sub(dgd, "TipoDocumento", b.document_type)
    _sub(dgd, "Divisa", b.currency)
    _sub(dgd, "Data", _date(b.date))
    _sub(dgd, "Numero", b.number)
    for w in b.withholdings:
        el = _sub(dgd, "DatiRitenuta")
        _sub(el, "TipoRitenuta", w.kind)
        _sub(el, "ImportoRitenuta", fmt2(w.amount))
        _sub(el, "AliquotaRitenuta", fmt2(w.rate))
        _sub(el, "CausalePagamento", w.causale_pagamento)
    if b.stamp_duty is not None:
        el = _sub(dgd, "DatiBollo")
        _sub(el, "BolloVirtuale", "SI")
        _opt(el, "ImportoBollo", b.stamp_duty.amount, fmt2)
    for pf in b.pension_funds:
        el = _sub(dgd, "DatiCassaPrevidenziale")
        _sub(el, "TipoCassa", pf.kind)
        _sub(el, "AlCassa", fmt2(pf.rate))
        _sub(el, "ImportoContributoCassa", fmt2(pf.amount))
        _opt(el, "ImponibileCassa", pf.taxable, fmt2)
        _sub(el, "AliquotaIVA", fmt2(pf.vat_rate))
        if pf.withholding:
            _sub(el, "Ritenuta", "SI")
        _opt(el, "Natura", pf.natura)
    _discounts(dgd, b.discounts)
    _opt(dgd, "ImportoTotaleDocumento", b.total, fmt2)
    _opt(dgd, "Arrotondamento", b.rounding, fmt2)
    for c in b.causale:
        _sub(dgd, "Causale", c)
    for kind in (
        "DatiOrdineAcquisto",
        "DatiContratto",
        "DatiConvenzione",
        "DatiRicezione",
        "DatiFattureCollegate",
    ):
        for ld in b.linked_documents:
            if ld.kind == kind:
                _linked(dg, ld)

    dbs = _sub(body, "DatiBeniServizi")
    for ln in b.lines:
        el = _sub(dbs, "DettaglioLinee")
        _sub(el, "NumeroLinea", str(ln.number))
        for code in ln.codes:
            ca = _sub(el, "CodiceArticolo")
            _sub(ca, "CodiceTipo", code.kind)
            _sub(ca, "CodiceValore", code.value)
        _sub(el, "Descrizione", ln.description)
        _opt(el, "Quantita", ln.quantity, fmt8)
        _opt(el, "UnitaMisura", ln.unit)
        _opt(el, "DataInizioPeriodo", ln.period_start, _date)
        _opt(el, "DataFinePeriodo", ln.period_end, _date)
        _sub(el, "PrezzoUnitario", fmt8(ln.unit_price if ln.unit_price is not None else 0))
        _discounts(el, ln.discounts)
        _sub(el, "PrezzoTotale", fmt8(ln.total_price))
        _sub(el, "AliquotaIVA", fmt2(ln.vat_rate or 0))
        if ln.withholding:
            _sub(el, "Ritenuta", "SI")
        _opt(el, "Natura", ln.natura)
    for s in b.vat_summary:
        el = _sub(dbs, "DatiRiepilogo")
        _sub(el, "AliquotaIVA", fmt2(s.rate))
        _opt(el, "Natura", s.natura)
        _opt(el, "SpeseAccessorie", s.expenses, fmt2)
        _opt(el, "Arrotondamento", s.rounding, fmt8)
        _sub(el, "ImponibileImporto", fmt2(s.taxable))
        _sub(el, "Imposta", fmt2(s.tax))
        _opt(el, "EsigibilitaIVA", s.esigibilita)
        _opt(el, "RiferimentoNormativo", s.legal_reference)

    for p in b.payments:
        dp = _sub(body, "DatiPagamento")
        _sub(dp, "CondizioniPagamento", p.conditions)
        for d in p.details:
            el = _sub(dp, "DettaglioPagamento")
            _opt(el, "Beneficiario", d.beneficiary)
            _sub(el, "ModalitaPagamento", d.method)
            _opt(el, "GiorniTerminiPagamento", d.term_days)
            _opt(el, "DataScadenzaPagamento", d.due_date, _date)
            _sub(el, "ImportoPagamento", fmt2(d.amount))
            _opt(el, "IstitutoFinanziario", d.bank_name)
            _opt(el, "IBAN", d.iban)
            _opt(el, "BIC", d.bic)
    _attachments(body, b)


def _header_semplificata(root: etree._Element, doc: InvoiceDocument) -> None:
    header = _sub(root, "FatturaElettronicaHeader")
    t = doc.transmission
    dt = _sub(header, "DatiTrasmissione")
    _vat_id(dt, "IdTrasmittente", t.sender)
    _sub(dt, "ProgressivoInvio", t.progressivo)
    _sub(dt, "FormatoTrasmissione", t.formato)
    _sub(dt, "CodiceDestinatario", t.codice_destinatario)
    _opt(dt, "PECDestinatario", t.pec_destinatario)

    s = doc.supplier
    cp = _sub(header, "CedentePrestatore")
    if s.vat is not None:
        _vat_id(cp, "IdFiscaleIVA", s.vat)
    _opt(cp, "CodiceFiscale", s.fiscal_code)
    _names(cp, s)
    if s.address is not None:
        _address(cp, "Sede", s.address)
    _sub(cp, "RegimeFiscale", s.regime_fiscale or "RF01")

    c = doc.customer
    cc = _sub(header, "CessionarioCommittente")
    ids = _sub(cc, "IdentificativiFiscali")
    if c.vat is not None:
        _vat_id(ids, "IdFiscaleIVA", c.vat)
    _opt(ids, "CodiceFiscale", c.fiscal_code)
    if c.company_name or c.first_name or c.last_name or c.address:
        other = _sub(cc, "AltriDatiIdentificativi")
        _names(other, c)
        if c.address is not None:
            _address(other, "Sede", c.address)


def _body_semplificata(root: etree._Element, b: Body) -> None:
    body = _sub(root, "FatturaElettronicaBody")
    dg = _sub(body, "DatiGenerali")
    dgd = _sub(dg, "DatiGeneraliDocumento")
    _sub(dgd, "TipoDocumento", b.document_type)
    _sub(dgd, "Divisa", b.currency)
    _sub(dgd, "Data", _date(b.date))
    _sub(dgd, "Numero", b.number)
    if b.stamp_duty is not None:
        _sub(dgd, "BolloVirtuale", "SI")
    for ld in b.linked_documents:
        if ld.kind == "DatiFatturaRettificata":
            el = _sub(dg, "DatiFatturaRettificata")
            _sub(el, "NumeroFR", ld.id)
            _sub(el, "DataFR", _date(ld.date))
            _sub(el, "ElementiRettificati", ld.description or "")
    for ln in b.lines:
        el = _sub(body, "DatiBeniServizi")
        _sub(el, "Descrizione", ln.description)
        _sub(el, "Importo", fmt2(ln.total_price))
        iva = _sub(el, "DatiIVA")
        _opt(iva, "Imposta", ln.vat_amount, fmt2)
        _opt(iva, "Aliquota", ln.vat_rate, fmt2)
        _opt(el, "Natura", ln.natura)
        _opt(el, "RiferimentoNormativo", ln.legal_reference)
    _attachments(body, b)


def to_element(doc: InvoiceDocument) -> etree._Element:
    """The document as an lxml element tree (root FatturaElettronica[Semplificata])."""
    if doc.format == "FSM10":
        ns, root_name = NAMESPACE_SEMPLIFICATA, "FatturaElettronicaSemplificata"
    else:
        ns, root_name = NAMESPACE_ORDINARIA, "FatturaElettronica"
    root = etree.Element(
        f"{{{ns}}}{root_name}", nsmap={"p": ns, "ds": NS_DS, "xsi": NS_XSI}
    )
    root.set("versione", doc.format)
    if doc.format == "FSM10":
        _header_semplificata(root, doc)
        for b in doc.bodies:
            _body_semplificata(root, b)
    else:
        _header_ordinaria(root, doc)
        for b in doc.bodies:
            _body_ordinaria(root, b)
    return root


def write_invoice(doc: InvoiceDocument, *, pretty: bool = True) -> bytes:
    """Serialize `doc` as UTF-8 FatturaPA XML (with XML declaration)."""
    return etree.tostring(
        to_element(doc), xml_declaration=True, encoding="UTF-8", pretty_print=pretty
    )
