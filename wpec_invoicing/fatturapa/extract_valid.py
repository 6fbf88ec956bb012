"""The model of an XSD-valid FPA12/FPR12 tree, from one walk (the reader's fast path).

`extract.extract` is tolerant: it reads files the XSD refuses, so it must look at every
element defensively (qualified names, comments inside values, a container where a value
should be, an empty container). Most files are valid, and then the schema already
guarantees the shape: containers hold elements, values are leaves, required elements are
there, single elements occur once, in schema order. This module relies on that guarantee and
builds exactly the same model from `treewalk.walk`, which reads the whole tree once into
plain dicts (tag → stripped text or None, or → the child container's dict), so the model
values are filled from dicts without a per-field method call. Where the compiled twin was
built (`_native.pyx`, see `native.py`), it runs instead: the same functions, reading
libxml2's nodes directly.

Anything unexpected (a comment or processing instruction that could split a value, a value
that does not convert, a shape the schema should have excluded) raises `Unexpected`, and the
reader falls back to the tolerant extractor, which reports it with a line number. So the
fast path can only be faster, never different.
"""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal

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
from wpec_invoicing.fatturapa.native import compiled
from wpec_invoicing.fatturapa.native import make as _mk
from wpec_invoicing.fatturapa.treewalk import MANY, Unexpected, walk

_date = date.fromisoformat
_CONVERSION_ERRORS = (KeyError, TypeError, AttributeError, ValueError, ArithmeticError)

__all__ = ["Unexpected", "extract_valid"]


def _all(d: dict, tag: str) -> list | tuple:
    """Every occurrence of a repeatable child, in document order."""
    if tag not in d:
        return ()
    many = d.get(MANY)
    if many is not None:
        lst = many.get(tag)
        if lst is not None:
            return lst
    return (d[tag],)


def _dec(v: str | None) -> Decimal | None:
    if v is None:
        return None
    value = Decimal(v)
    if not value.is_finite():
        raise Unexpected("not a finite number")
    return value


def _day(v: str | None) -> date | None:
    return None if v is None else _date(v[:10])


def _vat(d: dict | None) -> VatId | None:
    if d is None:
        return None
    return _mk(VatId, {"country": (d.get("IdPaese") or "").upper(),
                       "code": d.get("IdCodice") or ""})


def _address(d: dict | None) -> Address | None:
    if d is None:
        return None
    return _mk(Address, {
        "street": d.get("Indirizzo") or "",
        "postal_code": d.get("CAP") or "",
        "city": d.get("Comune") or "",
        "country": d.get("Nazione") or "",
        "number": d.get("NumeroCivico"),
        "province": d.get("Provincia"),
    })


def _party(p: dict, *, regime: bool) -> Party:
    da: dict = p["DatiAnagrafici"]
    an: dict = da["Anagrafica"]
    return _mk(Party, {
        "vat": _vat(da.get("IdFiscaleIVA")),
        "fiscal_code": da.get("CodiceFiscale"),
        "company_name": an.get("Denominazione"),
        "first_name": an.get("Nome"),
        "last_name": an.get("Cognome"),
        "address": _address(p.get("Sede")),
        "regime_fiscale": da.get("RegimeFiscale") if regime else None,
    })


def _discount(d: dict) -> Discount:
    return _mk(Discount, {"kind": d.get("Tipo") or "", "percentage": _dec(d.get("Percentuale")),
                          "amount": _dec(d.get("Importo"))})


def _line(d: dict) -> Line:
    """One DettaglioLinee (lines are most of a big file)."""
    return _mk(Line, {
        "number": int(d["NumeroLinea"]),
        "description": d.get("Descrizione") or "",
        "total_price": _dec(d.get("PrezzoTotale")),
        "vat_rate": _dec(d.get("AliquotaIVA")),
        "unit_price": _dec(d.get("PrezzoUnitario")),
        "quantity": _dec(d.get("Quantita")),
        "unit": d.get("UnitaMisura"),
        "natura": d.get("Natura"),
        "withholding": (d.get("Ritenuta") or "").upper() == "SI",
        "discounts": (
            tuple(map(_discount, _all(d, "ScontoMaggiorazione")))
            if "ScontoMaggiorazione" in d else ()
        ),
        "codes": tuple(
            _mk(ArticleCode, {"kind": a.get("CodiceTipo") or "",
                              "value": a.get("CodiceValore") or ""})
            for a in _all(d, "CodiceArticolo")
        ) if "CodiceArticolo" in d else (),
        "period_start": _day(d.get("DataInizioPeriodo")),
        "period_end": _day(d.get("DataFinePeriodo")),
        "vat_amount": None,
        "legal_reference": None,
    })


def _summary(s: dict) -> VatSummary:
    return _mk(VatSummary, {
        "rate": _dec(s.get("AliquotaIVA")),
        "taxable": _dec(s.get("ImponibileImporto")),
        "tax": _dec(s.get("Imposta")),
        "natura": s.get("Natura"),
        "esigibilita": s.get("EsigibilitaIVA"),
        "legal_reference": s.get("RiferimentoNormativo"),
        "expenses": _dec(s.get("SpeseAccessorie")),
        "rounding": _dec(s.get("Arrotondamento")),
    })


def _texts(d: dict, tag: str) -> tuple[str, ...]:
    return tuple(v for v in _all(d, tag) if v is not None)


def _linked_document(kind: str, f: dict) -> LinkedDocument:
    return _mk(LinkedDocument, {
        "kind": kind,
        "id": f.get("IdDocumento") or "",
        "date": _day(f.get("Data")),
        "line_numbers": tuple(
            int(t) for t in _texts(f, "RiferimentoNumeroLinea") if t.isdigit()
        ),
        "num_item": f.get("NumItem"),
        "codice_commessa": f.get("CodiceCommessaConvenzione"),
        "cup": f.get("CodiceCUP"),
        "cig": f.get("CodiceCIG"),
        "description": None,
    })


def _linked(dg: dict) -> tuple[LinkedDocument, ...]:
    return tuple(
        _linked_document(kind, f)
        for kind in LINKED_KINDS if kind in dg
        for f in _all(dg, kind)
    )


def _attachment(a: dict) -> Attachment:
    raw = a.get("Attachment") or ""
    return _mk(Attachment, {
        "name": a.get("NomeAttachment") or "",
        "data": base64.b64decode("".join(raw.split()), validate=False),
        "compression": a.get("AlgoritmoCompressione"),
        "format": a.get("FormatoAttachment"),
        "description": a.get("DescrizioneAttachment"),
    })


def _payment_detail(d: dict) -> PaymentDetail:
    days = d.get("GiorniTerminiPagamento")
    return _mk(PaymentDetail, {
        "method": d.get("ModalitaPagamento") or "",
        "amount": _dec(d.get("ImportoPagamento")),
        "due_date": _day(d.get("DataScadenzaPagamento")),
        "iban": d.get("IBAN"),
        "bic": d.get("BIC"),
        "bank_name": d.get("IstitutoFinanziario"),
        "beneficiary": d.get("Beneficiario"),
        "term_days": None if days is None else int(days),
    })


def _payment(p: dict) -> Payment:
    return _mk(Payment, {
        "conditions": p.get("CondizioniPagamento") or "",
        "details": tuple(map(_payment_detail, _all(p, "DettaglioPagamento"))),
    })


def _withholding(w: dict) -> Withholding:
    return _mk(Withholding, {
        "kind": w.get("TipoRitenuta") or "",
        "amount": _dec(w.get("ImportoRitenuta")),
        "rate": _dec(w.get("AliquotaRitenuta")),
        "causale_pagamento": w.get("CausalePagamento") or "",
    })


def _pension_fund(c: dict) -> PensionFund:
    return _mk(PensionFund, {
        "kind": c.get("TipoCassa") or "",
        "rate": _dec(c.get("AlCassa")),
        "amount": _dec(c.get("ImportoContributoCassa")),
        "vat_rate": _dec(c.get("AliquotaIVA")),
        "taxable": _dec(c.get("ImponibileCassa")),
        "withholding": (c.get("Ritenuta") or "").upper() == "SI",
        "natura": c.get("Natura"),
    })


def _body(b: dict) -> Body:
    dg: dict = b["DatiGenerali"]
    dbs: dict = b["DatiBeniServizi"]
    dgd: dict = dg["DatiGeneraliDocumento"]
    return _mk(Body, {
        "document_type": dgd.get("TipoDocumento") or "",
        "currency": dgd.get("Divisa") or "",
        "date": _day(dgd.get("Data")),
        "number": dgd.get("Numero") or "",
        "lines": tuple(map(_line, _all(dbs, "DettaglioLinee"))),
        "vat_summary": tuple(map(_summary, _all(dbs, "DatiRiepilogo"))),
        "total": _dec(dgd.get("ImportoTotaleDocumento")),
        "rounding": _dec(dgd.get("Arrotondamento")),
        "causale": _texts(dgd, "Causale") if "Causale" in dgd else (),
        "withholdings": tuple(map(_withholding, _all(dgd, "DatiRitenuta"))),
        "pension_funds": tuple(map(_pension_fund, _all(dgd, "DatiCassaPrevidenziale"))),
        "stamp_duty": (
            _mk(StampDuty, {"amount": _dec(dgd["DatiBollo"].get("ImportoBollo"))})
            if "DatiBollo" in dgd else None
        ),
        "discounts": tuple(map(_discount, _all(dgd, "ScontoMaggiorazione"))),
        "payments": tuple(map(_payment, _all(b, "DatiPagamento"))),
        "linked_documents": _linked(dg) if len(dg) > 1 else (),
        "attachments": tuple(map(_attachment, _all(b, "Allegati"))),
    })


def _document(root: etree._Element) -> InvoiceDocument:
    tree: dict = walk(root)
    header: dict = tree["FatturaElettronicaHeader"]
    dt: dict = header["DatiTrasmissione"]
    return _mk(InvoiceDocument, {
        "format": (root.get("versione") or "").strip(),
        "transmission": _mk(Transmission, {
            "sender": _vat(dt["IdTrasmittente"]),
            "progressivo": dt.get("ProgressivoInvio") or "",
            "codice_destinatario": dt.get("CodiceDestinatario") or "",
            "formato": dt.get("FormatoTrasmissione") or "",
            "pec_destinatario": dt.get("PECDestinatario"),
        }),
        "supplier": _party(header["CedentePrestatore"], regime=True),
        "customer": _party(header["CessionarioCommittente"], regime=False),
        "bodies": tuple(map(_body, _all(tree, "FatturaElettronicaBody"))),
    })


# The compiled twin (`_native.extract_valid`, same functions in the same order, reading
# libxml2's nodes without the dicts) where it was built; this module's code otherwise.
_extract = compiled.extract_valid if compiled is not None else _document


def extract_valid(root: etree._Element) -> InvoiceDocument:
    """The model of a schema-valid FatturaElettronica root (see the module docstring).
    Raises `Unexpected` when the tree is not shaped as the schema promises."""
    try:
        return _extract(root)
    except _CONVERSION_ERRORS as exc:
        raise Unexpected(f"{type(exc).__name__}: {exc}") from exc
