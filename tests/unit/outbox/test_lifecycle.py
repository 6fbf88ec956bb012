"""SdI lifecycle: each notification drives the invoice state it should, in any sync order."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wpec_invoicing.sdi.lifecycle import (
    FINAL_STATES,
    InvoiceState,
    advance,
    apply_provider,
    apply_sdi,
    invoice_base_name,
    notification_parts,
    same_invoice,
    state_for_sdi,
)

S = InvoiceState


@pytest.mark.parametrize(
    ("kind", "esito", "state"),
    [
        ("RC", None, S.DELIVERED),
        ("NS", None, S.REJECTED),
        ("MC", None, S.NOT_DELIVERED),
        ("NE", "EC01", S.ACCEPTED_BY_PA),
        ("NE", "EC02", S.REFUSED_BY_PA),
        ("DT", None, S.TERMS_EXPIRED),
        ("AT", None, S.TRANSMISSION_ATTESTED),
        ("MT", None, None),
        ("NE", None, None),
    ],
)
def test_each_sdi_outcome(kind, esito, state):
    assert state_for_sdi(kind, esito) == state
    result = apply_sdi(S.DELIVERED_TO_SDI, kind, esito)
    assert result.after == (state or S.DELIVERED_TO_SDI)


def test_provider_path():
    state = S.QUEUED
    for kind, expected in [
        ("sent", S.SENT),
        ("accettazione", S.ACCEPTED),
        ("presa-in-carico", S.ACCEPTED),
        ("preavviso-errore-consegna", S.ACCEPTED),
        ("avvenuta-consegna", S.DELIVERED_TO_SDI),
    ]:
        state = apply_provider(state, kind).after
        assert state == expected
    assert apply_provider(S.SENT, "non-accettazione").after == S.NOT_ACCEPTED
    assert apply_provider(S.ACCEPTED, "errore-consegna").after == S.SEND_FAILED


def test_late_provider_receipt_never_overrides_sdi_outcome():
    assert apply_provider(S.DELIVERED, "avvenuta-consegna").after == S.DELIVERED
    assert apply_provider(S.REJECTED, "accettazione").after == S.REJECTED
    # RC fetched before the provider's receipts: stays delivered.
    state = apply_sdi(S.SENT, "RC").after
    state = apply_provider(state, "accettazione").after
    assert state == S.DELIVERED


def test_pa_flow_and_mc_then_rc():
    state = apply_sdi(S.DELIVERED_TO_SDI, "RC").after
    assert apply_sdi(state, "NE", "EC02").after == S.REFUSED_BY_PA
    assert apply_sdi(state, "DT").after == S.TERMS_EXPIRED
    assert apply_sdi(S.NOT_DELIVERED, "RC").after == S.DELIVERED
    assert apply_sdi(S.NOT_DELIVERED, "AT").after == S.TRANSMISSION_ATTESTED
    assert not apply_sdi(S.DELIVERED, "MC").changed


def test_rejection_is_final():
    for kind in ("RC", "MC", "DT", "AT"):
        assert apply_sdi(S.REJECTED, kind).after == S.REJECTED


def test_names():
    assert invoice_base_name("IT01234567890_0000A.xml.p7m") == "IT01234567890_0000A"
    assert invoice_base_name("IT01234567890_0000A.XML") == "IT01234567890_0000A"
    assert invoice_base_name("IT01234567890_0000A.zip") == "IT01234567890_0000A"
    assert notification_parts("IT01234567890_11111_RC_001.xml") == ("IT01234567890_11111", "RC")
    assert notification_parts("IT01234567890_11111_ns_002.xml") == ("IT01234567890_11111", "NS")
    assert notification_parts("IT01234567890_11111.xml") is None
    assert same_invoice("IT01234567890_11111.xml", "IT01234567890_11111.xml.p7m")
    assert same_invoice("IT01234567890_11111.xml.p7m", "IT01234567890_11111_NS_001.xml")
    assert not same_invoice("IT01234567890_11111.xml", "IT01234567890_11112_RC_001.xml")
    assert not same_invoice("IT01234567890_1111.xml", "IT01234567890_11111.xml")


states = st.sampled_from(list(S))
events = st.lists(
    st.one_of(
        st.tuples(st.just("sdi"), st.sampled_from(["RC", "NS", "MC", "DT", "AT", "NE", "MT"]),
                  st.sampled_from([None, "EC01", "EC02"])),
        st.tuples(st.just("provider"),
                  st.sampled_from(["sent", "accettazione", "avvenuta-consegna",
                                   "errore-consegna", "non-accettazione", "presa-in-carico"]),
                  st.none()),
    ),
    max_size=12,
)


@given(start=states, evts=events)
def test_final_states_never_move_and_advance_is_idempotent(start, evts):
    state = start
    for source, kind, esito in evts:
        before = state
        state = (apply_sdi(state, kind, esito) if source == "sdi"
                 else apply_provider(state, kind)).after
        if before in FINAL_STATES:
            assert state == before
        assert advance(state, state) == state


@given(name=st.text(max_size=60))
def test_name_helpers_never_raise(name):
    invoice_base_name(name)
    notification_parts(name)
    same_invoice(name, name)
