"""Writing then reading gives back the same model: fixed samples and hypothesis-made ones."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    VatSummary,
    Withholding,
    read_invoice,
    write_invoice,
)
from wpec_invoicing.fatturapa.model import LINKED_KINDS
from wpec_invoicing.fatturapa.samples import sample_invoice

from .conftest import GOOD_NAME


@pytest.mark.parametrize("fmt", ["FPR12", "FSM10"])
@pytest.mark.parametrize("bodies", [1, 3])
def test_sample_is_valid_and_reads_back_equal(fmt, bodies):
    doc = sample_invoice(format=fmt, lines=4, bodies=bodies)
    report = read_invoice(write_invoice(doc), file_name=GOOD_NAME)
    assert report.error is None
    assert report.schema_errors == ()
    assert report.checks == ()
    assert report.valid
    assert report.format == fmt
    assert report.document == doc


def test_signed_fpa12_is_valid_and_reads_back_equal(signer):
    doc = sample_invoice(format="FPA12", lines=2)
    report = read_invoice(signer.sign(write_invoice(doc)), trust=signer.trust,
                          file_name="IT01234567897_00001.xml.p7m")
    assert report.valid, (report.schema_errors, report.checks)
    assert report.document == doc
    assert report.format == "FPA12"


def test_lotto_with_200_lines_each():
    doc = sample_invoice(lines=200, bodies=2)
    report = read_invoice(write_invoice(doc))
    assert report.valid
    assert [len(b.lines) for b in report.document.bodies] == [200, 200]
    assert report.document == doc


# ------------------------------------------------------------------ hypothesis

_ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789àèéìòùç.,-/'&<>\"")
)


def text(max_size=20):
    inner = st.text(_ALPHABET | st.just(" "), max_size=max_size - 2)
    return st.builds(lambda a, m, b: a + m + b, _ALPHABET, inner, _ALPHABET)


def opt(strategy):
    return st.none() | strategy


def dec(places=2, lo=-10**6, hi=10**6):
    return st.integers(lo * 10**places, hi * 10**places).map(
        lambda n: Decimal(n).scaleb(-places)
    )


amount = dec(2)
positive = dec(2, 0)
rate = dec(2, 0, 100)
amount8 = st.integers(2, 8).flatmap(lambda p: dec(p))
qty = st.integers(2, 8).flatmap(lambda p: dec(p, 0))
dates = st.dates(date(1990, 1, 1), date(2030, 12, 31))
country = st.sampled_from(["IT", "FR", "DE", "SM", "US"])
code = st.text(st.sampled_from("0123456789ABCDEFX"), min_size=2, max_size=16)
vat = st.builds(VatId, country, code)
natura = opt(st.sampled_from(["N1", "N2.2", "N3.1", "N4", "N6.3", "N7"]))
address = st.builds(Address, text(), st.text("0123456789", min_size=5, max_size=5), text(),
                    country, opt(text(8)), opt(st.sampled_from(["RM", "MI", "TO"])))


def party(supplier: bool):
    names = st.one_of(
        st.fixed_dictionaries({"company_name": text(40)}),
        st.fixed_dictionaries({"first_name": text(), "last_name": text()}),
    )
    return st.builds(
        lambda v, cf, n, a, r: Party(vat=v, fiscal_code=cf, address=a, regime_fiscale=r, **n),
        vat if supplier else opt(vat),
        opt(st.sampled_from(["RSSMRA85T10A562S", "01234567897"])),
        names,
        address if supplier else opt(address),
        st.sampled_from(["RF01", "RF19", "RF20"]) if supplier else st.none(),
    )


discount = st.builds(Discount, st.sampled_from(["SC", "MG"]), opt(rate), opt(amount8))
line_ord = st.builds(
    Line,
    number=st.integers(1, 9999),
    description=text(60),
    total_price=amount8,
    vat_rate=rate,
    unit_price=amount8,
    quantity=opt(qty),
    unit=opt(text(10)),
    natura=natura,
    withholding=st.booleans(),
    discounts=st.lists(discount, max_size=2).map(tuple),
    codes=st.lists(st.builds(ArticleCode, text(10), text(10)), max_size=2).map(tuple),
    period_start=opt(dates),
    period_end=opt(dates),
)
summary = st.builds(VatSummary, rate, amount, amount, natura,
                    opt(st.sampled_from(["I", "D", "S"])), opt(text(50)), opt(amount),
                    opt(amount8))
linked = st.builds(
    LinkedDocument,
    st.sampled_from(LINKED_KINDS),
    text(20),
    opt(dates),
    st.lists(st.integers(1, 9999), max_size=3).map(tuple),
    opt(text(20)),
    opt(text(50)),
    opt(text(15)),
    opt(text(15)),
)
attachment = st.builds(Attachment, text(30), st.binary(max_size=200), opt(st.just("ZIP")),
                       opt(st.just("PDF")), opt(text(40)))
detail = st.builds(PaymentDetail, st.sampled_from(["MP01", "MP05", "MP12"]), amount, opt(dates),
                   opt(st.just("IT60X0542811101000000123456")), opt(st.just("BCITITMM")),
                   opt(text(40)), opt(text(40)), opt(st.integers(0, 999)))
body_ord = st.builds(
    Body,
    document_type=st.sampled_from(["TD01", "TD04", "TD24"]),
    currency=st.sampled_from(["EUR", "USD"]),
    date=dates,
    number=text(20),
    lines=st.lists(line_ord, min_size=1, max_size=4).map(tuple),
    vat_summary=st.lists(summary, min_size=1, max_size=3).map(tuple),
    total=opt(amount),
    rounding=opt(amount),
    causale=st.lists(text(100), max_size=2).map(tuple),
    withholdings=st.lists(st.builds(Withholding, st.sampled_from(["RT01", "RT02"]), amount,
                                    rate, st.sampled_from(["A", "ZO"])), max_size=2).map(tuple),
    pension_funds=st.lists(st.builds(PensionFund, st.sampled_from(["TC01", "TC22"]), rate,
                                     amount, rate, opt(amount), st.booleans(), natura),
                           max_size=2).map(tuple),
    stamp_duty=opt(st.builds(StampDuty, opt(positive))),
    discounts=st.lists(discount, max_size=2).map(tuple),
    payments=st.lists(st.builds(Payment, st.sampled_from(["TP01", "TP02"]),
                                st.lists(detail, min_size=1, max_size=2).map(tuple)),
                      max_size=2).map(tuple),
    linked_documents=st.lists(linked, max_size=3).map(
        lambda ls: tuple(sorted(ls, key=lambda d: LINKED_KINDS.index(d.kind)))
    ),
    attachments=st.lists(attachment, max_size=2).map(tuple),
)
transmission = st.builds(Transmission, vat, st.text(st.sampled_from("0123456789AB"),
                                                    min_size=1, max_size=5),
                         st.sampled_from(["0000000", "ABC1234", "UFABCD"]),
                         st.sampled_from(["FPA12", "FPR12"]), opt(st.just("pec@pec.example.it")))
doc_ord = st.builds(InvoiceDocument, st.sampled_from(["FPA12", "FPR12"]), transmission,
                    party(True), party(False), st.lists(body_ord, min_size=1, max_size=2)
                    .map(tuple))


def _fsm_lines(n_and_lines):
    return tuple(
        Line(number=i, description=d, total_price=p, vat_rate=r, vat_amount=a, natura=nat,
             legal_reference=ref)
        for i, (d, p, r, a, nat, ref) in enumerate(n_and_lines, start=1)
    )


line_fsm = st.tuples(text(60), amount, opt(rate), opt(amount), natura, opt(text(40)))
body_fsm = st.builds(
    Body,
    document_type=st.sampled_from(["TD07", "TD08", "TD09"]),
    currency=st.just("EUR"),
    date=dates,
    number=text(20),
    lines=st.lists(line_fsm, min_size=1, max_size=3).map(_fsm_lines),
    stamp_duty=opt(st.just(StampDuty())),
    linked_documents=opt(st.builds(LinkedDocument, st.just("DatiFatturaRettificata"), text(20),
                                   dates, description=text(100))).map(
        lambda d: () if d is None else (d,)
    ),
    attachments=st.lists(attachment, max_size=1).map(tuple),
)
doc_fsm = st.builds(
    InvoiceDocument, st.just("FSM10"), transmission, party(True), party(False),
    st.lists(body_fsm, min_size=1, max_size=2).map(tuple),
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(doc_ord | doc_fsm)
def test_read_of_write_is_identity(doc):
    report = read_invoice(write_invoice(doc))
    assert report.readable, report.error
    assert report.document == doc


def test_threads_validating_at_once_keep_their_own_errors():
    from concurrent.futures import ThreadPoolExecutor

    good = write_invoice(sample_invoice(lines=5))
    bad = good.replace(b"<Divisa>EUR</Divisa>", b"<Divisa>EURO</Divisa>")
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(read_invoice, [good, bad] * 40))
    assert [r.error for r in reports if r.error] == []
    assert all(r.valid for r in reports[::2])
    for r in reports[1::2]:
        assert r.codes == ("00200",), r.checks
        assert "EURO" in r.schema_errors[0].message, r.schema_errors
