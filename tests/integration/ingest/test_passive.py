"""Passive invoice verification: for us, supplier registry, duplicates, totals, signatures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.integration.ingest.conftest import make_config, open_store
from tests.integration.ingest.factory import SUPPLIER_VAT
from wpec_invoicing.fatturapa.samples import PERSON
from wpec_invoicing.rules.passive import register_invoice, reverify
from wpec_invoicing.rules.suppliers import load_suppliers_text
from wpec_invoicing.store.models import ReceivedInvoice

SUPPLIERS = f"vat;name;status\n{SUPPLIER_VAT};Fornitore Demo;known\n"


@pytest.fixture
def env(tmp_path: Path, db_url: str):
    config = make_config(tmp_path, db_url=db_url)
    store = open_store(config)
    yield config, store
    store.close()


def _register(env, data: bytes, name: str = f"{SUPPLIER_VAT}_00001.xml", **kw):
    config, store = env
    with store.session() as s:
        inv, created = register_invoice(s, config, store.archive, data, file_name=name,
                                        source="import", **kw)
        return inv, created


def _codes(inv: ReceivedInvoice) -> set[str]:
    return {r["code"] for r in inv.reasons or []}


def test_known_supplier_valid_invoice_for_us_is_verified(env, factory) -> None:
    _config, store = env
    with store.session() as s:
        assert load_suppliers_text(s, SUPPLIERS).added == 1
    inv, created = _register(env, factory.invoice_xml("V-1"))
    assert created and inv.status == "verified" and inv.reasons == []
    assert inv.valid and inv.number == "V-1" and str(inv.total) == "28.06"
    assert inv.supplier_vat == SUPPLIER_VAT and len(inv.lines) == 1
    again, created = _register(env, store.archive.get(inv.file_sha256))
    assert not created and again.id == inv.id  # same bytes: the same record


def test_unknown_and_blocked_suppliers(env, factory) -> None:
    config, store = env
    inv, _ = _register(env, factory.invoice_xml("U-1"))
    assert inv.status == "needs-review" and _codes(inv) == {"supplier-unknown"}
    with store.session() as s:
        load_suppliers_text(s, SUPPLIERS.replace("known", "blocked"))
    blocked, _ = _register(env, factory.invoice_xml("U-2"))
    assert blocked.status == "refused" and _codes(blocked) == {"supplier-blocked"}
    with store.session() as s:  # the registry changes: a re-verification follows it
        result = load_suppliers_text(s, SUPPLIERS)
        assert result.updated == 1
        first = s.get(ReceivedInvoice, inv.id)
        reverify(s, config, first, archive=store.archive)
        assert first.status == "verified"


def test_invoice_not_addressed_to_the_company_is_refused(env, factory) -> None:
    inv, _ = _register(env, factory.invoice_xml("N-1", customer=PERSON))
    assert inv.status == "refused" and "not-for-us" in _codes(inv)


def test_duplicates_by_sdi_id_and_by_number(env, factory) -> None:
    _config, store = env
    with store.session() as s:
        load_suppliers_text(s, SUPPLIERS)
    first, _ = _register(env, factory.invoice_xml("D-1"), identificativo_sdi="999")
    assert first.status == "verified"
    # A different file (other progressivo) carrying the same invoice number/date/type.
    same_number, _ = _register(env, factory.invoice_xml("D-1"))
    assert same_number.status == "refused" and "duplicate" in _codes(same_number)
    assert same_number.duplicate_of == first.id
    same_sdi, _ = _register(env, factory.invoice_xml("D-2"), identificativo_sdi="999")
    assert same_sdi.status == "refused"
    assert "IdentificativoSdI" in same_sdi.reasons[0]["message"]


def test_same_file_under_another_name_is_the_same_record(env, factory) -> None:
    """A file-hash duplicate: the same bytes renamed (a re-sent copy, a manual rename) are
    caught by hash, whatever the name; nothing new is created, the first name is kept."""
    from sqlalchemy import func, select

    _config, store = env
    with store.session() as s:
        load_suppliers_text(s, SUPPLIERS)
    data = factory.invoice_xml("H-1")
    first, created = _register(env, data, name=f"{SUPPLIER_VAT}_00001.xml")
    assert created and first.status == "verified"
    renamed, created = _register(env, data, name=f"{SUPPLIER_VAT}_0000Z.xml")
    assert not created and renamed.id == first.id
    assert renamed.file_name == f"{SUPPLIER_VAT}_00001.xml" and renamed.status == "verified"
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(ReceivedInvoice)) == 1


def test_inconsistent_totals_need_review(env, factory) -> None:
    _config, store = env
    with store.session() as s:
        load_suppliers_text(s, SUPPLIERS)
    xml = factory.invoice_xml("T-1").replace(
        b"<ImportoTotaleDocumento>28.06<", b"<ImportoTotaleDocumento>99.06<")
    inv, _ = _register(env, xml)
    assert inv.status == "needs-review" and "totals" in _codes(inv)
    assert "99.06" in next(r["message"] for r in inv.reasons if r["code"] == "totals")


def test_unreadable_file_is_refused_with_the_reason(env) -> None:
    inv, _ = _register(env, b"\x00\x01 not xml at all")
    assert inv.status == "refused" and _codes(inv) == {"unreadable"}


def test_broken_envelope_signature_needs_review(env, factory) -> None:
    _config, store = env
    with store.session() as s:
        load_suppliers_text(s, SUPPLIERS)
    inv, _ = _register(env, factory.invoice_xml("S-1"), envelope_signature={
        "present": True, "intact": False, "trusted": None, "reason": "digest mismatch"})
    assert inv.status == "needs-review" and _codes(inv) == {"envelope-signature"}
    assert "digest mismatch" in inv.reasons[0]["message"]


def test_invoice_in_a_message_that_only_looks_like_sdi_needs_review(env, factory) -> None:
    _config, store = env
    with store.session() as s:
        load_suppliers_text(s, SUPPLIERS)
    inv, _ = _register(env, factory.invoice_xml("S-2"), envelope_signature={
        "present": True, "intact": True, "trusted": None, "reason": None,
        "sdi_authentic": False, "sdi_authentic_reason": "certified sender is not SdI"})
    assert inv.status == "needs-review" and _codes(inv) == {"not-from-sdi"}
    assert "certified sender is not SdI" in inv.reasons[0]["message"]


def test_lotto_keeps_every_line(env, factory) -> None:
    from wpec_invoicing.fatturapa import write_invoice
    from wpec_invoicing.fatturapa.samples import sample_invoice

    doc = sample_invoice(bodies=3, lines=2, progressivo="00077")
    doc = dataclasses.replace(doc, bodies=tuple(
        dataclasses.replace(b, number=f"L-{i}") for i, b in enumerate(doc.bodies)))
    inv, _ = _register(env, write_invoice(doc))
    assert inv.bodies == 3 and len(inv.lines) == 6
    assert {line.body_index for line in inv.lines} == {0, 1, 2}


def test_p7m_signature_is_recorded_and_a_broken_one_needs_review(env, factory) -> None:
    from wpec_invoicing.cms import sign_attached
    from wpec_invoicing.cms.certs import issue_certificate, make_ca

    _config, store = env
    with store.session() as s:
        load_suppliers_text(s, SUPPLIERS)
    ca_key, ca_cert = make_ca("Firma Test CA")
    key, cert = issue_certificate(ca_key, ca_cert, "Mario Rossi")
    signed = sign_attached(factory.invoice_xml("P7-1"), key, cert)
    inv, _ = _register(env, signed, name=f"{SUPPLIER_VAT}_00P71.xml.p7m")
    assert inv.signature["present"] and inv.signature["intact"]
    assert inv.status == "verified" and inv.number == "P7-1"
    # Flip one byte inside the signed content: still readable, but the signature is broken.
    tampered_src = sign_attached(factory.invoice_xml("P7-2"), key, cert)
    at = tampered_src.index(b"Servizio di consulenza")
    tampered = tampered_src[:at] + b"X" + tampered_src[at + 1:]
    broken, _ = _register(env, tampered, name=f"{SUPPLIER_VAT}_00P72.xml.p7m")
    assert broken.signature["intact"] is False
    assert broken.status == "needs-review" and "signature-broken" in _codes(broken)


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from wpec_invoicing.errors import InputError  # noqa: E402


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from("vat,fiscal_code;name\tstatus\nknownblockedIT0123"
                                        "456789\"x "), max_size=200))
def test_any_supplier_csv_gives_a_result_or_a_clear_error(tmp_path: Path, text: str) -> None:
    from wpec_invoicing.store.db import Store

    store = Store(f"sqlite:///{tmp_path / 'prop.db'}")
    try:
        with store.session() as s:
            result = load_suppliers_text(s, text)
        assert result.added + result.updated + result.unchanged + len(result.errors) >= 0
    except InputError as exc:
        assert "header row" in str(exc)
    finally:
        store.close()


def test_a_batch_gets_the_verdicts_of_one_file_after_the_other(env, factory) -> None:
    """A sync registers a run's invoices together (`register_invoices`): duplicates within
    the batch, of an invoice kept before it, and the same bytes twice are judged as they
    are registered one by one."""
    from wpec_invoicing.rules.passive import InvoiceFile, register_invoices

    config, store = env
    with store.session() as s:
        load_suppliers_text(s, SUPPLIERS)
    kept, _ = _register(env, factory.invoice_xml("B-0"))
    a = factory.invoice_xml("B-1")
    with store.session() as s:
        def file(data: bytes, code: str, ident: str | None = None) -> InvoiceFile:
            return InvoiceFile(data, f"{SUPPLIER_VAT}_{code}.xml", "pec",
                               identificativo_sdi=ident)

        results = register_invoices(s, config, store.archive, [
            file(a, "0A1", "555"),
            file(factory.invoice_xml("B-1"), "0B1"),  # the same number as a
            file(factory.invoice_xml("B-2"), "0C1", "555"),  # the same SdI id as a
            file(a, "0A2"),  # the same bytes as a
            file(factory.invoice_xml("B-0"), "0D1"),  # the same number as the one kept
            file(factory.invoice_xml("B-3"), "0E1"),
        ])
        (first, c1), (same_number, c2), (same_sdi, c3), (again, c4), (old, c5), (fine, c6) = \
            results
        assert [c1, c2, c3, c4, c5, c6] == [True, True, True, False, True, True]
        assert first.status == "verified" and fine.status == "verified", (first.reasons,
                                                                          fine.reasons)
        assert again is first and first.file_name == f"{SUPPLIER_VAT}_0A1.xml"
        assert same_number.duplicate_of == first.id and "number B-1" in \
            same_number.reasons[0]["message"]
        assert same_sdi.duplicate_of == first.id and "IdentificativoSdI 555" in \
            same_sdi.reasons[0]["message"]
        assert old.duplicate_of == kept.id and old.status == "refused"


def test_the_first_received_stays_the_original_when_verified_again(env, factory) -> None:
    """Re-verifying the first of two duplicates (after the registry changed) must not make
    it a duplicate of the second: only an earlier invoice can be the original."""
    config, store = env
    first, _ = _register(env, factory.invoice_xml("R-1"))
    second, _ = _register(env, factory.invoice_xml("R-1"))
    assert first.status == "needs-review" and second.duplicate_of == first.id
    with store.session() as s:
        load_suppliers_text(s, SUPPLIERS)
        again = s.get(ReceivedInvoice, first.id)
        reverify(s, config, again, archive=store.archive)
        assert again.status == "verified" and again.duplicate_of is None, again.reasons
