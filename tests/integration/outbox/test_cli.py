"""The outbox's commands, run for real (`python -m wpec_invoicing ...`): refusals print the
`wpec invoice validate` diagnostics, exit non-zero and queue nothing; numbers and progressivi
are allocated by the product and never consumed by a refused batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from tests.integration.outbox.helpers import COMPANY, SUPPLIER_ADDRESS
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "wpec.toml"
    path.write_text(tomli_w.dumps({
        "data_dir": "data",
        "company": COMPANY,
        "accounts": [{"name": "main", "address": "azienda@pec.sandbox.test",
                      "password_env": "WPEC_UNUSED",
                      "smtp": {"host": "127.0.0.1", "port": 1, "tls": "implicit"},
                      "limits": {"max_message_mb": 1}}],
        "outbox": {"supplier": SUPPLIER_ADDRESS},
    }))
    return path


def wpec(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args, "--config",
                           str(config)], capture_output=True, text=True, timeout=60)


def status(config: Path) -> dict:
    result = wpec(config, "outbox", "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def invoice_file(tmp_path: Path, progressivo: str, **kwargs) -> Path:
    doc = sample_invoice(progressivo=progressivo, **kwargs)
    path = tmp_path / f"IT01234567897_{progressivo}.xml"
    path.write_bytes(write_invoice(doc))
    return path


def test_send_refuses_the_whole_batch_with_validate_diagnostics(config, tmp_path):
    good = invoice_file(tmp_path, "00001")
    bad = tmp_path / "IT01234567897_00002.xml"
    bad.write_bytes(good.read_bytes().replace(b"<AliquotaIVA>22.00</AliquotaIVA>",
                                              b"<AliquotaIVA>0.22</AliquotaIVA>", 1))
    validate = subprocess.run([sys.executable, "-m", "wpec_invoicing", "invoice", "validate",
                               str(bad)], capture_output=True, text=True, timeout=60)
    result = wpec(config, "send", "--queue-only", str(good), str(bad))
    assert result.returncode == 1
    # The report (why) on stdout, the one error line on stderr (issue 18's convention).
    assert "INVALID" in result.stdout and "nothing queued" in result.stderr
    # The same diagnostic lines as `wpec invoice validate` prints for that file.
    for line in validate.stdout.splitlines()[1:]:
        assert line.strip() in result.stdout
    assert status(config)["items"] == 0

    result = wpec(config, "send", "--queue-only", "--json", str(good))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["queued"]["recipient"] == "sdi01@pec.fatturapa.it"
    # A file name once queued is never used again (SdI 00002).
    again = wpec(config, "send", "--queue-only", str(good))
    assert again.returncode == 1 and "00002" in again.stdout
    assert status(config)["status"] == {"queued": 1}


def test_send_refuses_oversized_messages(config, tmp_path):
    doc = sample_invoice(progressivo="00003", lines=4000)  # ~1.5 MB with base64
    path = tmp_path / "IT01234567897_00003.xml"
    path.write_bytes(write_invoice(doc))
    result = wpec(config, "send", "--queue-only", str(path))
    assert result.returncode == 1
    assert "over the account limit of 1 MB" in result.stdout
    assert status(config)["items"] == 0


def test_invoice_create_from_csv_numbers_and_never_consumes_on_refusal(config, tmp_path):
    invoices = tmp_path / "fatture.csv"
    invoices.write_text(
        "ref;customer_name;customer_vat;customer_street;customer_postal_code;customer_city;"
        "codice_destinatario;date\n"
        "A;Cliente Demo S.p.A.;IT12345678903;Corso Italia 10;20122;Milano;0000000;2026-03-01\n"
        "B;Cliente Demo S.p.A.;IT12345678903;Corso Italia 10;20122;Milano;ABC1234;2026-03-02\n")
    lines = tmp_path / "fatture-lines.csv"
    lines.write_text("ref;description;quantity;unit_price;vat_rate\n"
                     "A;Consulenza;2;100,00;22\nA;Trasferta;1;50;22\nB;Licenza;1;999.99;22\n")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"customer": {"name": "X", "vat": "IT12345678903",
                                             "street": "s", "postal_code": "20122",
                                             "city": "Milano"},
                                "date": "2026-03-03",
                                "lines": [{"description": "Zero senza natura",
                                           "unit_price": "10", "vat_rate": "0"}]}]))
    refused = wpec(config, "invoice", "create", "--from", str(bad))
    assert refused.returncode == 1 and "00400" in refused.stdout
    out_dir = tmp_path / "out"
    created = wpec(config, "invoice", "create", "--from", str(invoices), "--json",
                   "--out", str(out_dir))
    assert created.returncode == 0, created.stderr
    rows = [json.loads(line)["queued"] for line in created.stdout.splitlines()]
    # The refused batch consumed no number and no progressivo.
    assert [r["file_name"] for r in rows] == ["IT01234567897_00001.xml",
                                              "IT01234567897_00002.xml"]
    history = json.loads(wpec(config, "invoice", "history", "IT01234567897_00001",
                              "--json").stdout)
    assert history["invoice_number"] == "1/2026"
    assert history["document"]["total"] == "305.00"
    assert history["sdi_state"] == "queued"
    assert sorted(p.name for p in out_dir.iterdir()) == [r["file_name"] for r in rows]
    check = subprocess.run([sys.executable, "-m", "wpec_invoicing", "invoice", "validate",
                            str(out_dir)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout
    second = wpec(config, "invoice", "create", "--from", str(invoices), "--json")
    assert [json.loads(x)["queued"]["file_name"] for x in second.stdout.splitlines()] == [
        "IT01234567897_00003.xml", "IT01234567897_00004.xml"]


def test_mail_send_one_message_per_recipient_with_own_files(config, tmp_path):
    recipients = tmp_path / "rcpt.csv"
    recipients.write_text("id,pec,nome\n1,rossi@pec.example.it,Mario Rossi\n"
                          "2,bianchi@pec.example.it,Anna Bianchi\n")
    template = tmp_path / "msg.txt"
    template.write_text("Subject: Comunicazione per {nome}\n\nGentile {nome},\nin allegato.\n")
    attach = tmp_path / "files"
    (attach / "1").mkdir(parents=True)
    (attach / "1" / "contratto-rossi.pdf").write_bytes(b"%PDF-1.4 rossi")
    (attach / "2").mkdir()
    (attach / "2" / "contratto-bianchi.pdf").write_bytes(b"%PDF-1.4 bianchi")
    bad_template = tmp_path / "bad.txt"
    bad_template.write_text("Subject: Per {nome}\n\nCodice {codice}\n")
    refused = wpec(config, "mail", "send", "--queue-only", "--recipients", str(recipients),
                   "--template", str(bad_template))
    assert refused.returncode == 1 and "{codice}" in refused.stdout
    assert status(config)["items"] == 0
    result = wpec(config, "mail", "send", "--queue-only", "--json", "--recipients",
                  str(recipients), "--template", str(template), "--attach-dir", str(attach))
    assert result.returncode == 0, result.stderr
    queued = [json.loads(x)["queued"] for x in result.stdout.splitlines()]
    assert [q["recipient"] for q in queued] == ["rossi@pec.example.it",
                                                "bianchi@pec.example.it"]
    from wpec_invoicing.config import load_config
    from wpec_invoicing.outbox.queue import Outbox
    from wpec_invoicing.store.outbox_models import OutboxItem

    with Outbox(load_config(config)) as outbox, outbox.store.session() as s:
        raw = s.get(OutboxItem, queued[0]["id"]).raw
    assert b"To: rossi@pec.example.it" in raw
    assert b"Subject: Comunicazione per Mario Rossi" in raw
    assert b"contratto-rossi.pdf" in raw and b"bianchi" not in raw
    assert b"Bcc" not in raw and b"Cc:" not in raw


def test_bad_inputs_get_one_clear_line(config, tmp_path):
    missing = wpec(config, "send", str(tmp_path / "nope.xml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr
    broken = tmp_path / "x.json"
    broken.write_text("{not json")
    result = wpec(config, "invoice", "create", "--from", str(broken))
    assert result.returncode == 2 and "not valid JSON" in result.stderr
    result = wpec(config, "invoice", "history", "IT01234567897_77777")
    assert result.returncode == 2 and "nothing sent" in result.stderr


def test_pa_invoices_need_a_signing_certificate(config, tmp_path):
    pa = tmp_path / "pa.json"
    pa.write_text(json.dumps([{"format": "FPA12", "customer": {
        "name": "Comune", "vat": "IT01357924685", "fiscal_code": "01357924685",
        "street": "Piazza 1", "postal_code": "00100", "city": "Roma",
        "codice_destinatario": "UFABCD"},
        "lines": [{"description": "Sedia", "unit_price": "10.00"}]}]))
    result = wpec(config, "invoice", "create", "--from", str(pa))
    assert result.returncode == 1 and "must be signed" in result.stdout
    assert status(config)["items"] == 0
