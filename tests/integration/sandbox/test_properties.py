"""Property-based: whatever a client submits, the provider answers with a verdict (a signed
acceptance or non-acceptance), never an internal error; SdI names every notification so the
product can recognise it, whatever file name it received."""

from __future__ import annotations

import smtplib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.sandbox.helpers import new_box, read_box
from wpec_invoicing.sandbox import Sandbox
from wpec_invoicing.sandbox.sdi import notification_name
from wpec_invoicing.sdi import parse_notification_name

_header_text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF,
                                     exclude_characters="\r\n"), max_size=60)


@given(name=st.text(max_size=80), kind=st.sampled_from(["RC", "NS", "MC", "NE", "DT", "MT"]))
def test_notification_names_are_always_recognisable(name: str, kind: str) -> None:
    file_name = notification_name(name, kind)
    parsed = parse_notification_name(file_name)
    assert parsed is not None and parsed[1] == kind


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=_header_text, body=st.binary(max_size=2000),
       extra=st.lists(st.tuples(st.sampled_from(["X-TipoRicevuta", "Bcc", "Content-Type",
                                                 "Content-Transfer-Encoding", "Cc"]),
                                _header_text), max_size=3))
def test_any_submission_gets_a_signed_verdict(sb: Sandbox, subject: str, body: bytes,
                                              extra: list[tuple[str, str]]) -> None:
    sender, password = new_box(sb, "fuzz")
    rcpt, _ = new_box(sb, "dest")
    head = f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in extra)
    raw = head.encode("utf-8") + b"\r\n" + body.replace(b"\r", b"").replace(b"\n", b"\r\n")
    with smtplib.SMTP_SSL("127.0.0.1", sb.smtp_implicit_port, context=sb.ssl_context()) as c:
        c.login(sender, password)
        c.sendmail(sender, [rcpt], raw)  # raises on any non-250 answer
    verdicts = [m for m in read_box(sb, sender)
                if m.kind in ("accettazione", "non-accettazione")]
    assert len(verdicts) == 1
    assert verdicts[0].signature.intact is True
