"""Hypothesis strategies for VALID invoice models: every value within the XSD's facets
(lengths, patterns, decimal formats, the code lists read from the official XSDs themselves)
and consistent the way SdI checks it (check digits, Natura with rate 0, DatiRiepilogo
computed from lines and cassa, totals, withholding data when a line says Ritenuta SI…).

`test_roundtrip.py` keeps its wild strategies (any shape, schema-invalid on purpose: the
reader must round-trip whatever the writer emits); these ones prove the writer's output is
valid for every valid model, not only for the fixed samples.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from functools import cache

from hypothesis import strategies as st
from lxml import etree

from wpec_invoicing.fatturapa import (
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
    Withholding,
    line_total,
    summarize_vat,
)
from wpec_invoicing.fatturapa.identifiers import codice_fiscale_check_char, make_partita_iva
from wpec_invoicing.fatturapa.model import LINKED_KINDS
from wpec_invoicing.resources import schemas_dir

XS = "{http://www.w3.org/2001/XMLSchema}"


@cache
def code_list(xsd: str, type_name: str) -> tuple[str, ...]:
    """The enumeration of a simple type, from the official XSD (not a copy of it)."""
    tree = etree.parse(str(schemas_dir() / xsd))
    node = tree.find(f"{XS}simpleType[@name='{type_name}']")
    return tuple(e.get("value") for e in node.iter(f"{XS}enumeration"))


ORD_XSD = "FatturaPA_v1.2.3.xsd"
FSM_XSD = "FatturaSemplificata_v1.0.2.xsd"


def codes(type_name: str, xsd: str = ORD_XSD):
    return st.sampled_from(code_list(xsd, type_name))


# --- strings: Latin-1 printable, no blanks at the edges (values are compared after a read)

_BASIC = "".join(chr(c) for c in range(0x21, 0x7F))
_LATIN1 = _BASIC + "".join(chr(c) for c in range(0xA1, 0x100))


def text(max_size: int, alphabet: str = _LATIN1):
    """1..max_size characters of `alphabet` and inner spaces, no blank at either end."""
    edge = st.sampled_from(alphabet)
    if max_size == 1:
        return edge
    inner = st.text(st.sampled_from(alphabet + " "), max_size=min(max_size - 2, 80))
    return edge | st.builds(lambda a, m, b: a + m + b, edge, inner, edge)


def basic(max_size: int):
    return text(max_size, _BASIC)


def alnum(min_size: int, max_size: int, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"):
    return st.text(st.sampled_from(alphabet), min_size=min_size, max_size=max_size)


def dec(places: int, lo: str, hi: str):
    """A Decimal with exactly `places` decimals in [lo, hi]."""
    scale = 10**places
    return st.integers(int(Decimal(lo) * scale), int(Decimal(hi) * scale)).map(
        lambda n: Decimal(n).scaleb(-places)
    )


def dec_2_to_8(lo: str, hi: str):
    return st.integers(2, 8).flatmap(lambda p: dec(p, lo, hi))


dates = st.dates(date(2000, 1, 1), date(2025, 12, 31))  # on or before any reception date

# --- identifiers with correct check digits

# a partita IVA: a 7-digit number (never all zeros) + the 3-digit office code, + check digit
partita_iva = st.builds(
    lambda n, office: make_partita_iva(f"{n:07d}{office:03d}"),
    st.integers(1, 9_999_999),
    st.sampled_from([*range(1, 101), 120, 121, 888, 999]),
)
codice_fiscale_pf = st.builds(
    lambda a, b, c, d, e: (lambda s: s + codice_fiscale_check_char(s))(a + b + c + d + e),
    alnum(6, 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    alnum(2, 2, "0123456789"),
    st.sampled_from("ABCDEHLMPRST"),
    st.integers(1, 71).map(lambda n: f"{n:02d}"),
    st.builds(lambda a, n: a + n, st.sampled_from("ABCDEFGHILM"), alnum(3, 3, "0123456789")),
)
foreign_country = st.sampled_from(["FR", "DE", "ES", "AT", "SM", "US", "CH"])
it_vat = st.builds(VatId, st.just("IT"), partita_iva)
foreign_vat = st.builds(VatId, foreign_country, alnum(2, 28))

address = st.builds(
    Address,
    street=text(60),
    postal_code=alnum(5, 5, "0123456789"),
    city=text(60),
    country=st.just("IT") | foreign_country,
    number=st.none() | basic(8),
    province=st.none() | alnum(2, 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
)


def _names(company_max: int = 80):
    return st.one_of(
        st.fixed_dictionaries({"company_name": text(company_max)}),
        st.fixed_dictionaries({"first_name": text(60), "last_name": text(60)}),
    )


def supplier(regimes: tuple[str, ...]):
    """An Italian supplier (SdI's senders are): VAT number, optional fiscal code."""
    return st.builds(
        lambda piva, cf, names, a, r: Party(
            vat=VatId("IT", piva), fiscal_code=cf(piva), address=a, regime_fiscale=r, **names
        ),
        partita_iva,
        st.sampled_from([lambda p: None, lambda p: p]),
        _names(),
        address,
        st.sampled_from(regimes),
    )


customer_ord = st.builds(
    lambda ids, names, a: Party(vat=ids[0], fiscal_code=ids[1], address=a, **names),
    st.one_of(
        st.tuples(it_vat, st.none()),
        st.tuples(it_vat, partita_iva),
        st.tuples(st.none(), codice_fiscale_pf),
        st.tuples(foreign_vat, st.none()),
    ),
    _names(),
    address,
)


def _transmission(fmt: str, sender: VatId):
    if fmt == "FPA12":
        cd = alnum(6, 6)
        pec = st.none()
    else:
        cd = alnum(7, 7).filter(lambda c: c != "XXXXXXX")
        pec = st.none() | st.just("fatture@pec.cliente.example.it")
    return st.builds(Transmission, st.just(sender), alnum(1, 5, "ABCabc0123456789"), cd,
                     st.just(fmt), pec)


# --- ordinary invoices (FPA12, FPR12)

ORD_NATURE = tuple(n for n in code_list(ORD_XSD, "NaturaType") if n not in ("N2", "N3", "N6"))
rate = st.sampled_from([Decimal("4.00"), Decimal("5.00"), Decimal("10.00"), Decimal("22.00")]) \
    | dec(2, "1.00", "100.00")
vat_rate_natura = st.one_of(
    st.tuples(rate, st.none()),
    st.tuples(st.just(Decimal("0.00")), st.sampled_from(ORD_NATURE)),
)
discount = st.one_of(
    st.builds(Discount, codes("TipoScontoMaggiorazioneType"), dec(2, "0.01", "50.00"),
              st.none()),
    st.builds(Discount, codes("TipoScontoMaggiorazioneType"), st.none(),
              dec_2_to_8("0.01", "100")),
)


@st.composite
def line_ord(draw, number: int) -> Line:
    unit_price = draw(dec_2_to_8("-1000", "100000"))
    quantity = draw(st.none() | dec_2_to_8("0.01", "1000"))
    discounts = tuple(draw(st.lists(discount, max_size=2)))
    vat_rate, natura = draw(vat_rate_natura)
    start = draw(st.none() | dates)
    return Line(
        number=number,
        description=draw(text(1000)),
        total_price=line_total(unit_price, quantity, discounts),
        vat_rate=vat_rate,
        unit_price=unit_price,
        quantity=quantity,
        unit=draw(st.none() | basic(10)),
        natura=natura,
        withholding=draw(st.booleans()),
        discounts=discounts,
        codes=tuple(draw(st.lists(st.builds(ArticleCode, basic(35), text(35)), max_size=2))),
        period_start=start,
        period_end=None if start is None else draw(st.dates(start, date(2030, 12, 31))),
    )


@st.composite
def pension_fund(draw) -> PensionFund:
    vat_rate, natura = draw(vat_rate_natura)
    return PensionFund(
        kind=draw(codes("TipoCassaType")),
        rate=draw(dec(2, "0.00", "10.00")),
        amount=draw(dec(2, "0.00", "10000.00")),
        vat_rate=vat_rate,
        taxable=draw(st.none() | dec(2, "0.00", "100000.00")),
        withholding=draw(st.booleans()),
        natura=natura,
    )


attachment = st.builds(
    Attachment,
    text(60),
    st.binary(max_size=120),
    st.none() | st.just("ZIP"),
    st.none() | st.sampled_from(["PDF", "TXT", "XML"]),
    st.none() | text(100),
)


@st.composite
def linked_document(draw, on: date) -> LinkedDocument:
    kind = draw(st.sampled_from(LINKED_KINDS))
    when = draw(st.none() | st.dates(date(2000, 1, 1), on))  # an invoice it follows (00418)
    return LinkedDocument(
        kind=kind,
        id=draw(basic(20)),
        date=when,
        line_numbers=tuple(draw(st.lists(st.integers(1, 9999), max_size=3))),
        num_item=draw(st.none() | basic(20)),
        codice_commessa=draw(st.none() | basic(100)),
        cup=draw(st.none() | basic(15)),
        cig=draw(st.none() | basic(15)),
    )


@st.composite
def body_ord(draw, number: str) -> Body:
    on = draw(dates)
    lines = tuple(draw(line_ord(i)) for i in range(1, draw(st.integers(1, 4)) + 1))
    funds = tuple(draw(st.lists(pension_fund(), max_size=2)))
    summary = summarize_vat(lines, funds, esigibilita=draw(codes("EsigibilitaIVAType")))
    if any(s.natura and s.natura.startswith("N6") for s in summary):  # 00420: N6 never with S
        summary = tuple(
            replace(s, esigibilita="I") if s.esigibilita == "S" else s for s in summary
        )
    total = sum((s.taxable + s.tax for s in summary), Decimal("0"))
    withholdings = ()
    if any(ln.withholding for ln in lines) or any(pf.withholding for pf in funds) \
            or draw(st.booleans()):
        kinds = draw(st.lists(codes("TipoRitenutaType"), min_size=1, max_size=2, unique=True))
        withholdings = tuple(
            Withholding(k, draw(dec(2, "0.00", "10000.00")), draw(dec(2, "0.00", "50.00")),
                        draw(codes("CausalePagamentoType")))
            for k in kinds
        )
    details = st.builds(
        PaymentDetail,
        codes("ModalitaPagamentoType"),
        st.just(total),
        st.none() | st.dates(on, date(2030, 12, 31)),
        st.none() | st.just("IT60X0542811101000000123456"),
        st.none() | st.sampled_from(["BCITITMM", "UNCRITMMXXX"]),
        st.none() | text(80),
        st.none() | text(200),
        st.none() | st.integers(0, 999),
    )
    linked = draw(st.lists(linked_document(on), max_size=3))
    return Body(
        document_type=draw(st.sampled_from(["TD01", "TD02", "TD04", "TD05", "TD06", "TD24"])),
        currency=draw(st.sampled_from(["EUR", "USD", "CHF"])),
        date=on,
        number=number,
        lines=lines,
        vat_summary=summary,
        total=draw(st.none() | st.just(total)),
        causale=tuple(draw(st.lists(text(200), max_size=2))),
        withholdings=withholdings,
        pension_funds=funds,
        stamp_duty=draw(st.none() | st.builds(StampDuty, st.none() | st.just(Decimal("2.00")))),
        discounts=tuple(draw(st.lists(discount, max_size=2))),
        payments=tuple(draw(st.lists(
            st.builds(Payment, codes("CondizioniPagamentoType"),
                      st.lists(details, min_size=1, max_size=2).map(tuple)),
            max_size=2,
        ))),
        linked_documents=tuple(sorted(linked, key=lambda d: LINKED_KINDS.index(d.kind))),
        attachments=tuple(draw(st.lists(attachment, max_size=2))),
    )


def _numbers(draw, count: int) -> list[str]:
    """Distinct invoice numbers with a digit (00425), distinct within the lotto (00409)."""
    return draw(st.lists(
        st.builds(lambda p, n: f"{p}{n}", st.sampled_from(["", "FT/", "2025-", "A"]),
                  st.integers(1, 99999)),
        min_size=count, max_size=count, unique=True,
    ))


@st.composite
def valid_ordinary(draw, fmt: str | None = None) -> InvoiceDocument:
    fmt = fmt or draw(st.sampled_from(["FPA12", "FPR12"]))
    sup = draw(supplier(code_list(ORD_XSD, "RegimeFiscaleType")))
    cust = draw(customer_ord)
    numbers = _numbers(draw, draw(st.integers(1, 2)))
    return InvoiceDocument(
        format=fmt,
        transmission=draw(_transmission(fmt, sup.vat)),
        supplier=sup,
        customer=cust,
        bodies=tuple(draw(body_ord(n)) for n in numbers),
    )


# --- simplified invoices (FSM10)

FSM_NATURE = tuple(n for n in code_list(FSM_XSD, "NaturaType") if n not in ("N2", "N3"))


@st.composite
def line_fsm(draw, number: int) -> Line:
    amount = draw(dec(2, "0.01", "100.00"))  # at most 4 lines: under 00460's 400.00
    kind = draw(st.sampled_from(["rate", "tax", "both", "natura"]))
    r = draw(rate)
    tax = (amount * r / (100 + r)).quantize(Decimal("0.01"))
    return Line(
        number=number,
        description=draw(text(1000)),
        total_price=amount,
        vat_rate=r if kind in ("rate", "both") else None,
        vat_amount=tax if kind in ("tax", "both") else (
            Decimal("0.00") if kind == "natura" else None),
        natura=draw(st.sampled_from(FSM_NATURE)) if kind == "natura" else None,
        legal_reference=draw(st.none() | text(100)),
    )


customer_fsm = st.builds(
    lambda ids, names, a: Party(vat=ids[0], fiscal_code=ids[1], address=a,
                                **(names if a is not None else {})),
    st.one_of(
        st.tuples(it_vat, st.none()),
        st.tuples(st.none(), codice_fiscale_pf),
        st.tuples(it_vat, partita_iva),
    ),
    _names(),
    st.none() | address,  # AltriDatiIdentificativi: a name and a Sede, or nothing
)


@st.composite
def body_fsm(draw, number: str) -> Body:
    on = draw(dates)
    kind = draw(st.sampled_from(code_list(FSM_XSD, "TipoDocumentoType")))
    linked = ()
    if kind != "TD07" or draw(st.booleans()):
        linked = (LinkedDocument("DatiFatturaRettificata", draw(basic(20)),
                                 draw(st.dates(date(2000, 1, 1), on)),
                                 description=draw(text(1000))),)
    return Body(
        document_type=kind,
        currency="EUR",
        date=on,
        number=number,
        lines=tuple(draw(line_fsm(i)) for i in range(1, draw(st.integers(1, 4)) + 1)),
        stamp_duty=draw(st.none() | st.just(StampDuty())),
        linked_documents=linked,
        attachments=tuple(draw(st.lists(attachment, max_size=1))),
    )


@st.composite
def valid_simplified(draw) -> InvoiceDocument:
    sup = draw(supplier(code_list(FSM_XSD, "RegimeFiscaleType")))
    numbers = _numbers(draw, draw(st.integers(1, 2)))
    return InvoiceDocument(
        format="FSM10",
        transmission=draw(_transmission("FSM10", sup.vat)),
        supplier=sup,
        customer=draw(customer_fsm),
        bodies=tuple(draw(body_fsm(n)) for n in numbers),
    )


valid_documents = valid_ordinary() | valid_simplified()
