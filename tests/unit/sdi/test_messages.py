"""SdI notification files of both families: build → decode round trip, real samples, hostile XML."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.sdi import (
    B2B_NS,
    PA_NS,
    NotificationError,
    RiferimentoFattura,
    SdiError,
    SdiNotification,
    build_notification,
    decode_notification,
    notification_file_name,
    parse_notification_name,
)
from wpec_invoicing.sdi.messages import ROOTS

ROME = timezone(timedelta(hours=1))
WHEN = datetime(2026, 11, 3, 10, 0, 5, 123000, tzinfo=ROME)

REAL_B2B_SCARTO = b"""<?xml version="1.0" encoding="UTF-8"?>
<ns3:RicevutaScarto xmlns:ns3="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fattura/messaggi/v1.0" versione="1.0">
  <IdentificativoSdI>271054871</IdentificativoSdI>
  <NomeFile>IT01879020517_gi0zb.xml.p7m</NomeFile>
  <Hash>a2b16d22852d7086a96cc9e50291094d4963adba277de2f88e79ba8327c19a64</Hash>
  <DataOraRicezione>2019-02-04T17:58:56.000+01:00</DataOraRicezione>
  <ListaErrori><Errore><Codice>00305</Codice>
    <Descrizione>1.4.1.1.2 IdCodice non valido : 00000000000</Descrizione>
    <Suggerimento>Verificare che il campo IdFiscaleIVA/IdCodice del "CessionarioCommittente" sia valido</Suggerimento>
  </Errore></ListaErrori>
  <MessageId>1441766471</MessageId>
</ns3:RicevutaScarto>
"""  # noqa: E501


def test_real_b2b_rejection_decodes_with_its_error_list() -> None:
    n = decode_notification("IT01879020517_gi0zb_NS_001.xml", REAL_B2B_SCARTO)
    assert n.kind == "NS" and n.family == "b2b"
    assert n.identificativo_sdi == "271054871"
    assert n.nome_file == "IT01879020517_gi0zb.xml.p7m"
    assert n.hash == "a2b16d22852d7086a96cc9e50291094d4963adba277de2f88e79ba8327c19a64"
    assert n.data_ora_ricezione == datetime(2019, 2, 4, 17, 58, 56, tzinfo=ROME)
    assert n.message_id == "1441766471"
    assert n.errors == (
        SdiError(
            "00305",
            "1.4.1.1.2 IdCodice non valido : 00000000000",
            'Verificare che il campo IdFiscaleIVA/IdCodice del "CessionarioCommittente" sia '
            "valido",
        ),
    )


PA_ESITO = b"""<?xml version="1.0" encoding="UTF-8"?>
<types:NotificaEsito xmlns:types="http://www.fatturapa.gov.it/sdi/messaggi/v1.0" versione="1.0">
  <IdentificativoSdI>111</IdentificativoSdI>
  <NomeFile>IT01234567890_11111.xml.p7m</NomeFile>
  <Hash>aa</Hash>
  <EsitoCommittente>
    <IdentificativoSdI>111</IdentificativoSdI>
    <RiferimentoFattura><NumeroFattura>7</NumeroFattura><AnnoFattura>2026</AnnoFattura></RiferimentoFattura>
    <Esito>EC02</Esito>
    <Descrizione>Importo errato</Descrizione>
  </EsitoCommittente>
  <MessageId>123456</MessageId>
</types:NotificaEsito>
"""


def test_pa_esito_carries_the_customers_decision() -> None:
    n = decode_notification("IT01234567890_11111_NE_001.xml", PA_ESITO)
    assert (n.kind, n.family) == ("NE", "pa")
    assert n.esito == "EC02" and n.descrizione == "Importo errato"
    assert n.riferimento_fattura == RiferimentoFattura("7", 2026, None)


@pytest.mark.parametrize(("family", "kind"), sorted(ROOTS))
def test_every_kind_of_both_families_round_trips(family: str, kind: str) -> None:
    n = SdiNotification(
        kind=kind, family=family, identificativo_sdi="7339338",
        nome_file=None if kind in ("EC", "SE") else "IT01234567890_11111.xml",
        hash=None if kind in ("EC", "SE") or (kind, family) == ("MT", "pa") else "ab" * 32,
        data_ora_ricezione=WHEN if kind in ("RC", "NS", "MC", "AT") else None,
        data_ora_consegna=WHEN if kind == "RC" else None,
        data_messa_a_disposizione=WHEN if (kind, family) == ("MC", "b2b") else None,
        message_id=None if kind == "EC" else "1441766471",
        errors=(SdiError("00200", "File non conforme al formato", None),)
        if kind == "NS" else (),
        esito={"NE": "EC01", "EC": "EC01", "SE": "EN01"}.get(kind),
        riferimento_fattura=RiferimentoFattura("7", 2026, 1)
        if kind in ("NE", "EC", "SE", "DT") else None,
        codice_destinatario="0000000" if kind == "MT" else None,
        formato="FPR12" if kind == "MT" else None,
        tentativi_invio=1 if kind == "MT" else None,
        destinatario_codice="ABC123" if (kind in ("RC", "AT") and family == "pa") else None,
        destinatario_descrizione="Comune di Prova" if (kind in ("RC", "AT")
                                                       and family == "pa") else None,
    )
    data = build_notification(n)
    name = notification_file_name("IT01234567890_11111.xml", kind, 1)
    back = decode_notification(name, data)
    assert back == n
    assert back.file_name == name
    assert (B2B_NS if family == "b2b" else PA_NS).encode() in data


def test_kinds_a_family_lacks_are_refused() -> None:
    with pytest.raises(NotificationError, match="NE does not exist in the b2b family"):
        build_notification(SdiNotification(kind="NE", family="b2b", identificativo_sdi="1"))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not xml",
        b"<Qualcosa><IdentificativoSdI>1</IdentificativoSdI></Qualcosa>",
        b"<RicevutaConsegna><NomeFile>x</NomeFile></RicevutaConsegna>",
    ],
)
def test_non_notifications_are_a_clear_error(data: bytes) -> None:
    with pytest.raises(NotificationError):
        decode_notification("x_RC_001.xml", data)


def test_xxe_and_entity_bombs_are_refused_not_expanded() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<RicevutaConsegna><IdentificativoSdI>&x;</IdentificativoSdI></RicevutaConsegna>"
    )
    with pytest.raises(NotificationError, match="DOCTYPE"):
        decode_notification("a_RC_001.xml", xxe)
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<RicevutaConsegna><IdentificativoSdI>&b;</IdentificativoSdI></RicevutaConsegna>"
    )
    with pytest.raises(NotificationError, match="DOCTYPE"):
        decode_notification("a_RC_001.xml", bomb)


def test_notification_file_names() -> None:
    assert notification_file_name("IT01234567890_11111.xml.p7m", "RC", 1) == (
        "IT01234567890_11111_RC_001.xml"
    )
    assert notification_file_name("IT01234567890_11111.XML", "ns", 12) == (
        "IT01234567890_11111_NS_012.xml"
    )
    assert parse_notification_name("IT01234567890_11111_MT_001.xml") == (
        "IT01234567890_11111", "MT", "001"
    )
    assert parse_notification_name("IT01234567890_11111.xml") is None
    assert parse_notification_name("IT01234567890_11111_XX_001.xml") is None


_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF, blacklist_characters="\x7f"),
    min_size=1, max_size=40,
).map(str.strip).filter(bool)


@settings(max_examples=60)
@given(
    key=st.sampled_from(sorted(ROOTS)),
    ident=st.from_regex(r"[1-9][0-9]{0,11}", fullmatch=True),
    descr=_text,
    codes=st.lists(st.from_regex(r"00[0-9]{3}", fullmatch=True), max_size=3),
)
def test_round_trip_property(key, ident, descr, codes) -> None:
    family, kind = key
    n = SdiNotification(
        kind=kind, family=family, identificativo_sdi=ident,
        nome_file=None if kind == "SE" else f"IT01234567890_{kind}1.xml",
        errors=tuple(SdiError(c, descr) for c in codes) if kind == "NS" else (),
        descrizione=descr if kind in ("DT", "EC", "NE") or (kind, family) == ("MC", "pa")
        else None,
        note=descr if kind not in ("EC", "NE") else None,
    )
    if kind == "EC":
        n = SdiNotification(kind=kind, family=family, identificativo_sdi=ident, descrizione=descr,
                            esito="EC02")
    assert decode_notification(None, build_notification(n)) == n


# ------------------------------------------------------------------ fuzz: mutated notifications

def _samples() -> list[bytes]:
    out = [REAL_B2B_SCARTO]
    for family, kind in sorted(ROOTS):
        out.append(build_notification(SdiNotification(
            kind=kind, family=family, identificativo_sdi="7339338",
            nome_file=None if kind in ("EC", "SE") else "IT01234567890_11111.xml",
            data_ora_ricezione=WHEN if kind in ("RC", "NS", "MC", "AT") else None,
            data_ora_consegna=WHEN if kind == "RC" else None,
            message_id="1",
            errors=(SdiError("00200", "File non conforme", "x"),) if kind == "NS" else (),
            esito={"NE": "EC01", "EC": "EC01", "SE": "EN01"}.get(kind),
            riferimento_fattura=RiferimentoFattura("7", 2026, 1)
            if kind in ("NE", "EC", "SE", "DT") else None,
            codice_destinatario="0000000" if kind == "MT" else None,
            formato="FPR12" if kind == "MT" else None,
            tentativi_invio=1 if kind == "MT" else None,
        )))
    return out


SAMPLES = _samples()
_values = st.text(max_size=40) | st.sampled_from([
    "", " ", "-1", "0", "99999999999999999999999", "2026-13-45T25:61:61", "2026-11-03",
    "2026-11-03T10:00:05.123+25:00", "abc", "EC99", "1e9", "\u00e8", "NaN",
])


@settings(max_examples=300)
@given(
    sample=st.sampled_from(SAMPLES),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    texts=st.lists(st.tuples(st.integers(0, 10**6), _values), max_size=4),
    cut=st.none() | st.integers(0, 10**6),
)
def test_mutated_real_notifications_raise_only_notification_error(
    sample: bytes, edits, texts, cut
) -> None:
    """Near-valid input reaches the field decoders (dates, numbers, lists): whatever it is,
    a value or a NotificationError comes out, never another exception."""
    data = bytearray(sample)
    # replace the text of some elements (between '>' and '<') with hostile values
    for pos, value in texts:
        gt = data.find(b">", pos % len(data))
        lt = data.find(b"<", gt + 1) if gt >= 0 else -1
        if gt >= 0 and lt > gt:
            data[gt + 1:lt] = value.encode("utf-8")
    for pos, value in edits:
        if data:
            data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        n = decode_notification("IT01234567890_11111_NS_001.xml", bytes(data))
    except NotificationError as exc:
        assert str(exc)
        return
    n.to_json()
