"""Whatever bytes arrive, rendering gives a document or one clear `NotRenderable` line."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.pec import builder
from wpec_invoicing.render.documents import NotRenderable, render_invoice, render_message

MESSAGE = builder.compose(sender="a@pec.test", to=["b@pec.test"], subject="Prova <b>x</b>",
                          text="Testo", attachments=[("f.xml", b"<a/>", "application/xml")])
INVOICE = write_invoice(sample_invoice(lines=2))


def _mutate(data: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, junk in cuts:
        at = position % (len(out) + 1)
        out[at : at + len(junk)] = junk
    return bytes(out)


CUTS = st.lists(st.tuples(st.integers(0, 1 << 16), st.binary(max_size=8)), max_size=4)
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(CUTS)
def test_mutated_messages_render_or_refuse_in_one_line(cuts):
    try:
        rendered = render_message(_mutate(MESSAGE, cuts), fmt="html")
    except NotRenderable as exc:
        assert "\n" not in str(exc)
        return
    assert rendered.content.startswith(b"<!DOCTYPE html>") and b"<script" not in rendered.content


@FAST
@given(CUTS)
def test_mutated_invoices_render_or_refuse_in_one_line(cuts):
    try:
        rendered = render_invoice(_mutate(INVOICE, cuts), fmt="html")
    except NotRenderable as exc:
        assert "\n" not in str(exc) and "internal error" not in str(exc)
        return
    assert rendered.content.startswith(b"<!DOCTYPE html>")
