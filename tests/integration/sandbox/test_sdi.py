"""Each SdI outcome of the sandbox, on both IMAP servers: a real PEC to sdi01 (smtplib), the
answer read back with the PEC engine (signature trusted against the sandbox CA, SdI payload)."""

from __future__ import annotations

import itertools

import pytest

from tests.integration.sandbox.helpers import (
    assert_signed_by_sandbox,
    message,
    new_box,
    read_box,
    send,
    wait_box,
)
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.sandbox import Sandbox
from wpec_invoicing.sandbox.accounts import SDI_DEDICATED, SDI_FIRST
from wpec_invoicing.sandbox.invoices import (
    OTHER_CUSTOMER,
    SUPPLIERS,
    generate_batch,
    sign_p7m,
    supplier_invoice,
)
from wpec_invoicing.sdi import is_sdi_address

_prog = itertools.count(1)


def _progressivo() -> str:
    return f"{next(_prog):05d}"


def _send_to_sdi(sb: Sandbox, sender: str, name: str, data: bytes, to: str = SDI_FIRST) -> None:
    raw = message(sender, [to], name, attachments=[(name, data, "application/xml")])
    send(sb, sender, [to], raw)
    assert sb.wait_idle(20)


def _sdi_answers(sb: Sandbox, box: str) -> list:
    msgs = [m for m in read_box(sb, box) if m.kind == "posta-certificata" and m.sdi]
    for m in msgs:
        assert_signed_by_sandbox(m)
        assert is_sdi_address(m.sender) and m.sender in SDI_DEDICATED  # a dedicated sdiNN
    return msgs


def test_valid_invoice_is_delivered_and_rc_comes_back(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "attivo")
    customer, _ = new_box(sb, "cliente")
    name, doc = supplier_invoice(supplier=SUPPLIERS[1], customer=OTHER_CUSTOMER,
                                 progressivo=_progressivo(), pec_destinatario=customer)
    data = write_invoice(doc)
    _send_to_sdi(sb, sender, name, data)

    mine = read_box(sb, sender)
    provider_level = sorted(m.kind for m in mine if m.kind != "posta-certificata")
    assert provider_level == ["accettazione", "avvenuta-consegna"]  # SdI's box got it
    (rc,) = _sdi_answers(sb, sender)
    assert rc.sdi.kind == "RC"
    assert rc.sdi.notification.nome_file == name
    assert rc.sdi.identificativo_sdi

    (delivered,) = _sdi_answers(sb, customer)
    assert delivered.sdi.kind == "invoice"
    assert delivered.sdi.invoice_files == (name,)
    assert delivered.sdi.files[name] == data  # byte for byte
    assert delivered.sdi.metadata_file == name.replace(".xml", "_MT_001.xml")
    assert delivered.sdi.identificativo_sdi == rc.sdi.identificativo_sdi
    assert delivered.subject.startswith("POSTA CERTIFICATA: Invio File ")

    # Later files go to the dedicated address SdI answered from: same service.
    name2, doc2 = supplier_invoice(supplier=SUPPLIERS[1], customer=OTHER_CUSTOMER,
                                   progressivo=_progressivo(), pec_destinatario=customer)
    _send_to_sdi(sb, sender, name2, write_invoice(doc2), to=rc.sender)
    assert sorted(m.sdi.kind for m in _sdi_answers(sb, sender)) == ["RC", "RC"]


def _defective(defect: str, sb: Sandbox) -> tuple[str, bytes]:
    (inv,) = generate_batch(1, seed=7, invalid_ratio=1.0, defects=(defect,),
                            signer=sb.invoice_signer(),
                            first_progressivo=int(_progressivo()))
    return inv.file_name, inv.data


@pytest.mark.parametrize(("defect", "code"), [
    ("file-name", "00001"),
    ("signature", "00102"),
    ("xml", "00200"),
    ("totals", "00423"),
    ("natura", "00400"),
])
def test_rejected_file_gets_ns_with_error_list(sb: Sandbox, defect: str, code: str) -> None:
    sender, _ = new_box(sb, "attivo")
    name, data = _defective(defect, sb)
    _send_to_sdi(sb, sender, name, data)
    (ns,) = _sdi_answers(sb, sender)
    assert ns.sdi.kind == "NS"
    codes = [e.code for e in ns.sdi.errors]
    assert code in codes
    assert all(e.description for e in ns.sdi.errors)


def test_duplicate_file_name_gets_00002(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "attivo")
    customer, _ = new_box(sb, "cliente")
    name, doc = supplier_invoice(supplier=SUPPLIERS[2], customer=OTHER_CUSTOMER,
                                 progressivo=_progressivo(), pec_destinatario=customer)
    _send_to_sdi(sb, sender, name, write_invoice(doc))
    _send_to_sdi(sb, sender, name, write_invoice(doc))
    kinds = sorted((m.sdi.kind, tuple(e.code for e in m.sdi.errors))
                   for m in _sdi_answers(sb, sender))
    assert kinds == [("NS", ("00002",)), ("RC", ())]


def test_file_over_5_mb_gets_00003(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "attivo")
    name, doc = supplier_invoice(supplier=SUPPLIERS[3], progressivo=_progressivo())
    data = write_invoice(doc)
    padded = data.replace(b"</FatturaElettronicaHeader>",
                          b"<!--" + b"x" * (5 * 1024 * 1024) + b"-->"
                          b"</FatturaElettronicaHeader>", 1)
    _send_to_sdi(sb, sender, name, padded)
    (ns,) = _sdi_answers(sb, sender)
    assert [e.code for e in ns.sdi.errors] == ["00003"]


def test_no_recipient_gets_mc(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "attivo")
    # Codice 0000000, no PEC address, customer not in SdI's directory: nowhere to deliver.
    name, doc = supplier_invoice(supplier=SUPPLIERS[0], customer=OTHER_CUSTOMER,
                                 progressivo=_progressivo())
    _send_to_sdi(sb, sender, name, write_invoice(doc))
    (mc,) = _sdi_answers(sb, sender)
    assert mc.sdi.kind == "MC"
    assert mc.sdi.notification.nome_file == name


def test_recipient_found_by_codice_destinatario_in_the_directory(sb: Sandbox) -> None:
    """No PECDestinatario: SdI looks the CodiceDestinatario up in its directory (the
    `--route CODE=ADDRESS` of `wpec sandbox up`) and delivers there."""
    sender, _ = new_box(sb, "attivo")
    customer, _ = new_box(sb, "cliente")
    sb.sdi.routing["XYZ7890"] = customer
    name, doc = supplier_invoice(supplier=SUPPLIERS[1], customer=OTHER_CUSTOMER,
                                 progressivo=_progressivo(), codice_destinatario="XYZ7890")
    assert doc.transmission.pec_destinatario is None
    data = write_invoice(doc)
    _send_to_sdi(sb, sender, name, data)
    (rc,) = _sdi_answers(sb, sender)
    assert rc.sdi.kind == "RC"
    assert rc.sdi.notification.destinatario_codice == "XYZ7890"
    (delivered,) = _sdi_answers(sb, customer)
    assert delivered.sdi.kind == "invoice" and delivered.sdi.files[name] == data
    assert delivered.sdi.metadata.codice_destinatario == "XYZ7890"


def test_recipient_found_by_customer_vat_in_the_directory(sb: Sandbox) -> None:
    """Codice 0000000 and no PEC address: the customer's VAT number (IdPaese + IdCodice) in
    SdI's directory still finds the recipient's box."""
    sender, _ = new_box(sb, "attivo")
    customer, _ = new_box(sb, "cliente")
    buyer = SUPPLIERS[3]  # any party with a valid VAT number, not in the default directory
    key = f"{buyer.vat.country}{buyer.vat.code}"
    assert key not in sb.sdi.routing
    sb.sdi.routing[key] = customer
    name, doc = supplier_invoice(supplier=SUPPLIERS[1], customer=buyer,
                                 progressivo=_progressivo())
    assert doc.transmission.codice_destinatario == "0000000"
    _send_to_sdi(sb, sender, name, write_invoice(doc))
    assert [m.sdi.kind for m in _sdi_answers(sb, sender)] == ["RC"]
    (delivered,) = _sdi_answers(sb, customer)
    assert delivered.sdi.invoice_files == (name,)


def test_unknown_codice_destinatario_gets_mc(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "attivo")
    name, doc = supplier_invoice(supplier=SUPPLIERS[1], customer=OTHER_CUSTOMER,
                                 progressivo=_progressivo(), codice_destinatario="NONE999")
    _send_to_sdi(sb, sender, name, write_invoice(doc))
    assert [m.sdi.kind for m in _sdi_answers(sb, sender)] == ["MC"]


@pytest.mark.parametrize(("outcome", "expected"), [
    ("EC01", ("NE", "EC01")), ("EC02", ("NE", "EC02")), ("DT", ("DT", None)),
])
def test_pa_invoice_gets_rc_then_outcome(sb: Sandbox, outcome: str,
                                         expected: tuple[str, str | None]) -> None:
    sender, _ = new_box(sb, "attivo")
    pa_box, _ = new_box(sb, "comune")
    sb.sdi.pa_outcome = outcome
    name, doc = supplier_invoice(supplier=SUPPLIERS[0], customer=OTHER_CUSTOMER,
                                 progressivo=_progressivo(), format="FPA12",
                                 codice_destinatario="UFABCD", pec_destinatario=pa_box)
    p7m = sign_p7m(write_invoice(doc), *sb.invoice_signer())
    _send_to_sdi(sb, sender, name + ".p7m", p7m)
    answers = _sdi_answers(sb, sender)
    got = sorted((m.sdi.kind, m.sdi.notification.esito) for m in answers)
    assert got == sorted([("RC", None), expected])
    assert all(m.sdi.notification.nome_file == name + ".p7m" for m in answers)
    (delivered,) = _sdi_answers(sb, pa_box)
    assert delivered.sdi.files[name + ".p7m"] == p7m


def test_injected_supplier_invoice_reaches_the_company(sb: Sandbox) -> None:
    company, _ = new_box(sb, "azienda")
    (inv,) = generate_batch(1, seed=11, first_progressivo=int(_progressivo()))
    ident = sb.inject_invoice(inv.data, inv.file_name, to=company)
    msgs = wait_box(sb, company, lambda ms: len(ms) >= 1)
    (delivered,) = _sdi_answers(sb, company)
    assert delivered.sdi.kind == "invoice"
    assert delivered.sdi.identificativo_sdi == ident
    assert delivered.sdi.files[inv.file_name] == inv.data
    assert delivered.sdi.metadata is not None and delivered.sdi.metadata.nome_file == \
        inv.file_name
    assert len(msgs) == 1
