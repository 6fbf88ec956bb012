"""The outbox's input parsers: any text in → records or a clear error, never a crash."""

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.outbox.invoices import (
    InvoiceRecord,
    RecordError,
    build_document,
    load_records,
    supplier_party,
)
from wpec_invoicing.outbox.mailmerge import TemplateError, parse_template, read_recipients

SUPPLIER = {"street": "Via Roma", "postal_code": "00100", "city": "Roma"}


class Company:
    name = "Azienda Demo S.r.l."
    vat = "IT01234567897"
    fiscal_code = "01234567897"


@settings(max_examples=60)
@given(text=st.text(max_size=300), kind=st.sampled_from(["json", "csv"]))
def test_any_text_gives_records_or_a_record_error(text, kind):
    try:
        records, _supplier = load_records(text, kind=kind)
    except RecordError:
        return
    party = supplier_party(Company(), SUPPLIER, {})
    for record in records:
        with contextlib.suppress(RecordError):
            build_document(record, supplier=party, number="1", progressivo="00001",
                           today=__import__("datetime").date(2026, 1, 1))


values = st.one_of(st.none(), st.integers(), st.text(max_size=12), st.booleans(),
                   st.sampled_from(["1e999", "NaN", "-Infinity", "2026-13-45", "12,5"]),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4),
                                                                         st.integers(),
                                                                         max_size=2))


@settings(max_examples=80)
@given(data=st.dictionaries(st.sampled_from(["customer", "lines", "date", "format", "payment",
                                             "number", "causale", "document_type"]),
                            values, max_size=6),
       line=st.dictionaries(st.sampled_from(["description", "quantity", "unit_price",
                                             "vat_rate", "natura"]), values, max_size=5))
def test_any_json_record_gives_a_document_or_a_record_error(data, line):
    party = supplier_party(Company(), SUPPLIER, {})
    if line:
        data = {**data, "customer": {"name": "X", "street": "s", "postal_code": "1",
                                     "city": "c"}, "lines": [line]}
    with contextlib.suppress(RecordError):
        build_document(InvoiceRecord("r", data), supplier=party, number="1",
                       progressivo="00001", today=__import__("datetime").date(2026, 1, 1))


def test_record_errors_name_the_record_and_the_field():
    party = supplier_party(Company(), SUPPLIER, {})
    record = InvoiceRecord("ORD-7", {"customer": {"name": "X", "street": "s",
                                                  "postal_code": "1", "city": "c"},
                                     "lines": [{"description": "d", "unit_price": "abc"}]})
    with pytest.raises(RecordError, match=r"ORD-7: line 1 unit_price: not a number"):
        build_document(record, supplier=party, number="1", progressivo="00001",
                       today=__import__("datetime").date(2026, 1, 1))
    for bad in ("1e999", "Infinity", "NaN"):
        record.data["lines"][0]["unit_price"] = bad
        with pytest.raises(RecordError, match="not a usable amount"):
            build_document(record, supplier=party, number="1", progressivo="00001",
                           today=__import__("datetime").date(2026, 1, 1))
    with pytest.raises(RecordError, match="supplier"):
        supplier_party(Company(), {}, {})
    with pytest.raises(RecordError, match="too deeply"):
        load_records("[" * 100_000 + "]" * 100_000, kind="json")
    records, supplier = load_records(json.dumps({"supplier": SUPPLIER, "invoices": [{}]}),
                                     kind="json")
    assert supplier == SUPPLIER and records[0].ref == "#1"


@settings(max_examples=60)
@given(st.text(max_size=200))
def test_any_template_or_recipient_list_gives_a_value_or_a_template_error(text):
    for fn in (parse_template, read_recipients):
        with contextlib.suppress(TemplateError):
            fn(text)


def test_row_attachments_by_column_or_folder_never_outside(tmp_path):
    from wpec_invoicing.outbox.mailmerge import row_attachments

    (tmp_path / "a.pdf").write_bytes(b"A")
    (tmp_path / "rossi@pec.it").mkdir()
    (tmp_path / "rossi@pec.it" / "b.pdf").write_bytes(b"B")
    (tmp_path.parent / "secret.txt").write_text("no")
    files, problems = row_attachments({"attachments": "a.pdf"}, "x@pec.it", tmp_path)
    assert files == [("a.pdf", b"A")] and problems == []
    files, problems = row_attachments({}, "rossi@pec.it", tmp_path)
    assert files == [("b.pdf", b"B")]
    files, problems = row_attachments({"attachments": "../secret.txt;nope.pdf"}, "x",
                                      tmp_path)
    assert files == [] and len(problems) == 2
    assert "outside" in problems[0] and "not found" in problems[1]
