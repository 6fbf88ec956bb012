"""The trusted-list reader on hostile input: refused with TrustedListError, never a crash,
never a service read from bytes the signature does not cover."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wpec_invoicing.cms import certs
from wpec_invoicing.trust.lists import TrustedListError, verify_list

from .tl import sign_list, trusted_list


@pytest.fixture(scope="module")
def signed():
    key, cert = certs.make_ca("Fuzz TL operator")
    _, qca = certs.make_ca("Fuzz QCA")
    data = sign_list(trusted_list([("QTSP", "CA/QC", "granted", qca)]), key, cert)
    return data, cert


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_lists_are_refused_or_unchanged(signed, data):
    raw, cert = signed
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        mutated[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        tl = verify_list(bytes(mutated), cert)
    except TrustedListError:
        return
    # accepted only when the signed content is what was signed (e.g. a changed blank)
    assert [s.provider for s in tl.services] == ["QTSP"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=400))
def test_garbage_is_refused(signed, blob):
    with pytest.raises(TrustedListError):
        verify_list(blob, signed[1])


def test_entity_expansion_is_not_performed(signed):
    _, cert = signed
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<tsl:TrustServiceStatusList xmlns:tsl="http://uri.etsi.org/02231/v2#">&b;'
            b'</tsl:TrustServiceStatusList>')
    with pytest.raises(TrustedListError):
        verify_list(bomb, cert)
