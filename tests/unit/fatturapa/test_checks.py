"""Every SdI check of the table: one file that fails it, one close file that passes it.

The parametrization runs over `CHECKS` itself: a check added to the table without a case
here fails `test_every_check_has_cases`, so no rule ships untested.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest

from wpec_invoicing.cms import TrustStore
from wpec_invoicing.fatturapa import (
    CHECKS,
    Address,
    Discount,
    LinkedDocument,
    Party,
    PensionFund,
    VatId,
    VatSummary,
    Withholding,
    read_invoice,
    write_invoice,
)
from wpec_invoicing.fatturapa.samples import CUSTOMER, SUPPLIER, sample_invoice

from .conftest import GOOD_NAME, with_body, with_line

BASE = sample_invoice(format="FPR12", lines=2)
RITENUTA = (Withholding("RT01", D("20.00"), D("20.00"), "A"),)
FOREIGN = Party(
    vat=VatId("FR", "12345678901"),
    company_name="Client Français SARL",
    address=Address("Rue de Rivoli", "75001", "Paris", "FR", number="1"),
)
FOREIGN_SUPPLIER = Party(
    vat=VatId("FR", "99887766554"),
    company_name="Fournisseur SA",
    address=Address("Rue de la Paix", "75002", "Paris", "FR"),
    regime_fiscale="RF01",
)


def doc_case(doc, **kwargs):
    return lambda signer: (write_invoice(doc), {"file_name": GOOD_NAME, **kwargs})


def _cassa(**kw):
    base = {"kind": "TC22", "rate": D("4.00"), "amount": D("10.00"), "vat_rate": D("22.00")}
    return PensionFund(**{**base, **kw})


def _with_cassa(pf, **body_kw):
    return with_body(BASE, pension_funds=(pf,), resummarize=True, **body_kw)


def _summary(doc, **changes):
    s = replace(doc.bodies[0].vat_summary[0], **changes)
    return with_body(doc, vat_summary=(s, *doc.bodies[0].vat_summary[1:]))


def _linked(on):
    return with_body(
        BASE, linked_documents=(LinkedDocument("DatiFattureCollegate", "FT-9", date=on),)
    )


def _doc_type(t, supplier=SUPPLIER, customer=CUSTOMER, **line_kw):
    doc = replace(sample_invoice(lines=1), supplier=supplier, customer=customer)
    doc = with_body(doc, document_type=t)
    return with_line(doc, **line_kw) if line_kw else doc


def _fsm(total, regime="RF01"):
    doc = sample_invoice(format="FSM10")
    doc = replace(doc, supplier=replace(doc.supplier, regime_fiscale=regime))
    line = replace(doc.bodies[0].lines[0], total_price=total)
    return with_body(doc, lines=(line,))


def _p7m(tamper: bool):
    def build(signer):
        p7m = bytearray(signer.sign(write_invoice(sample_invoice(format="FPA12"))))
        if tamper:
            i = p7m.find(b"Cliente Demo")
            p7m[i] = ord("K")
        return bytes(p7m), {"file_name": "IT01234567897_00001.xml.p7m"}

    return build


def _lotto(second_number):
    doc = sample_invoice(lines=1, bodies=2)
    return with_body(doc, 1, number=second_number)


def _sized(target: int):
    """A valid invoice of exactly `target` bytes (an attachment fills it up)."""
    def build(signer):
        from wpec_invoicing.fatturapa import Attachment

        bare = len(write_invoice(with_body(BASE, attachments=(Attachment("a.bin", b""),))))
        fill = (target - bare) // 4 * 3  # base64: 4 characters per 3 bytes
        data = write_invoice(with_body(BASE, attachments=(Attachment("a.bin", b"\0" * fill),)))
        data = data.replace(b"<Causale>", b"<Causale>" + b"x" * (target - len(data)), 1)
        assert len(data) == target
        return data, {"file_name": GOOD_NAME}

    return build


def _signed_by(expired: bool):
    """A p7m signed now by a certificate of the test CA that expired 20 days ago (or not)."""
    def build(signer):
        from datetime import UTC, datetime, timedelta

        from wpec_invoicing.cms import sign_attached
        from wpec_invoicing.cms.certs import issue_certificate, make_ca

        ca_key, ca_cert = make_ca("Expiry Test CA")
        start = datetime.now(UTC) - timedelta(days=30)
        key, cert = issue_certificate(ca_key, ca_cert, "Firmatario Scaduto",
                                      not_before=start, days=10 if expired else 60)
        p7m = sign_attached(write_invoice(sample_invoice(format="FPA12")), key, cert)
        return p7m, {"file_name": "IT01234567897_00001.xml.p7m",
                     "trust": TrustStore([ca_cert])}

    return build


# code -> (failing case, passing case); each case: signer -> (bytes, read_invoice kwargs)
CASES = {
    "00100": (_signed_by(expired=True), _signed_by(expired=False)),
    "00003": (_sized(5 * 1024 * 1024 + 1), _sized(5 * 1024 * 1024)),
    "00001": (
        lambda s: (write_invoice(BASE), {"file_name": "fattura marzo.xml"}),
        lambda s: (write_invoice(BASE), {"file_name": "IT01234567897_0a1Z9.XML"}),
    ),
    "00102": (_p7m(tamper=True), _p7m(tamper=False)),
    "00200": (doc_case(with_body(BASE, number="")), doc_case(BASE)),
    "00300": (
        doc_case(replace(BASE, transmission=replace(BASE.transmission, sender=VatId("IT", "1")))),
        doc_case(replace(BASE, transmission=replace(
            BASE.transmission, sender=VatId("IT", "RSSMRA85T10A562S")))),
    ),
    "00301": (
        doc_case(replace(BASE, supplier=replace(SUPPLIER, vat=VatId("IT", "01234567890")))),
        doc_case(BASE),
    ),
    "00302": (
        doc_case(replace(BASE, supplier=replace(SUPPLIER, fiscal_code="RSSMRA85T10A562X"))),
        doc_case(replace(BASE, supplier=replace(SUPPLIER, fiscal_code="RSSMRA85T10A562S"))),
    ),
    "00305": (
        doc_case(replace(BASE, customer=replace(CUSTOMER, vat=VatId("IT", "00000000000")))),
        doc_case(BASE),
    ),
    "00306": (
        doc_case(replace(BASE, customer=replace(CUSTOMER, fiscal_code="RSSMRA85T10A562A"))),
        doc_case(replace(BASE, customer=replace(CUSTOMER, fiscal_code="12345678903"))),
    ),
    "00311": (
        doc_case(replace(BASE, transmission=replace(BASE.transmission,
                                                    codice_destinatario="abc1234"))),
        doc_case(replace(BASE, transmission=replace(BASE.transmission,
                                                    codice_destinatario="ABC1234"))),
    ),
    "00313": (
        doc_case(replace(BASE, transmission=replace(BASE.transmission,
                                                    codice_destinatario="XXXXXXX"))),
        doc_case(replace(BASE, customer=FOREIGN, transmission=replace(
            BASE.transmission, codice_destinatario="XXXXXXX"))),
    ),
    "00400": (
        doc_case(with_line(BASE, vat_rate=D("0.00"))),
        doc_case(with_line(BASE, vat_rate=D("0.00"), natura="N2.2")),
    ),
    "00401": (
        doc_case(with_line(BASE, natura="N2.2")),
        doc_case(with_body(with_line(BASE, natura="N2.2"), document_type="TD16")),
    ),
    "00403": (
        doc_case(BASE, received=date(2026, 1, 14)),
        doc_case(BASE, received=date(2026, 1, 15)),
    ),
    "00409": (doc_case(_lotto("2026/1")), doc_case(_lotto("2026/2"))),
    "00411": (
        doc_case(with_line(BASE, withholding=True)),
        doc_case(with_body(with_line(BASE, withholding=True), withholdings=RITENUTA)),
    ),
    "00413": (
        doc_case(_with_cassa(_cassa(vat_rate=D("0.00")))),
        doc_case(_with_cassa(_cassa(vat_rate=D("0.00"), natura="N4"))),
    ),
    "00414": (
        doc_case(_with_cassa(_cassa(natura="N4"))),
        doc_case(_with_cassa(_cassa())),
    ),
    "00415": (
        doc_case(_with_cassa(_cassa(withholding=True))),
        doc_case(_with_cassa(_cassa(withholding=True), withholdings=RITENUTA)),
    ),
    "00417": (
        doc_case(replace(BASE, customer=replace(CUSTOMER, vat=None, fiscal_code=None))),
        doc_case(replace(BASE, customer=replace(CUSTOMER, vat=None, fiscal_code="12345678903"))),
    ),
    "00418": (doc_case(_linked(date(2026, 2, 1))), doc_case(_linked(date(2025, 12, 1)))),
    "00419": (
        doc_case(with_line(BASE, 1, vat_rate=D("10.00"), resummarize=False)),
        doc_case(with_line(BASE, 1, vat_rate=D("10.00"))),
    ),
    "00420": (
        doc_case(_summary(with_line(BASE, vat_rate=D("0.00"), natura="N6.3"), esigibilita="S")),
        doc_case(_summary(with_line(BASE, vat_rate=D("0.00"), natura="N6.3"), esigibilita="I")),
    ),
    "00421": (
        doc_case(_summary(BASE, tax=BASE.bodies[0].vat_summary[0].tax + D("1.50"))),
        doc_case(_summary(BASE, tax=BASE.bodies[0].vat_summary[0].tax + D("0.50"))),
    ),
    "00422": (
        doc_case(_summary(BASE, taxable=BASE.bodies[0].vat_summary[0].taxable + D("2.00"))),
        doc_case(_summary(BASE, expenses=D("2.00"),
                          taxable=BASE.bodies[0].vat_summary[0].taxable + D("2.00"))),
    ),
    "00423": (
        doc_case(with_line(BASE, total_price=D("99.00"))),
        doc_case(with_line(BASE, unit_price=D("10.00"), quantity=D("3.00"),
                           discounts=(Discount("SC", percentage=D("10.00")),),
                           total_price=D("27.00"))),
    ),
    "00424": (
        doc_case(with_line(BASE, vat_rate=D("0.22"))),
        doc_case(with_line(BASE, vat_rate=D("22.00"))),
    ),
    "00425": (doc_case(with_body(BASE, number="ABC/X")), doc_case(with_body(BASE, number="A1"))),
    "00427": (
        doc_case(replace(BASE, transmission=replace(BASE.transmission,
                                                    codice_destinatario="ABC123"))),
        doc_case(replace(BASE, transmission=replace(BASE.transmission,
                                                    codice_destinatario="ABC1234"))),
    ),
    "00428": (
        doc_case(replace(BASE, transmission=replace(BASE.transmission, formato="FPA12"))),
        doc_case(BASE),
    ),
    "00429": (
        doc_case(_summary(with_line(BASE, vat_rate=D("0.00"), natura="N2.2"), natura=None)),
        doc_case(with_line(BASE, vat_rate=D("0.00"), natura="N2.2")),
    ),
    "00430": (
        doc_case(_summary(BASE, natura="N2.2")),
        doc_case(BASE),
    ),
    "00437": (
        doc_case(with_body(BASE, discounts=(Discount("SC"),))),
        doc_case(with_body(BASE, discounts=(Discount("SC", amount=D("1.00")),))),
    ),
    "00438": (
        doc_case(with_line(BASE, discounts=(Discount("MG"),))),
        doc_case(with_line(BASE, unit_price=D("10.00"), quantity=D("1.00"),
                           discounts=(Discount("MG", amount=D("2.00")),),
                           total_price=D("12.00"))),
    ),
    "00443": (
        doc_case(with_body(BASE, vat_summary=(
            *BASE.bodies[0].vat_summary, VatSummary(D("10.00"), D("0.00"), D("0.00"))))),
        doc_case(BASE),
    ),
    "00444": (
        doc_case(_summary(with_line(BASE, vat_rate=D("0.00"), natura="N2.2"), natura="N3.1")),
        doc_case(with_line(BASE, vat_rate=D("0.00"), natura="N2.2")),
    ),
    "00445": (
        doc_case(with_line(BASE, vat_rate=D("0.00"), natura="N2")),
        doc_case(with_line(BASE, vat_rate=D("0.00"), natura="N2.1")),
    ),
    "00460": (doc_case(_fsm(D("400.01"))), doc_case(_fsm(D("400.01"), regime="RF19"))),
    "00471": (
        doc_case(_doc_type("TD17", customer=SUPPLIER)),
        doc_case(_doc_type("TD17", supplier=FOREIGN_SUPPLIER)),
    ),
    "00472": (
        doc_case(_doc_type("TD27")),
        doc_case(_doc_type("TD27", customer=SUPPLIER)),
    ),
    "00473": (
        doc_case(_doc_type("TD17")),
        doc_case(_doc_type("TD17", supplier=FOREIGN_SUPPLIER)),
    ),
    "00474": (
        doc_case(_doc_type("TD21", customer=SUPPLIER, vat_rate=D("0.00"), natura="N2.2")),
        doc_case(_doc_type("TD21", customer=SUPPLIER)),
    ),
    "00475": (
        doc_case(_doc_type("TD17", supplier=FOREIGN_SUPPLIER,
                           customer=replace(CUSTOMER, vat=None, fiscal_code="12345678903"))),
        doc_case(_doc_type("TD17", supplier=FOREIGN_SUPPLIER)),
    ),
    "00476": (
        doc_case(replace(BASE, supplier=FOREIGN_SUPPLIER, customer=FOREIGN)),
        doc_case(replace(BASE, customer=FOREIGN)),
    ),
}


def test_every_check_has_cases():
    missing = [c.code for c in CHECKS if c.code not in CASES]
    assert not missing, f"checks without a failing/passing test case: {missing}"
    unknown = set(CASES) - {c.code for c in CHECKS}
    assert not unknown, f"cases for codes not in the table: {unknown}"


@pytest.mark.parametrize("code", [c.code for c in CHECKS])
def test_check_fails_on_the_bad_file(code, signer):
    data, kwargs = CASES[code][0](signer)
    report = read_invoice(data, **{"trust": signer.trust, **kwargs})
    assert code in report.codes, report.checks
    assert not report.valid
    hit = next(c for c in report.checks if c.code == code)
    assert hit.message
    if hit.path:  # a located finding carries the line of the element
        assert hit.line is not None and hit.line > 0


@pytest.mark.parametrize("code", [c.code for c in CHECKS])
def test_check_passes_on_the_good_file(code, signer):
    data, kwargs = CASES[code][1](signer)
    report = read_invoice(data, **{"trust": signer.trust, **kwargs})
    assert code not in report.codes, report.checks


def test_fpa12_must_be_signed(signer):
    report = read_invoice(write_invoice(sample_invoice(format="FPA12")), file_name=GOOD_NAME)
    assert report.codes == ("00102",)
    assert "signed" in report.checks[0].message


def test_check_paths_point_at_the_element():
    doc = with_line(sample_invoice(lines=3), 2, vat_rate=D("0.00"))
    report = read_invoice(write_invoice(doc))
    hit = next(c for c in report.checks if c.code == "00400")
    assert hit.path == "FatturaElettronicaBody[1]/DatiBeniServizi/DettaglioLinee[3]/Natura"
    xml_lines = write_invoice(doc).decode().splitlines()
    # Natura is missing, so the line is the one of its parent DettaglioLinee[3]
    assert "<DettaglioLinee>" in xml_lines[hit.line - 1]


def test_check_start_dates_are_honoured():
    doc = with_line(BASE, vat_rate=D("0.00"), natura="N2")
    before = read_invoice(write_invoice(doc), received=date(2020, 12, 31))
    after = read_invoice(write_invoice(doc), received=date(2021, 1, 1))
    assert "00445" not in before.codes
    assert "00445" in after.codes


def test_00100_is_not_claimed_without_a_trust_store(signer):
    data, kwargs = CASES["00100"][0](signer)
    report = read_invoice(data, file_name=kwargs["file_name"])  # no trust store: not decided
    assert "00100" not in report.codes
    assert report.signature.intact is True and report.signature.trusted is None
    with_trust = read_invoice(data, **kwargs)
    assert with_trust.codes == ("00100",)
    assert "Firmatario Scaduto" in with_trust.checks[0].message
