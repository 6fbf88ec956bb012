"""`wpec pec inspect`: the JSON contract, exit codes 0 / 2, no traceback, --trust file or folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wpec_invoicing.cms import sign_attached
from wpec_invoicing.cms.certs import cert_to_pem
from wpec_invoicing.pec import builder as b
from wpec_invoicing.sdi import SdiError, SdiNotification, build_notification

FIELDS = {
    "file", "kind", "subject", "original_subject", "ref_message_id", "identificativo", "sender",
    "recipients", "delivered_to", "error", "error_detail", "provider", "timestamp", "signature",
    "attachments", "sdi",
}


def run_wpec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wpec_invoicing", "pec", "inspect", *args],
        capture_output=True, text=True, check=False, timeout=120,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, pki, original) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pec-cli")
    (folder / "trust").mkdir()
    (folder / "trust" / "ca.pem").write_bytes(cert_to_pem(pki.ca))
    files = {
        "receipt": b.avvenuta_consegna(original, provider=pki.sha256, identificativo="c@pec.test",
                                       consegna="cliente@pec.altro.it"),
        "rogue": b.accettazione(original, provider=pki.rogue, identificativo="r@pec.test"),
    }
    ns = build_notification(SdiNotification(
        kind="NS", family="b2b", identificativo_sdi="271054871",
        nome_file="IT01234567890_00007.xml", message_id="1",
        errors=(SdiError("00305", "IdCodice non valido"),),
    ))
    sdi_mail = b.compose(
        sender="sdi03@pec.fatturapa.it", to=["azienda@pec.test"],
        subject="Notifica di scarto 271054871",
        attachments=[("IT01234567890_00007_NS_001.xml", ns, "application/xml")],
    )
    files["sdi"] = b.transport_envelope(sdi_mail, provider=pki.sdi)
    paths = {}
    for name, data in files.items():
        path = folder / f"{name}.eml"
        path.write_bytes(data)
        paths[name] = path
    (folder / "junk.eml").write_bytes(b"\x00\xff garbage")
    paths["junk"] = folder / "junk.eml"
    # files that are no mail at all, given by mistake (an invoice, a signed invoice, a zip)
    invoice = b'<?xml version="1.0"?>\n<p:FatturaElettronica xmlns:p="urn:x" versione="FPR12"/>'
    not_mail = {
        "IT01234567890_00007.xml": invoice,
        "IT01234567890_00007.xml.p7m": sign_attached(invoice, pki.sha256.signer.key,
                                                     pki.sha256.signer.cert),
        "fatture.zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40,
    }
    for name, data in not_mail.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    paths["trust_dir"] = folder / "trust"
    paths["trust_file"] = folder / "trust" / "ca.pem"
    return paths


def test_json_contract_and_exit_zero(corpus) -> None:
    result = run_wpec(str(corpus["receipt"]), str(corpus["rogue"]), str(corpus["sdi"]), "--json",
                      "--trust", str(corpus["trust_dir"]))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 3
    for record in records:
        assert set(record) >= FIELDS
        assert set(record["signature"]) >= {
            "present", "intact", "signer", "signing_time", "trusted", "reason"
        }
    receipt, rogue, sdi = records
    assert receipt["kind"] == "avvenuta-consegna"
    assert receipt["signature"]["intact"] is True and receipt["signature"]["trusted"] is True
    assert receipt["delivered_to"] == "cliente@pec.altro.it"
    assert {a["name"] for a in receipt["attachments"]} == {"IT01234567890_00007.xml", "nota.pdf"}
    assert set(receipt["attachments"][0]) >= {"name", "content_type", "size", "sha256"}
    assert rogue["signature"]["intact"] is True and rogue["signature"]["trusted"] is False
    assert sdi["kind"] == "posta-certificata"
    assert sdi["sdi"]["kind"] == "NS"
    assert sdi["sdi"]["sdi_address"] == "sdi03@pec.fatturapa.it"
    assert sdi["sdi"]["identificativo_sdi"] == "271054871"
    assert sdi["sdi"]["errors"] == [{"code": "00305", "description": "IdCodice non valido"}]
    assert set(sdi["sdi"]) >= {"kind", "file_name", "identificativo_sdi", "errors",
                               "invoice_files", "metadata_file", "sdi_address"}


def test_unreadable_files_exit_two_and_the_rest_still_reported(corpus, tmp_path) -> None:
    missing = tmp_path / "missing.eml"
    result = run_wpec(str(corpus["junk"]), str(missing), str(corpus["receipt"]), "--json",
                      "--trust", str(corpus["trust_file"]))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "junk.eml" in result.stderr and "missing.eml" in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["read_error"] is not None for r in records] == [True, True, False]
    assert records[2]["kind"] == "avvenuta-consegna"


@pytest.mark.parametrize(
    ("name", "looks"),
    [("IT01234567890_00007.xml", "xml"), ("IT01234567890_00007.xml.p7m", "p7m"),
     ("fatture.zip", "zip")],
)
def test_a_file_that_is_no_mail_is_refused_with_what_it_looks_like(corpus, name, looks) -> None:
    result = run_wpec(str(corpus[name]), str(corpus["receipt"]), "--json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    reason = f"not an RFC 5322 message: looks like {looks}"
    assert f"{name}: {reason}" in result.stderr
    bad, good = (json.loads(line) for line in result.stdout.splitlines())
    assert bad["read_error"] == reason
    assert bad["problems"] == [f"unreadable: {reason}"]
    assert good["read_error"] is None and good["kind"] == "avvenuta-consegna"


def test_human_output_and_bad_trust_store(corpus, tmp_path) -> None:
    result = run_wpec(str(corpus["receipt"]))
    assert result.returncode == 0
    assert "avvenuta-consegna" in result.stdout and "trust unknown" in result.stdout
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    result = run_wpec(str(corpus["receipt"]), "--trust", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "trust store" in result.stderr
