"""XML tree → normalized model, tolerant of what the XSD would refuse.

Navigation is by local name (so a vendor prefixing every element still reads), values are
stripped of surrounding blanks, and a value that cannot be converted (a date that is not a
date, an amount that is not a number) becomes None with a warning instead of an exception:
an importer must get everything that *is* there. Strictness is the validator's job.
"""

from __future__ import annotations

import base64
import binascii
from copy import deepcopy
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
    fast_new,
)

_El = etree._Element


class _Ctx:
    """Collects conversion warnings while extracting."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, el: _El | None, what: str) -> None:
        line = f" (line {el.sourceline})" if el is not None and el.sourceline else ""
        self.warnings.append(f"{what}{line}")


_new = fast_new


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None  # comments, processing instructions
    return tag.rpartition("}")[2]


def _chars(el: _El) -> str | None:
    """The character data of a value element. A comment or processing instruction inside a
    value is not part of it (the XSD validates `2<!---->8.06` as 28.06, and an XML signature
    over the document without comments signs 28.06), so the text it split off is put back;
    `.text` alone would read 2. An element with element children is no value: its `.text`."""
    text = el.text
    if len(el) == 0:  # no child at all (len counts comments and PIs too): the common case
        return text
    parts = [text or ""]
    for c in el:
        if isinstance(c.tag, str):
            return text
        parts.append(c.tail or "")
    return "".join(parts)


class _F:
    """The children of one element by (unqualified) name: one pass over the children, then
    dict lookups. About seven times faster than repeated `findtext`, and extraction is the
    hot path of every read. A missing element is an empty `_F`, so callers need no None
    checks; values are stripped of surrounding blanks."""

    __slots__ = ("d", "el")

    def __init__(self, el: _El | None) -> None:
        self.el = el
        d: dict = {}
        if el is not None:
            for c in el:
                tag = c.tag
                if tag not in d:
                    d[tag] = c
        self.d = d

    @property
    def present(self) -> bool:
        return self.el is not None

    def t(self, name: str) -> str | None:
        c = self.d.get(name)
        if c is None:
            return None
        text = _chars(c)
        if not text:
            return None
        text = text.strip()
        return text if text else None

    def r(self, name: str) -> str:
        return self.t(name) or ""

    def sub(self, name: str) -> _F:
        return _F(self.d.get(name))

    def subs(self, name: str) -> list[_F]:
        if name not in self.d:
            return []
        return [_F(c) for c in self.el.findall(name)]

    def texts(self, name: str) -> list[str]:
        if name not in self.d:
            return []
        out = []
        for c in self.el.findall(name):
            text = (_chars(c) or "").strip()
            if text:
                out.append(text)
        return out

    @staticmethod
    def convert_dec(ctx: _Ctx, el: _El, name: str) -> Decimal | None:
        raw = (_chars(el) or "").strip()
        if not raw:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            ctx.warn(el, f"{name} is not a number: {raw!r}")
            return None
        if not value.is_finite():
            ctx.warn(el, f"{name} is not a finite number: {raw!r}")
            return None
        return value

    @staticmethod
    def convert_date(ctx: _Ctx, el: _El, name: str) -> date | None:
        raw = (_chars(el) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            ctx.warn(el, f"{name} is not a date: {raw!r}")
            return None

    def dec(self, ctx: _Ctx, name: str) -> Decimal | None:
        raw = self.t(name)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            ctx.warn(self.d.get(name), f"{name} is not a number: {raw!r}")
            return None
        if not value.is_finite():
            ctx.warn(self.d.get(name), f"{name} is not a finite number: {raw!r}")
            return None
        return value

    def date(self, ctx: _Ctx, name: str) -> date | None:
        raw = self.t(name)
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            ctx.warn(self.d.get(name), f"{name} is not a date: {raw!r}")
            return None

    def int(self, ctx: _Ctx, name: str) -> int | None:
        raw = self.t(name)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            ctx.warn(self.d.get(name), f"{name} is not an integer: {raw!r}")
            return None

    def si(self, name: str) -> bool:
        return (self.t(name) or "").upper() == "SI"


def _vat(f: _F) -> VatId | None:
    if not f.present:
        return None
    return _new(VatId, country=f.r("IdPaese").upper(), code=f.r("IdCodice"))


def _address(f: _F) -> Address | None:
    if not f.present:
        return None
    return _new(
        Address,
        street=f.r("Indirizzo"),
        postal_code=f.r("CAP"),
        city=f.r("Comune"),
        country=f.r("Nazione"),
        number=f.t("NumeroCivico"),
        province=f.t("Provincia"),
    )


def _names(f: _F) -> dict:
    return {
        "company_name": f.t("Denominazione"),
        "first_name": f.t("Nome"),
        "last_name": f.t("Cognome"),
    }


def _discounts(ctx: _Ctx, f: _F) -> tuple[Discount, ...]:
    return tuple(
        _new(Discount, kind=d.r("Tipo"), percentage=d.dec(ctx, "Percentuale"),
                 amount=d.dec(ctx, "Importo"))
        for d in f.subs("ScontoMaggiorazione")
    )


def _attachments(ctx: _Ctx, body: _F) -> tuple[Attachment, ...]:
    out = []
    for a in body.subs("Allegati"):
        raw = a.t("Attachment") or ""
        try:
            data = base64.b64decode("".join(raw.split()), validate=False)
        except (binascii.Error, ValueError):
            ctx.warn(a.el, f"attachment {a.t('NomeAttachment')!r} is not valid base64")
            data = b""
        out.append(
            _new(
                Attachment,
                name=a.r("NomeAttachment"),
                data=data,
                compression=a.t("AlgoritmoCompressione"),
                format=a.t("FormatoAttachment"),
                description=a.t("DescrizioneAttachment"),
            )
        )
    return tuple(out)


def _transmission(header: _F) -> Transmission:
    dt = header.sub("DatiTrasmissione")
    return _new(
        Transmission,
        sender=_vat(dt.sub("IdTrasmittente")) or _new(VatId, country="", code=""),
        progressivo=dt.r("ProgressivoInvio"),
        codice_destinatario=dt.r("CodiceDestinatario"),
        formato=dt.r("FormatoTrasmissione"),
        pec_destinatario=dt.t("PECDestinatario"),
    )


# --- FPA12 / FPR12 ---


def _linked(ctx: _Ctx, dg: _F) -> tuple[LinkedDocument, ...]:
    out = []
    for kind in LINKED_KINDS:
        for f in dg.subs(kind):
            out.append(
                _new(
                    LinkedDocument,
                    kind=kind,
                    id=f.r("IdDocumento"),
                    date=f.date(ctx, "Data"),
                    line_numbers=tuple(
                        int(t) for t in f.texts("RiferimentoNumeroLinea") if t.isdigit()
                    ),
                    num_item=f.t("NumItem"),
                    codice_commessa=f.t("CodiceCommessaConvenzione"),
                    cup=f.t("CodiceCUP"),
                    cig=f.t("CodiceCIG"),
                )
            )
    return tuple(out)


# DettaglioLinee children → (kind, field). Kinds: 0 decimal, 1 text, 2 date, 3 other.
_LINE_TAGS = {
    "PrezzoTotale": (0, "total_price"),
    "AliquotaIVA": (0, "vat_rate"),
    "PrezzoUnitario": (0, "unit_price"),
    "Quantita": (0, "quantity"),
    "Descrizione": (1, "description"),
    "UnitaMisura": (1, "unit"),
    "Natura": (1, "natura"),
    "DataInizioPeriodo": (2, "period_start"),
    "DataFinePeriodo": (2, "period_end"),
    "NumeroLinea": (3, "number"),
    "Ritenuta": (3, "withholding"),
    "ScontoMaggiorazione": (3, "discounts"),
    "CodiceArticolo": (3, "codes"),
}
_LINE_EMPTY = {
    "number": 0, "description": "", "total_price": None, "vat_rate": None, "unit_price": None,
    "quantity": None, "unit": None, "natura": None, "withholding": False, "discounts": (),
    "codes": (), "period_start": None, "period_end": None, "vat_amount": None,
    "legal_reference": None,
}
_set_dict = object.__setattr__


def _line(ctx: _Ctx, el: _El) -> Line:
    """DettaglioLinee in one pass over its children: lines are most of a big invoice, so this
    is the hot loop of the reader (built directly, see `model.fast_new`)."""
    v = _LINE_EMPTY.copy()
    for c in el:
        spec = _LINE_TAGS.get(c.tag)
        if spec is None:
            continue
        kind, name = spec
        if kind == 0:
            text = _chars(c)
            try:
                value = Decimal(text)  # Decimal() itself ignores surrounding blanks
                v[name] = value if value.is_finite() else _F.convert_dec(ctx, c, c.tag)
            except (InvalidOperation, TypeError):
                v[name] = _F.convert_dec(ctx, c, c.tag)
        elif kind == 1:
            text = (_chars(c) or "").strip()
            if text:
                v[name] = text
        elif kind == 2:
            v[name] = _F.convert_date(ctx, c, c.tag)
        elif name == "number":
            raw = (_chars(c) or "").strip()
            try:
                v["number"] = int(raw)
            except ValueError:
                ctx.warn(c, f"NumeroLinea is not an integer: {raw!r}")
        elif name == "withholding":
            v["withholding"] = (_chars(c) or "").strip().upper() == "SI"
        elif name == "discounts":
            d = _F(c)
            v["discounts"] += (
                _new(Discount, kind=d.r("Tipo"), percentage=d.dec(ctx, "Percentuale"),
                     amount=d.dec(ctx, "Importo")),
            )
        else:
            a = _F(c)
            v["codes"] += (_new(ArticleCode, kind=a.r("CodiceTipo"), value=a.r("CodiceValore")),)
    line = object.__new__(Line)
    _set_dict(line, "__dict__", v)
    return line


def _body_ordinaria(ctx: _Ctx, body: _F) -> Body:
    dg = body.sub("DatiGenerali")
    dgd = dg.sub("DatiGeneraliDocumento")
    dbs = body.sub("DatiBeniServizi")
    bollo = dgd.sub("DatiBollo")
    return _new(
        Body,
        document_type=dgd.r("TipoDocumento"),
        currency=dgd.r("Divisa"),
        date=dgd.date(ctx, "Data"),
        number=dgd.r("Numero"),
        lines=tuple(
            _line(ctx, ln) for ln in (dbs.el.iterchildren("DettaglioLinee") if dbs.present else ())
        ),
        vat_summary=tuple(
            _new(
                VatSummary,
                rate=s.dec(ctx, "AliquotaIVA"),
                taxable=s.dec(ctx, "ImponibileImporto"),
                tax=s.dec(ctx, "Imposta"),
                natura=s.t("Natura"),
                esigibilita=s.t("EsigibilitaIVA"),
                legal_reference=s.t("RiferimentoNormativo"),
                expenses=s.dec(ctx, "SpeseAccessorie"),
                rounding=s.dec(ctx, "Arrotondamento"),
            )
            for s in dbs.subs("DatiRiepilogo")
        ),
        total=dgd.dec(ctx, "ImportoTotaleDocumento"),
        rounding=dgd.dec(ctx, "Arrotondamento"),
        causale=tuple(dgd.texts("Causale")),
        withholdings=tuple(
            _new(
                Withholding,
                kind=w.r("TipoRitenuta"),
                amount=w.dec(ctx, "ImportoRitenuta"),
                rate=w.dec(ctx, "AliquotaRitenuta"),
                causale_pagamento=w.r("CausalePagamento"),
            )
            for w in dgd.subs("DatiRitenuta")
        ),
        pension_funds=tuple(
            _new(
                PensionFund,
                kind=c.r("TipoCassa"),
                rate=c.dec(ctx, "AlCassa"),
                amount=c.dec(ctx, "ImportoContributoCassa"),
                vat_rate=c.dec(ctx, "AliquotaIVA"),
                taxable=c.dec(ctx, "ImponibileCassa"),
                withholding=c.si("Ritenuta"),
                natura=c.t("Natura"),
            )
            for c in dgd.subs("DatiCassaPrevidenziale")
        ),
        stamp_duty=(
            _new(StampDuty, amount=bollo.dec(ctx, "ImportoBollo")) if bollo.present else None
        ),
        discounts=_discounts(ctx, dgd),
        payments=tuple(
            _new(
                Payment,
                conditions=p.r("CondizioniPagamento"),
                details=tuple(
                    _new(
                        PaymentDetail,
                        method=d.r("ModalitaPagamento"),
                        amount=d.dec(ctx, "ImportoPagamento"),
                        due_date=d.date(ctx, "DataScadenzaPagamento"),
                        iban=d.t("IBAN"),
                        bic=d.t("BIC"),
                        bank_name=d.t("IstitutoFinanziario"),
                        beneficiary=d.t("Beneficiario"),
                        term_days=d.int(ctx, "GiorniTerminiPagamento"),
                    )
                    for d in p.subs("DettaglioPagamento")
                ),
            )
            for p in body.subs("DatiPagamento")
        ),
        linked_documents=_linked(ctx, dg),
        attachments=_attachments(ctx, body),
    )


def _ordinaria(ctx: _Ctx, root: _El) -> InvoiceDocument:
    top = _F(root)
    header = top.sub("FatturaElettronicaHeader")
    cp = header.sub("CedentePrestatore")
    cp_da = cp.sub("DatiAnagrafici")
    cc = header.sub("CessionarioCommittente")
    cc_da = cc.sub("DatiAnagrafici")
    supplier = _new(
        Party,
        vat=_vat(cp_da.sub("IdFiscaleIVA")),
        fiscal_code=cp_da.t("CodiceFiscale"),
        address=_address(cp.sub("Sede")),
        regime_fiscale=cp_da.t("RegimeFiscale"),
        **_names(cp_da.sub("Anagrafica")),
    )
    customer = _new(
        Party,
        vat=_vat(cc_da.sub("IdFiscaleIVA")),
        fiscal_code=cc_da.t("CodiceFiscale"),
        address=_address(cc.sub("Sede")),
        **_names(cc_da.sub("Anagrafica")),
    )
    return _new(
        InvoiceDocument,
        format=(root.get("versione") or "").strip(),
        transmission=_transmission(header),
        supplier=supplier,
        customer=customer,
        bodies=tuple(_body_ordinaria(ctx, b) for b in top.subs("FatturaElettronicaBody")),
    )


# --- FSM10 ---


def _body_semplificata(ctx: _Ctx, body: _F) -> Body:
    dg = body.sub("DatiGenerali")
    dgd = dg.sub("DatiGeneraliDocumento")
    linked = [
        _new(
            LinkedDocument,
            kind="DatiFatturaRettificata",
            id=fr.r("NumeroFR"),
            date=fr.date(ctx, "DataFR"),
            description=fr.t("ElementiRettificati"),
        )
        for fr in dg.subs("DatiFatturaRettificata")
    ]
    lines = []
    for i, f in enumerate(body.subs("DatiBeniServizi"), start=1):
        iva = f.sub("DatiIVA")
        lines.append(
            _new(
                Line,
                number=i,
                description=f.r("Descrizione"),
                total_price=f.dec(ctx, "Importo"),
                vat_rate=iva.dec(ctx, "Aliquota"),
                vat_amount=iva.dec(ctx, "Imposta"),
                natura=f.t("Natura"),
                legal_reference=f.t("RiferimentoNormativo"),
            )
        )
    return _new(
        Body,
        document_type=dgd.r("TipoDocumento"),
        currency=dgd.r("Divisa"),
        date=dgd.date(ctx, "Data"),
        number=dgd.r("Numero"),
        lines=tuple(lines),
        stamp_duty=_new(StampDuty) if dgd.si("BolloVirtuale") else None,
        linked_documents=tuple(linked),
        attachments=_attachments(ctx, body),
    )


def _semplificata(ctx: _Ctx, root: _El) -> InvoiceDocument:
    top = _F(root)
    header = top.sub("FatturaElettronicaHeader")
    cp = header.sub("CedentePrestatore")
    cc = header.sub("CessionarioCommittente")
    ids = cc.sub("IdentificativiFiscali")
    other = cc.sub("AltriDatiIdentificativi")
    supplier = _new(
        Party,
        vat=_vat(cp.sub("IdFiscaleIVA")),
        fiscal_code=cp.t("CodiceFiscale"),
        address=_address(cp.sub("Sede")),
        regime_fiscale=cp.t("RegimeFiscale"),
        **_names(cp),
    )
    customer = _new(
        Party,
        vat=_vat(ids.sub("IdFiscaleIVA")),
        fiscal_code=ids.t("CodiceFiscale"),
        address=_address(other.sub("Sede")),
        **_names(other),
    )
    return _new(
        InvoiceDocument,
        format=(root.get("versione") or "").strip(),
        transmission=_transmission(header),
        supplier=supplier,
        customer=customer,
        bodies=tuple(_body_semplificata(ctx, b) for b in top.subs("FatturaElettronicaBody")),
    )


ROOTS = ("FatturaElettronica", "FatturaElettronicaSemplificata")


def _unqualified_copy(root: _El) -> _El:
    """A copy whose descendants carry local names only (vendors that prefix every element)."""
    copy = deepcopy(root)
    for el in copy.iterdescendants():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.rpartition("}")[2]
    return copy


def extract(root: _El) -> tuple[InvoiceDocument | None, list[str]]:
    """The model of a FatturaPA root element, plus conversion warnings.

    Returns (None, [reason]) when the root is not a FatturaPA invoice at all.
    """
    ctx = _Ctx()
    name = _local(root.tag)
    if name in ROOTS and root.find("FatturaElettronicaHeader") is None:
        root = _unqualified_copy(root)
    if name == "FatturaElettronicaSemplificata":
        return _semplificata(ctx, root), ctx.warnings
    if name == "FatturaElettronica":
        return _ordinaria(ctx, root), ctx.warnings
    return None, [f"the root element is {name!r}, not a FatturaPA invoice"]
