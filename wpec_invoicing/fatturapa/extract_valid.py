"""The model of an XSD-valid FPA12/FPR12 tree, in one walk (the reader's fast path).

`extract.extract` is tolerant: it reads files the XSD refuses, so it must look at every
element defensively (qualified names, comments inside values, a container where a value
should be, an empty container). Most files are valid, and then the schema already
guarantees the shape: containers hold elements, values are leaves, required elements are
there, single elements occur once, in schema order. This module relies on that guarantee
(`extract_valid` checks the two things the XSD does not: no comment or processing
instruction anywhere, since either would split a value) and builds exactly the same model
in one pass: each element is visited once, a container's children become a plain dict
(tag → stripped text or None, or → the child container's dict), and the model values are
filled from those dicts without the per-field method calls of the tolerant path.

Anything unexpected (a value that does not convert, a shape the schema should have
excluded) raises `Unexpected`, and the reader falls back to the tolerant extractor, which
reports it with a line number. So the fast path can only be faster, never different.
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

_El = etree._Element
_new = object.__new__
_set = object.__setattr__  # builds frozen values without their __init__ (see `_mk`)
_date = date.fromisoformat
_NOT_ELEMENTS = (etree.Comment, etree.ProcessingInstruction)
_CONVERSION_ERRORS = (KeyError, TypeError, AttributeError, ValueError, ArithmeticError)


class Unexpected(Exception):
    """The tree is not what a valid file looks like: use the tolerant extractor."""


def _mk(cls, values: dict):
    """A frozen model value from a dict holding exactly its fields. A frozen dataclass
    `__init__` costs one `object.__setattr__` per field, and a file has dozens of values;
    the result is the same object (fields, equality, hash, repr)."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    return obj


_MANY = "*"  # key of the dict of repeated children: tag → [every occurrence]


def _walk(el: _El) -> dict:
    """Children of `el` by tag: a leaf's stripped text (None when empty), a container's
    own dict. The first occurrence stays under the tag; repeats are listed under `_MANY`."""
    d: dict = {}
    for c in el[:]:  # one C call for the child list, cheaper than iterating
        if len(c):
            v = _walk(c)
        else:
            v = c.text
            if v is not None:
                v = v.strip() or None
        tag = c.tag
        if tag in d:
            many = d.get(_MANY)
            if many is None:
                d[_MANY] = {tag: [d[tag], v]}
            elif tag in many:
                many[tag].append(v)
            else:
                many[tag] = [d[tag], v]
        else:
            d[tag] = v
    return d


def _all(d: dict, tag: str) -> list | tuple:
    """Every occurrence of a repeatable child, in document order."""
    if tag not in d:
        return ()
    many = d.get(_MANY)
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
    g = d.get
    return _mk(Address, {
        "street": g("Indirizzo") or "",
        "postal_code": g("CAP") or "",
        "city": g("Comune") or "",
        "country": g("Nazione") or "",
        "number": g("NumeroCivico"),
        "province": g("Provincia"),
    })


def _party(p: dict, *, regime: bool) -> Party:
    da = p["DatiAnagrafici"]
    an = da["Anagrafica"]
    g = an.get
    return _mk(Party, {
        "vat": _vat(da.get("IdFiscaleIVA")),
        "fiscal_code": da.get("CodiceFiscale"),
        "company_name": g("Denominazione"),
        "first_name": g("Nome"),
        "last_name": g("Cognome"),
        "address": _address(p.get("Sede")),
        "regime_fiscale": da.get("RegimeFiscale") if regime else None,
    })


def _discount(d: dict) -> Discount:
    return _mk(Discount, {"kind": d.get("Tipo") or "", "percentage": _dec(d.get("Percentuale")),
                          "amount": _dec(d.get("Importo"))})


# DettaglioLinee children by kind of value
_LINE_DECIMALS = {
    "PrezzoTotale": "total_price",
    "AliquotaIVA": "vat_rate",
    "PrezzoUnitario": "unit_price",
    "Quantita": "quantity",
}
_LINE_TEXTS = {"Descrizione": "description", "UnitaMisura": "unit", "Natura": "natura"}
_LINE_DATES = {"DataInizioPeriodo": "period_start", "DataFinePeriodo": "period_end"}
_LINE_EMPTY = {
    "number": 0, "description": "", "total_price": None, "vat_rate": None, "unit_price": None,
    "quantity": None, "unit": None, "natura": None, "withholding": False, "discounts": (),
    "codes": (), "period_start": None, "period_end": None, "vat_amount": None,
    "legal_reference": None,
}


def _line(el: _El) -> Line:
    """One DettaglioLinee, read straight from its children (lines are most of a big file)."""
    v = _LINE_EMPTY.copy()
    for c in el[:]:
        tag = c.tag
        name = _LINE_DECIMALS.get(tag)
        if name is not None:
            value = Decimal(c.text)  # Decimal() itself ignores surrounding blanks
            if not value.is_finite():
                raise Unexpected("not a finite number")
            v[name] = value
            continue
        name = _LINE_TEXTS.get(tag)
        if name is not None:
            text = c.text
            if text:
                text = text.strip()
                if text:
                    v[name] = text
        elif tag == "NumeroLinea":
            v["number"] = int(c.text.strip())
        elif tag in _LINE_DATES:
            text = c.text
            v[_LINE_DATES[tag]] = _day(text.strip() or None) if text else None
        elif tag == "Ritenuta":
            v["withholding"] = (c.text or "").strip().upper() == "SI"
        elif tag == "ScontoMaggiorazione":
            v["discounts"] += (_discount(_walk(c)),)
        elif tag == "CodiceArticolo":
            a = _walk(c)
            v["codes"] += (_mk(ArticleCode, {"kind": a.get("CodiceTipo") or "",
                                             "value": a.get("CodiceValore") or ""}),)
    return _mk(Line, v)


def _summary(s: dict) -> VatSummary:
    g = s.get
    return _mk(VatSummary, {
        "rate": _dec(g("AliquotaIVA")),
        "taxable": _dec(g("ImponibileImporto")),
        "tax": _dec(g("Imposta")),
        "natura": g("Natura"),
        "esigibilita": g("EsigibilitaIVA"),
        "legal_reference": g("RiferimentoNormativo"),
        "expenses": _dec(g("SpeseAccessorie")),
        "rounding": _dec(g("Arrotondamento")),
    })


def _texts(d: dict, tag: str) -> tuple[str, ...]:
    return tuple(v for v in _all(d, tag) if v is not None)


def _linked(dg: dict) -> tuple[LinkedDocument, ...]:
    out = []
    for kind in LINKED_KINDS:
        if kind not in dg:
            continue
        for f in _all(dg, kind):
            g = f.get
            out.append(_mk(LinkedDocument, {
                "kind": kind,
                "id": g("IdDocumento") or "",
                "date": _day(g("Data")),
                "line_numbers": tuple(
                    int(t) for t in _texts(f, "RiferimentoNumeroLinea") if t.isdigit()
                ),
                "num_item": g("NumItem"),
                "codice_commessa": g("CodiceCommessaConvenzione"),
                "cup": g("CodiceCUP"),
                "cig": g("CodiceCIG"),
                "description": None,
            }))
    return tuple(out)


def _attachment(a: dict) -> Attachment:
    g = a.get
    raw = g("Attachment") or ""
    return _mk(Attachment, {
        "name": g("NomeAttachment") or "",
        "data": base64.b64decode("".join(raw.split()), validate=False),
        "compression": g("AlgoritmoCompressione"),
        "format": g("FormatoAttachment"),
        "description": g("DescrizioneAttachment"),
    })


def _payment(p: dict) -> Payment:
    details = []
    for d in _all(p, "DettaglioPagamento"):
        g = d.get
        days = g("GiorniTerminiPagamento")
        details.append(_mk(PaymentDetail, {
            "method": g("ModalitaPagamento") or "",
            "amount": _dec(g("ImportoPagamento")),
            "due_date": _day(g("DataScadenzaPagamento")),
            "iban": g("IBAN"),
            "bic": g("BIC"),
            "bank_name": g("IstitutoFinanziario"),
            "beneficiary": g("Beneficiario"),
            "term_days": None if days is None else int(days),
        }))
    return _mk(Payment, {"conditions": p.get("CondizioniPagamento") or "",
                         "details": tuple(details)})


def _withholding(w: dict) -> Withholding:
    g = w.get
    return _mk(Withholding, {
        "kind": g("TipoRitenuta") or "",
        "amount": _dec(g("ImportoRitenuta")),
        "rate": _dec(g("AliquotaRitenuta")),
        "causale_pagamento": g("CausalePagamento") or "",
    })


def _pension_fund(c: dict) -> PensionFund:
    g = c.get
    return _mk(PensionFund, {
        "kind": g("TipoCassa") or "",
        "rate": _dec(g("AlCassa")),
        "amount": _dec(g("ImportoContributoCassa")),
        "vat_rate": _dec(g("AliquotaIVA")),
        "taxable": _dec(g("ImponibileCassa")),
        "withholding": (g("Ritenuta") or "").upper() == "SI",
        "natura": g("Natura"),
    })


def _body(el: _El) -> Body:
    dg = None
    lines: list[Line] = []
    summaries: list[VatSummary] = []
    payments: list[Payment] = []
    attachments: list[Attachment] = []
    seen_dbs = False
    for c in el[:]:
        tag = c.tag
        if tag == "DatiBeniServizi":
            if seen_dbs:
                continue  # the first one counts, as in the tolerant extractor
            seen_dbs = True
            for item in c[:]:
                t = item.tag
                if t == "DettaglioLinee":
                    lines.append(_line(item))
                elif t == "DatiRiepilogo":
                    summaries.append(_summary(_walk(item)))
        elif tag == "DatiGenerali":
            if dg is None:
                dg = _walk(c)
        elif tag == "DatiPagamento":
            payments.append(_payment(_walk(c)))
        elif tag == "Allegati":
            attachments.append(_attachment(_walk(c)))
    dgd = dg["DatiGeneraliDocumento"]
    g = dgd.get
    return _mk(Body, {
        "document_type": g("TipoDocumento") or "",
        "currency": g("Divisa") or "",
        "date": _day(g("Data")),
        "number": g("Numero") or "",
        "lines": tuple(lines),
        "vat_summary": tuple(summaries),
        "total": _dec(g("ImportoTotaleDocumento")),
        "rounding": _dec(g("Arrotondamento")),
        "causale": _texts(dgd, "Causale") if "Causale" in dgd else (),
        "withholdings": tuple(map(_withholding, _all(dgd, "DatiRitenuta"))),
        "pension_funds": tuple(map(_pension_fund, _all(dgd, "DatiCassaPrevidenziale"))),
        "stamp_duty": (
            _mk(StampDuty, {"amount": _dec(dgd["DatiBollo"].get("ImportoBollo"))})
            if "DatiBollo" in dgd else None
        ),
        "discounts": tuple(map(_discount, _all(dgd, "ScontoMaggiorazione"))),
        "payments": tuple(payments),
        "linked_documents": _linked(dg) if len(dg) > 1 else (),
        "attachments": tuple(attachments),
    })


def _document(root: _El) -> InvoiceDocument:
    header = None
    bodies: list[Body] = []
    for c in root[:]:
        tag = c.tag
        if tag == "FatturaElettronicaBody":
            bodies.append(_body(c))
        elif tag == "FatturaElettronicaHeader" and header is None:
            header = _walk(c)
    dt = header["DatiTrasmissione"]
    g = dt.get
    return _mk(InvoiceDocument, {
        "format": (root.get("versione") or "").strip(),
        "transmission": _mk(Transmission, {
            "sender": _vat(dt["IdTrasmittente"]),
            "progressivo": g("ProgressivoInvio") or "",
            "codice_destinatario": g("CodiceDestinatario") or "",
            "formato": g("FormatoTrasmissione") or "",
            "pec_destinatario": g("PECDestinatario"),
        }),
        "supplier": _party(header["CedentePrestatore"], regime=True),
        "customer": _party(header["CessionarioCommittente"], regime=False),
        "bodies": tuple(bodies),
    })


def extract_valid(root: _El) -> InvoiceDocument:
    """The model of a schema-valid FatturaElettronica root (see the module docstring).
    Raises `Unexpected` when the tree is not shaped as the schema promises."""
    if next(root.iter(*_NOT_ELEMENTS), None) is not None:
        raise Unexpected("a comment or processing instruction could split a value")
    try:
        return _document(root)
    except _CONVERSION_ERRORS as exc:
        raise Unexpected(f"{type(exc).__name__}: {exc}") from exc
