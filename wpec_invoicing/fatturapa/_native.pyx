# cython: language_level=3, boundscheck=False, wraparound=False, binding=True
"""Compiled twins of the hot pure-Python functions, loaded through `native.py`.

Why: the benchmark target of issue 2 (our full read at least half the throughput of bare
lxml parse + XSD, which is C) is not reachable in Python for a one-line invoice, where fixed
costs dominate: one lxml proxy object per element, one interpreter dispatch per value.

- `extract_valid(root)`: the model of an XSD-valid FPA12/FPR12 tree, read straight from
  libxml2's nodes through lxml's public C API (`lxml.includes`). It mirrors
  `extract_valid.py` function by function (same names, same order), which stays the
  reference and the fallback; the tests compare the two on generated invoices. The
  precondition is the same: the tree passed the XSD. A shape the schema excludes raises
  `Unexpected` (the caller then uses the tolerant extractor).
- `make(cls, values)`: `treewalk.make_py` in C.
- `is_valid_partita_iva(code)`: its `identifiers` twin in C.
"""

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport strcmp, strlen

cimport lxml.includes.etreepublic as cetree
from lxml.includes cimport tree
from lxml.includes.tree cimport xmlNode

cetree.import_lxml__etree()

import base64
from datetime import date
from decimal import Decimal

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
from wpec_invoicing.fatturapa.treewalk import Unexpected

cdef object _date = date.fromisoformat
cdef object _b64decode = base64.b64decode
cdef tuple _LINKED_KINDS = tuple(k.encode() for k in LINKED_KINDS)
cdef tuple _LINKED_NAMES = tuple(LINKED_KINDS)

cdef extern from "Python.h":
    int PyObject_GenericSetAttr(object, object, object) except -1


# ---------------------------------------------------------------- make


def make(type cls not None, dict values not None):
    """A frozen dataclass value from a dict of exactly its fields (see `treewalk.make_py`)."""
    return _mk(cls, values)


cdef inline object _mk(type cls, dict values):
    obj = cls.__new__(cls)
    PyObject_GenericSetAttr(obj, "__dict__", values)
    return obj


# ---------------------------------------------------------------- identifiers


def is_valid_partita_iva(code):
    """`identifiers.is_valid_partita_iva` for a str (None for anything else: the Python
    twin decides): 11 ASCII digits, not all zeros, with the right check digit."""
    if type(code) is not str:
        return None
    cdef str s = code
    if len(s) != 11:
        return False
    cdef Py_ssize_t i
    cdef int total = 0, d
    cdef bint zeros = True
    cdef Py_UCS4 ch
    for i in range(11):
        ch = s[i]
        if ch < u'0' or ch > u'9':
            return False
        d = <int> ch - 48
        if d:
            zeros = False
        if i == 10:
            break
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    if zeros:
        return False
    return (10 - total % 10) % 10 == <int> s[10] - 48


# ---------------------------------------------------------------- the tree


cdef inline bint _is_element(xmlNode* n) noexcept:
    return n.type == tree.XML_ELEMENT_NODE


cdef int _check_clean(xmlNode* parent) except -1:
    """Unexpected on a comment, a processing instruction or an entity reference anywhere
    below `parent` (any of them could split a value), as `treewalk.walk_py` does."""
    cdef xmlNode* c = parent.children
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            _check_clean(c)
        elif c.type != tree.XML_TEXT_NODE and c.type != tree.XML_CDATA_SECTION_NODE:
            raise Unexpected("a comment, processing instruction or entity could split a value")
        c = c.next
    return 0


cdef inline bint _named(xmlNode* c, const char* name) noexcept:
    # an unqualified element of that name (what `d.get(name)` finds in the Python twin)
    return (c.type == tree.XML_ELEMENT_NODE and (c.ns is NULL or c.ns.href is NULL)
            and strcmp(<const char*> c.name, name) == 0)


cdef xmlNode* _child(xmlNode* parent, const char* name) noexcept:
    """The first child of that name, or NULL."""
    cdef xmlNode* c = parent.children
    while c is not NULL:
        if _named(c, name):
            return c
        c = c.next
    return NULL


cdef xmlNode* _required(xmlNode* parent, const char* name) except NULL:
    cdef xmlNode* c = _child(parent, name)
    if c is NULL:
        raise Unexpected(f"{name.decode()} missing")
    return c


cdef inline xmlNode* _next_named(xmlNode* c, const char* name) noexcept:
    """`c` or its first following sibling of that name, or NULL."""
    while c is not NULL:
        if _named(c, name):
            return c
        c = c.next
    return NULL


ctypedef object (*_Reader)(xmlNode*)


cdef tuple _map(xmlNode* parent, const char* name, _Reader read):
    """`read` of every child of that name, in document order (the twin's
    `tuple(map(read, _all(d, name)))`)."""
    cdef list out = []
    cdef xmlNode* c = _next_named(parent.children, name)
    cdef xmlNode* n
    while c is not NULL:
        n = _container(c)
        if n is NULL:  # the twin's reader fails on an empty one (None has no .get)
            raise Unexpected(f"an empty {name.decode()}")
        out.append(read(n))
        c = _next_named(c.next, name)
    return tuple(out)


cdef bint _has_elements(xmlNode* n) noexcept:
    cdef xmlNode* c = n.children
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            return True
        c = c.next
    return False


cdef xmlNode* _container(xmlNode* n) except? NULL:
    """A node the twin reads as a dict: it must hold elements (a blank leaf is None there:
    NULL here; a leaf with text is not a container)."""
    if n is NULL:
        return NULL
    if _has_elements(n):
        return n
    if _text(n) is None:
        return NULL
    raise Unexpected(f"{(<bytes> n.name).decode()} holds text where elements belong")


cdef inline bint _is_space(unsigned char c) noexcept:
    # the ASCII characters str.strip() removes
    return c == 32 or (9 <= c <= 13) or (28 <= c <= 31)


cdef object _text(xmlNode* n):
    """A leaf's text stripped of blanks, None when missing or blank (what the Python twin's
    walk stores for a leaf); a node holding elements is not a value."""
    cdef const char* s
    cdef Py_ssize_t start, end
    cdef bytes joined
    cdef xmlNode* child
    if n is NULL:
        return None
    child = n.children
    if child is NULL:
        return None
    if child.next is NULL and child.type != tree.XML_ELEMENT_NODE:
        s = <const char*> child.content
        if s is NULL:
            return None
        end = strlen(s)
    else:  # several text nodes (CDATA sections): joined, as lxml's .text does
        joined = b""
        while child is not NULL:
            if child.type == tree.XML_ELEMENT_NODE:
                raise Unexpected(f"{(<bytes> n.name).decode()} holds elements, not a value")
            if child.content is not NULL:
                joined += <bytes> <const char*> child.content
            child = child.next
        s = joined
        end = len(joined)
    start = 0
    while start < end and _is_space(<unsigned char> s[start]):
        start += 1
    while end > start and _is_space(<unsigned char> s[end - 1]):
        end -= 1
    if start == end:
        return None
    text = PyUnicode_DecodeUTF8(s + start, end - start, NULL)
    if <unsigned char> s[start] >= 0x80 or <unsigned char> s[end - 1] >= 0x80:
        text = text.strip() or None  # Unicode blanks (NBSP…): str.strip decides, as in Python
    return text


cdef inline object _get(xmlNode* parent, const char* name):
    return _text(_child(parent, name))


cdef inline object _get_or_empty(xmlNode* parent, const char* name):
    v = _text(_child(parent, name))
    return "" if v is None else v


# ---------------------------------------------------------------- values (as extract_valid.py)


cdef object _dec(object v):
    if v is None:
        return None
    value = Decimal(v)
    if not value.is_finite():
        raise Unexpected("not a finite number")
    return value


cdef object _day(object v):
    return None if v is None else _date(v[:10])


cdef object _vat(xmlNode* d):
    d = _container(d)
    if d is NULL:
        return None
    country = _get(d, b"IdPaese")
    return _mk(VatId, {"country": "" if country is None else country.upper(),
                       "code": _get_or_empty(d, b"IdCodice")})


cdef object _address(xmlNode* d):
    d = _container(d)
    if d is NULL:
        return None
    return _mk(Address, {
        "street": _get_or_empty(d, b"Indirizzo"),
        "postal_code": _get_or_empty(d, b"CAP"),
        "city": _get_or_empty(d, b"Comune"),
        "country": _get_or_empty(d, b"Nazione"),
        "number": _get(d, b"NumeroCivico"),
        "province": _get(d, b"Provincia"),
    })


cdef object _party(xmlNode* p, bint regime):
    cdef xmlNode* da = _required(p, b"DatiAnagrafici")
    cdef xmlNode* an = _required(da, b"Anagrafica")
    return _mk(Party, {
        "vat": _vat(_child(da, b"IdFiscaleIVA")),
        "fiscal_code": _get(da, b"CodiceFiscale"),
        "company_name": _get(an, b"Denominazione"),
        "first_name": _get(an, b"Nome"),
        "last_name": _get(an, b"Cognome"),
        "address": _address(_child(p, b"Sede")),
        "regime_fiscale": _get(da, b"RegimeFiscale") if regime else None,
    })


cdef object _discount(xmlNode* d):
    return _mk(Discount, {"kind": _get_or_empty(d, b"Tipo"),
                          "percentage": _dec(_get(d, b"Percentuale")),
                          "amount": _dec(_get(d, b"Importo"))})


cdef tuple _discounts(xmlNode* parent):
    return _map(parent, b"ScontoMaggiorazione", _discount)


cdef object _article_code(xmlNode* a):
    return _mk(ArticleCode, {"kind": _get_or_empty(a, b"CodiceTipo"),
                             "value": _get_or_empty(a, b"CodiceValore")})


cdef object _line(xmlNode* d):
    ritenuta = _get(d, b"Ritenuta")
    return _mk(Line, {
        "number": int(_text(_required(d, b"NumeroLinea"))),
        "description": _get_or_empty(d, b"Descrizione"),
        "total_price": _dec(_get(d, b"PrezzoTotale")),
        "vat_rate": _dec(_get(d, b"AliquotaIVA")),
        "unit_price": _dec(_get(d, b"PrezzoUnitario")),
        "quantity": _dec(_get(d, b"Quantita")),
        "unit": _get(d, b"UnitaMisura"),
        "natura": _get(d, b"Natura"),
        "withholding": ritenuta is not None and ritenuta.upper() == "SI",
        "discounts": _discounts(d),
        "codes": _map(d, b"CodiceArticolo", _article_code),
        "period_start": _day(_get(d, b"DataInizioPeriodo")),
        "period_end": _day(_get(d, b"DataFinePeriodo")),
        "vat_amount": None,
        "legal_reference": None,
    })


cdef object _summary(xmlNode* s):
    return _mk(VatSummary, {
        "rate": _dec(_get(s, b"AliquotaIVA")),
        "taxable": _dec(_get(s, b"ImponibileImporto")),
        "tax": _dec(_get(s, b"Imposta")),
        "natura": _get(s, b"Natura"),
        "esigibilita": _get(s, b"EsigibilitaIVA"),
        "legal_reference": _get(s, b"RiferimentoNormativo"),
        "expenses": _dec(_get(s, b"SpeseAccessorie")),
        "rounding": _dec(_get(s, b"Arrotondamento")),
    })


cdef tuple _texts(xmlNode* d, const char* name):
    cdef list out = []
    cdef xmlNode* c = _next_named(d.children, name)
    while c is not NULL:
        v = _text(c)
        if v is not None:
            out.append(v)
        c = _next_named(c.next, name)
    return tuple(out)


cdef object _linked_document(str kind, xmlNode* f):
    return _mk(LinkedDocument, {
        "kind": kind,
        "id": _get_or_empty(f, b"IdDocumento"),
        "date": _day(_get(f, b"Data")),
        "line_numbers": tuple([int(t) for t in _texts(f, b"RiferimentoNumeroLinea")
                               if t.isdigit()]),
        "num_item": _get(f, b"NumItem"),
        "codice_commessa": _get(f, b"CodiceCommessaConvenzione"),
        "cup": _get(f, b"CodiceCUP"),
        "cig": _get(f, b"CodiceCIG"),
        "description": None,
    })


cdef tuple _linked(xmlNode* dg):
    cdef list out = []
    cdef Py_ssize_t i
    cdef xmlNode* f
    cdef xmlNode* c
    cdef const char* name
    for i in range(len(_LINKED_KINDS)):
        name = <bytes> _LINKED_KINDS[i]
        c = _next_named(dg.children, name)
        while c is not NULL:
            f = _container(c)
            if f is NULL:
                raise Unexpected("an empty linked document")
            out.append(_linked_document(_LINKED_NAMES[i], f))
            c = _next_named(c.next, name)
    return tuple(out)


cdef object _attachment(xmlNode* a):
    raw = _get_or_empty(a, b"Attachment")
    return _mk(Attachment, {
        "name": _get_or_empty(a, b"NomeAttachment"),
        "data": _b64decode("".join(raw.split()), validate=False),
        "compression": _get(a, b"AlgoritmoCompressione"),
        "format": _get(a, b"FormatoAttachment"),
        "description": _get(a, b"DescrizioneAttachment"),
    })


cdef object _payment_detail(xmlNode* d):
    days = _get(d, b"GiorniTerminiPagamento")
    return _mk(PaymentDetail, {
        "method": _get_or_empty(d, b"ModalitaPagamento"),
        "amount": _dec(_get(d, b"ImportoPagamento")),
        "due_date": _day(_get(d, b"DataScadenzaPagamento")),
        "iban": _get(d, b"IBAN"),
        "bic": _get(d, b"BIC"),
        "bank_name": _get(d, b"IstitutoFinanziario"),
        "beneficiary": _get(d, b"Beneficiario"),
        "term_days": None if days is None else int(days),
    })


cdef object _payment(xmlNode* p):
    return _mk(Payment, {
        "conditions": _get_or_empty(p, b"CondizioniPagamento"),
        "details": _map(p, b"DettaglioPagamento", _payment_detail),
    })


cdef object _withholding(xmlNode* w):
    return _mk(Withholding, {
        "kind": _get_or_empty(w, b"TipoRitenuta"),
        "amount": _dec(_get(w, b"ImportoRitenuta")),
        "rate": _dec(_get(w, b"AliquotaRitenuta")),
        "causale_pagamento": _get_or_empty(w, b"CausalePagamento"),
    })


cdef object _pension_fund(xmlNode* c):
    ritenuta = _get(c, b"Ritenuta")
    return _mk(PensionFund, {
        "kind": _get_or_empty(c, b"TipoCassa"),
        "rate": _dec(_get(c, b"AlCassa")),
        "amount": _dec(_get(c, b"ImportoContributoCassa")),
        "vat_rate": _dec(_get(c, b"AliquotaIVA")),
        "taxable": _dec(_get(c, b"ImponibileCassa")),
        "withholding": ritenuta is not None and ritenuta.upper() == "SI",
        "natura": _get(c, b"Natura"),
    })


cdef object _stamp_duty(xmlNode* dgd):
    cdef xmlNode* bollo = _child(dgd, b"DatiBollo")
    if bollo is NULL:
        return None
    bollo = _container(bollo)
    if bollo is NULL:
        raise Unexpected("an empty DatiBollo")
    return _mk(StampDuty, {"amount": _dec(_get(bollo, b"ImportoBollo"))})


cdef object _body(xmlNode* b):
    cdef xmlNode* dg = _required(b, b"DatiGenerali")
    cdef xmlNode* dbs = _required(b, b"DatiBeniServizi")
    cdef xmlNode* dgd = _required(dg, b"DatiGeneraliDocumento")
    return _mk(Body, {
        "document_type": _get_or_empty(dgd, b"TipoDocumento"),
        "currency": _get_or_empty(dgd, b"Divisa"),
        "date": _day(_get(dgd, b"Data")),
        "number": _get_or_empty(dgd, b"Numero"),
        "lines": _map(dbs, b"DettaglioLinee", _line),
        "vat_summary": _map(dbs, b"DatiRiepilogo", _summary),
        "total": _dec(_get(dgd, b"ImportoTotaleDocumento")),
        "rounding": _dec(_get(dgd, b"Arrotondamento")),
        "causale": _texts(dgd, b"Causale"),
        "withholdings": _map(dgd, b"DatiRitenuta", _withholding),
        "pension_funds": _map(dgd, b"DatiCassaPrevidenziale", _pension_fund),
        "stamp_duty": _stamp_duty(dgd),
        "discounts": _discounts(dgd),
        "payments": _map(b, b"DatiPagamento", _payment),
        "linked_documents": _linked(dg),
        "attachments": _map(b, b"Allegati", _attachment),
    })


def extract_valid(cetree._Element root not None):
    """The model of a schema-valid FatturaElettronica root (see `extract_valid.py`).
    Raises `Unexpected` when the tree is not shaped as the schema promises; conversion errors
    (a value that does not convert) are the caller's to turn into `Unexpected`."""
    cdef xmlNode* r = root._c_node
    _check_clean(r)
    cdef xmlNode* header = _required(r, b"FatturaElettronicaHeader")
    cdef xmlNode* dt = _required(header, b"DatiTrasmissione")
    versione = root.get("versione")
    return _mk(InvoiceDocument, {
        "format": (versione or "").strip(),
        "transmission": _mk(Transmission, {
            "sender": _vat(_required(dt, b"IdTrasmittente")),
            "progressivo": _get_or_empty(dt, b"ProgressivoInvio"),
            "codice_destinatario": _get_or_empty(dt, b"CodiceDestinatario"),
            "formato": _get_or_empty(dt, b"FormatoTrasmissione"),
            "pec_destinatario": _get(dt, b"PECDestinatario"),
        }),
        "supplier": _party(_required(header, b"CedentePrestatore"), True),
        "customer": _party(_required(header, b"CessionarioCommittente"), False),
        "bodies": _map(r, b"FatturaElettronicaBody", _body),
    })
