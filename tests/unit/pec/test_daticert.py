"""daticert.xml: every field, aware timestamps, writer → reader identity, hostile XML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.pec import Daticert, DaticertError, Destinatario, parse_daticert

PRESA_IN_CARICO = b"""<?xml version="1.0" encoding="UTF-8"?>
<postacert tipo="presa-in-carico" errore="nessuno">
  <intestazione>
    <mittente>a@pec.it</mittente>
    <destinatari tipo="certificato">b@pec.it</destinatari>
    <destinatari tipo="esterno">c@gmail.com</destinatari>
    <risposte>a@pec.it</risposte>
  </intestazione>
  <dati>
    <gestore-emittente>Gestore</gestore-emittente>
    <data zona="-0230"><giorno>29/02/2024</giorno><ora>23:59:59</ora></data>
    <identificativo>id-1@pec.it</identificativo>
    <ricezione>b@pec.it</ricezione>
    <ricezione>d@pec.it</ricezione>
  </dati>
</postacert>
"""


def test_every_field() -> None:
    d = parse_daticert(PRESA_IN_CARICO)
    assert d.tipo == "presa-in-carico" and d.errore == "nessuno"
    assert d.destinatari == (Destinatario("b@pec.it", "certificato"),
                             Destinatario("c@gmail.com", "esterno"))
    assert d.ricezione == ("b@pec.it", "d@pec.it")
    assert d.oggetto is None and d.msgid is None and d.consegna is None
    assert d.timestamp == datetime(2024, 2, 29, 23, 59, 59,
                                   tzinfo=timezone(-timedelta(hours=2, minutes=30)))
    assert d.problems == ()


def test_doctype_is_refused() -> None:
    evil = PRESA_IN_CARICO.replace(
        b'<?xml version="1.0" encoding="UTF-8"?>',
        b'<?xml version="1.0"?><!DOCTYPE postacert [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    ).replace(b"<risposte>a@pec.it", b"<risposte>&x;")
    with pytest.raises(DaticertError, match="DOCTYPE"):
        parse_daticert(evil)


def test_not_a_daticert() -> None:
    with pytest.raises(DaticertError):
        parse_daticert(b"<html><body>no</body></html>")
    with pytest.raises(DaticertError):
        parse_daticert(b"")


def test_bad_date_and_zone_are_reported_not_fatal() -> None:
    d = parse_daticert(PRESA_IN_CARICO.replace(b"29/02/2024", b"31/02/2024")
                       .replace(b'zona="-0230"', b'zona="CET"'))
    assert any("date" in p for p in d.problems)
    assert any("zona" in p for p in d.problems)
    assert d.timestamp is None  # the message's Date header is used instead


_addr = st.from_regex(r"[a-z0-9._-]{1,12}@[a-z0-9-]{1,10}\.[a-z]{2,4}", fullmatch=True)
_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x85\u2028\u2029"),
    min_size=1, max_size=60,
).map(str.strip).filter(bool)


@settings(max_examples=80)
@given(
    tipo=st.sampled_from(["accettazione", "non-accettazione", "presa-in-carico",
                          "avvenuta-consegna", "posta-certificata", "errore-consegna",
                          "preavviso-errore-consegna", "rilevazione-virus"]),
    errore=st.sampled_from(["nessuno", "no-dest", "no-dominio", "virus", "altro"]),
    mittente=_addr,
    destinatari=st.lists(st.builds(Destinatario, _addr, st.sampled_from(["certificato",
                                                                          "esterno"])),
                         min_size=1, max_size=4),
    oggetto=st.none() | _text,
    gestore=_text,
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31),
                      timezones=st.sampled_from([UTC, timezone(timedelta(hours=1)),
                                                 timezone(timedelta(hours=-5, minutes=-30))])),
    msgid=st.none() | _addr.map(lambda a: f"<{a}>"),
    ricevuta=st.none() | st.sampled_from(["completa", "breve", "sintetica"]),
    consegna=st.none() | _addr,
    ricezione=st.lists(_addr, max_size=3),
    errore_esteso=st.none() | _text,
)
def test_writer_reader_identity(tipo, errore, mittente, destinatari, oggetto, gestore, when,
                                msgid, ricevuta, consegna, ricezione, errore_esteso) -> None:
    d = Daticert(
        tipo=tipo, errore=errore, mittente=mittente, destinatari=tuple(destinatari),
        risposte=mittente, oggetto=oggetto, gestore=gestore, timestamp=when.replace(microsecond=0),
        identificativo="id@x", msgid=msgid, ricevuta=ricevuta, consegna=consegna,
        ricezione=tuple(ricezione), errore_esteso=errore_esteso,
    )
    back = parse_daticert(d.to_xml())
    assert back == d
    assert back.timestamp.utcoffset() == d.timestamp.utcoffset()
    assert back.problems == ()
