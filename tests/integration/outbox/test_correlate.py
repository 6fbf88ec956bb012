"""Each provider receipt kind and each SdI outcome drives the state it should.

Real parts: receipts and SdI envelopes are built and signed by the PEC engine exactly as a
provider builds them, read back by `pec.inspect`, stored in a real store and handed to the
observer the sync calls. No server is needed for this part (the sandbox tests cover the wire).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.integration.outbox.helpers import ADDRESS, make_outbox, provider, store_and_observe
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.outbox.correlate import check_overdue
from wpec_invoicing.pec import builder
from wpec_invoicing.sdi import SdiError, SdiNotification, build_notification
from wpec_invoicing.sdi.messages import notification_file_name
from wpec_invoicing.store.outbox_models import OutboxAlert, OutboxEvent, OutboxItem


@pytest.fixture
def outbox(tmp_path, db_url):
    ob = make_outbox(tmp_path, db_url)
    yield ob
    ob.close()


def queue_invoice(outbox, progressivo="00001", ext="xml"):
    doc = sample_invoice(progressivo=progressivo, supplier=_company_party())
    name = f"IT01234567897_{progressivo}.{ext}"
    prepared = outbox.prepare_invoice_file(write_invoice(doc), name, validate=ext == "xml")
    [queued] = outbox.enqueue([prepared])
    with outbox.store.session() as s:
        item = s.get(OutboxItem, queued.id)
        item.status, item.sdi_state = "sent", "sent"
        return item.raw, queued


def _company_party():
    from wpec_invoicing.fatturapa import Address, Party, VatId

    return Party(vat=VatId("IT", "01234567897"), fiscal_code="01234567897",
                 company_name="Azienda Demo S.r.l.",
                 address=Address("Via Roma", "00100", "Roma", "IT", number="1", province="RM"),
                 regime_fiscale="RF01")


def item_of(outbox, item_id):
    with outbox.store.session() as s:
        item = s.get(OutboxItem, item_id)
        events = list(s.scalars(select(OutboxEvent).where(OutboxEvent.item_id == item_id)))
        s.expunge_all()
        return item, events


RECEIPTS = [
    # kind, builder kwargs, provider_state, sdi_state, status
    ("accettazione", {}, "accepted", "accepted", "sent"),
    ("presa-in-carico", {}, None, "sent", "sent"),
    ("avvenuta-consegna", {"consegna": "sdi01@pec.fatturapa.it"}, "delivered",
     "delivered-to-sdi", "sent"),
    ("preavviso-errore-consegna", {"consegna": "sdi01@pec.fatturapa.it"}, "preavviso", "sent",
     "sent"),
    ("errore-consegna", {"consegna": "sdi01@pec.fatturapa.it",
                         "errore_esteso": "5.1.1 - Gestore - indirizzo non valido"},
     "delivery-failed", "send-failed", "sent"),
    ("non-accettazione", {"errore_esteso": "destinatari in Bcc non ammessi"}, "not-accepted",
     "not-accepted", "failed"),
    ("rilevazione-virus", {}, "delivery-failed", "send-failed", "sent"),
]


@pytest.mark.parametrize(("kind", "kwargs", "provider_state", "sdi_state", "status"), RECEIPTS)
def test_each_provider_receipt_kind(outbox, kind, kwargs, provider_state, sdi_state, status):
    raw, queued = queue_invoice(outbox)
    receipt = builder.receipt(kind, raw, provider=provider(), identificativo="opec1.x@pec",
                              **kwargs)
    pec = store_and_observe(outbox, receipt)
    assert pec.kind.value == kind
    item, events = item_of(outbox, queued.id)
    assert item.provider_state == provider_state
    assert item.sdi_state == sdi_state
    assert item.status == status
    assert item.provider_identificativo == "opec1.x@pec"
    assert [e.event for e in events if e.source == "provider"] == [kind]
    if "errore_esteso" in kwargs:
        assert kwargs["errore_esteso"] in (item.provider_reason or "")


def test_same_receipt_twice_is_recorded_once_and_states_never_go_back(outbox):
    raw, queued = queue_invoice(outbox)
    p = provider()
    delivered = builder.avvenuta_consegna(raw, provider=p, identificativo="id1",
                                          consegna="sdi01@pec.fatturapa.it")
    accepted = builder.accettazione(raw, provider=p, identificativo="id1")
    store_and_observe(outbox, delivered)
    store_and_observe(outbox, delivered)
    store_and_observe(outbox, accepted)  # synced late
    item, events = item_of(outbox, queued.id)
    assert item.provider_state == "delivered"
    assert item.sdi_state == "delivered-to-sdi"
    assert [e.event for e in events if e.source == "provider"] == [
        "avvenuta-consegna", "accettazione"]


def sdi_envelope(invoice_name: str, kind: str, *, ident="4242", sender="sdi27@pec.fatturapa.it",
                 errors=(), esito=None, family="b2b") -> bytes:
    note = SdiNotification(kind=kind, family=family, identificativo_sdi=ident,
                           nome_file=invoice_name, errors=tuple(errors), esito=esito,
                           message_id="1")
    data = build_notification(note)
    original = builder.compose(
        sender=sender, to=[ADDRESS], subject=f"Notifica {kind} {ident}",
        attachments=[(notification_file_name(invoice_name, kind, 1), data, "application/xml")])
    return builder.transport_envelope(original, provider=provider("pec.fatturapa.it"))


SDI_CASES = [
    ("RC", "b2b", None, (), "delivered"),
    ("NS", "b2b", None, (SdiError("00305", "1.4.1.1.2 IdCodice non valido"),), "rejected"),
    ("MC", "b2b", None, (), "not-delivered"),
    ("NE", "pa", "EC01", (), "accepted-by-pa"),
    ("NE", "pa", "EC02", (), "refused-by-pa"),
    ("DT", "pa", None, (), "terms-expired"),
    ("AT", "pa", None, (), "transmission-attested"),
]


@pytest.mark.parametrize(("kind", "family", "esito", "errors", "state"), SDI_CASES)
def test_each_sdi_outcome(outbox, kind, family, esito, errors, state):
    _raw, queued = queue_invoice(outbox)
    pec = store_and_observe(outbox, sdi_envelope(queued.file_name, kind, errors=errors,
                                                 esito=esito, family=family))
    assert pec.sdi is not None and pec.sdi.kind == kind
    item, events = item_of(outbox, queued.id)
    assert item.sdi_state == state
    assert item.identificativo_sdi == "4242"
    assert [e.event for e in events if e.source == "sdi"] == [kind]
    if errors:
        assert [e["code"] for e in item.sdi_errors] == ["00305"]
    status = outbox.status()
    assert status["accounts"][0]["sdi_address"] == "sdi27@pec.fatturapa.it"


def test_p7m_names_match_and_later_notifications_by_identificativo(outbox):
    _raw, queued = queue_invoice(outbox, progressivo="0000B", ext="xml.p7m")
    # SdI names the p7m; the notification's file name drops the extension.
    store_and_observe(outbox, sdi_envelope("IT01234567897_0000B.xml.p7m", "RC", ident="77"))
    store_and_observe(outbox, sdi_envelope("IT01234567897_0000B.xml.p7m", "NE", ident="77",
                                           esito="EC01", family="pa"))
    item, _ = item_of(outbox, queued.id)
    assert item.sdi_state == "accepted-by-pa"
    history = outbox.history("IT01234567897_0000B")
    assert [e["event"] for e in history[0]["events"]][-2:] == ["RC", "NE"]


def test_notifications_for_other_files_change_nothing(outbox):
    _raw, queued = queue_invoice(outbox)
    store_and_observe(outbox, sdi_envelope("IT01234567897_99999.xml", "NS"))
    item, events = item_of(outbox, queued.id)
    assert item.sdi_state == "sent"
    assert [e.event for e in events] == ["queued"]


def test_a_group_of_receipts_and_notifications_through_the_pipeline(outbox):
    """The sync's way: one group of messages, one look-up per group (`prepare`), each receipt
    and notification matched to its own item, those about nothing we sent change nothing."""
    from wpec_invoicing.ingest import Pipeline, store_raw_message
    from wpec_invoicing.startup import start

    start()
    raw1, first = queue_invoice(outbox, progressivo="00001")
    raw2, second = queue_invoice(outbox, progressivo="00002")
    _raw3, third = queue_invoice(outbox, progressivo="00003")
    p = provider()
    stranger = builder.compose(sender=ADDRESS, to=["altro@pec.example.it"], subject="altro",
                               attachments=[])
    messages = [
        builder.accettazione(raw1, provider=p, identificativo="id-1"),
        builder.accettazione(stranger, provider=p, identificativo="id-x"),
        builder.avvenuta_consegna(raw2, provider=p, identificativo="id-2",
                                  consegna="sdi01@pec.fatturapa.it"),
        sdi_envelope("IT01234567897_99999.xml", "NS", ident="999"),
        sdi_envelope(third.file_name, "RC", ident="4243"),
    ]
    store = outbox.store
    with store.session() as s:
        ids = [store_raw_message(s, store.archive, raw, source="import")[0].id
               for raw in messages]
    assert Pipeline.for_config(outbox.config, store).process_many(ids) == [True] * 5
    one, events_one = item_of(outbox, first.id)
    two, events_two = item_of(outbox, second.id)
    three, events_three = item_of(outbox, third.id)
    assert (one.provider_state, one.provider_identificativo) == ("accepted", "id-1")
    assert (two.provider_state, two.provider_identificativo) == ("delivered", "id-2")
    assert (three.sdi_state, three.identificativo_sdi) == ("delivered", "4243")
    assert [e.event for e in events_one if e.source == "provider"] == ["accettazione"]
    assert [e.event for e in events_two if e.source == "provider"] == ["avvenuta-consegna"]
    assert [e.event for e in events_three if e.source == "sdi"] == ["RC"]
    with store.session() as s:
        assert s.scalar(select(OutboxItem).where(
            OutboxItem.provider_identificativo == "id-x")) is None


def test_no_acceptance_within_timeout_raises_one_alert(outbox):
    raw, queued = queue_invoice(outbox)
    with outbox.store.session() as s:
        item = s.get(OutboxItem, queued.id)
        from wpec_invoicing.outbox.queue import utcnow

        item.sent_at = utcnow() - timedelta(hours=2)
    with outbox.store.session() as s:
        assert check_overdue(s, timedelta(minutes=30)) == 1
        assert check_overdue(s, timedelta(minutes=30)) == 0
    alerts = outbox.status()["alerts"]
    assert [a["kind"] for a in alerts] == ["no-acceptance"]
    store_and_observe(outbox, builder.accettazione(raw, provider=provider(), identificativo="i"))
    with outbox.store.session() as s:
        assert s.scalar(select(OutboxAlert.resolved_at)) is not None
    assert outbox.status()["alerts"] == []


def test_rejected_invoice_corrected_and_sent_again_under_a_new_name(outbox):
    _raw, first = queue_invoice(outbox, progressivo="00001")
    store_and_observe(outbox, sdi_envelope(first.file_name, "NS",
                                           errors=(SdiError("00423", "PrezzoTotale"),)))
    # Same file name again: refused before queuing (SdI would answer 00002).
    from wpec_invoicing.outbox.queue import Refused

    doc = sample_invoice(progressivo="00001", supplier=_company_party())
    with pytest.raises(Refused) as info:
        outbox.enqueue([outbox.prepare_invoice_file(write_invoice(doc), first.file_name)])
    assert "00002" in info.value.refusals[0].reasons[0]
    _raw, second = queue_invoice(outbox, progressivo="00002")  # same number, new name
    item, events = item_of(outbox, second.id)
    assert item.replaces_item_id == first.id
    assert "replaces" in [e.event for e in events]
    history = outbox.history("2026/1")  # by invoice number: both sends, in order
    assert [h["file_name"] for h in history] == [first.file_name, second.file_name]
    assert [h["sdi_state"] for h in history] == ["rejected", "sent"]


def test_sdi_files_over_5_mb_are_refused_before_queuing(outbox):
    from wpec_invoicing.outbox.queue import Refusal

    too_big = b"<" + b"x" * (5 * 1024 * 1024)
    refusal = outbox.prepare_invoice_file(too_big, "IT01234567897_00009.xml")
    assert isinstance(refusal, Refusal)
    assert refusal.reasons[0].startswith("00003")


def _tamper(raw: bytes) -> bytes:
    """Change one character of the daticert.xml part, inside the provider-signed bytes."""
    start = raw.index(b"\r\n\r\n", raw.index(b'daticert.xml')) + 4
    swapped = b"B" if raw[start:start + 1] != b"B" else b"C"
    return raw[:start] + swapped + raw[start + 1:]


def _alerts(outbox):
    with outbox.store.session() as s:
        return [(a.kind, a.message) for a in s.scalars(select(OutboxAlert))]


def test_a_tampered_receipt_moves_nothing_and_raises_an_alert(outbox):
    raw, queued = queue_invoice(outbox)
    receipt = builder.accettazione(raw, provider=provider(), identificativo="opec9.x@pec")
    forged = _tamper(receipt)
    pec = store_and_observe(outbox, forged)
    assert pec.kind.value == "accettazione" and pec.signature.intact is False
    item, events = item_of(outbox, queued.id)
    assert item.provider_state is None and item.accepted_at is None
    assert [e for e in events if e.source == "provider"] == []
    [(kind, message)] = _alerts(outbox)
    assert kind == "unproven-message" and "not intact" in message


def test_a_tampered_sdi_rejection_moves_nothing_and_teaches_no_address(outbox):
    _raw, queued = queue_invoice(outbox)
    genuine = sdi_envelope(queued.file_name, "NS", errors=(SdiError("00305", "IdCodice"),))
    forged = _tamper(genuine)
    pec = store_and_observe(outbox, forged)
    assert pec.sdi is not None and pec.sdi.authentic is False
    item, events = item_of(outbox, queued.id)
    assert item.sdi_state == "sent" and not item.sdi_errors
    assert [e for e in events if e.source == "sdi"] == []
    assert outbox.status()["accounts"][0]["sdi_address"] in (None, "sdi01@pec.fatturapa.it")
    [(kind, message)] = _alerts(outbox)
    assert kind == "unproven-message" and "SdI NS" in message
