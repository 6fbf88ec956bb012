"""Issue 18, "Found when tried as a new user would": one test per case, each of which failed on
the behaviour the issue describes. The commands run in-process through `cli.run` (what the
`wpec` entry point calls), so stdout, stderr and the exit code are exactly what a user sees.

Cases that need a running sandbox are in tests/integration/sandbox/test_cli_issue18.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wpec_invoicing.cli import run
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.resources import data_dir

pytestmark = pytest.mark.timeout(60)
DEMO_INVOICE = data_dir() / "demo" / "IT01234567897_00001.xml"


@pytest.fixture
def wpec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run `wpec ARGS` from an empty folder: (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WPEC_CONFIG", raising=False)

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return call


def _sending_config(folder: Path, smtp_port: int = 1) -> None:
    (folder / "main.pw").write_text("secret\n")
    (folder / "wpec.toml").write_text(
        '[company]\nname = "Azienda Demo S.r.l."\nvat = "IT01234567897"\n'
        'fiscal_code = "01234567897"\n'
        '[[accounts]]\nname = "main"\naddress = "azienda@pec.example.it"\n'
        'password_file = "main.pw"\n'
        f'smtp = {{ host = "127.0.0.1", port = {smtp_port}, tls = "implicit" }}\n'
        f'imap = {{ host = "127.0.0.1", port = {smtp_port}, tls = "implicit" }}\n')


# -- reports on stdout -------------------------------------------------------------------------
def test_outbox_status_and_invoice_history_report_on_stdout(wpec, tmp_path):
    _sending_config(tmp_path)
    assert wpec("send", "--queue-only", str(DEMO_INVOICE))[0] == 0
    code, out, err = wpec("outbox", "status")
    assert code == 0 and "1 item(s)" in out and "queued 1" in out, (out, err)
    code, out, err = wpec("invoice", "history", "IT01234567897_00001")
    assert code == 0 and "IT01234567897_00001.xml" in out and "queued" in out, (out, err)


# -- commands that need a configuration --------------------------------------------------------
def test_export_without_configuration_says_it_needs_one_and_names_no_phantom_config(wpec, tmp_path):
    code, out, err = wpec("export")
    assert code == 2 and out == ""
    assert "needs a configuration" in err and "looked for" in err
    assert "(config:" not in err  # it named ./wpec.toml as if it were the configuration in use
    assert not (tmp_path / "wpec-data").exists()


def test_outbox_status_without_configuration_says_so_and_creates_nothing(wpec, tmp_path):
    code, out, err = wpec("outbox", "status", "--json")
    assert code == 2
    assert json.loads(out)["error"]["exit_code"] == 2
    assert err.startswith("wpec: error: `wpec outbox status` needs a configuration")
    assert str(tmp_path / "wpec.toml") in err
    assert not (tmp_path / "wpec-data").exists()  # it used to create ./wpec-data/wpec.db


# -- sync and send: exit codes of the one table ------------------------------------------------
def test_sync_to_a_refused_port_is_a_temporary_failure_with_a_json_error(wpec, tmp_path):
    _sending_config(tmp_path)
    code, out, err = wpec("sync", "--json")
    assert code == 3, err  # was 4 (the README documented 1 for sync; 4 is "refused")
    error = json.loads(out)["error"]  # stdout was empty
    assert error["type"] == "temporary" and "cannot connect" in error["message"]
    assert err.startswith("wpec: error: IMAP 127.0.0.1:1: cannot connect")


def test_sync_to_an_unknown_host_is_a_temporary_failure(wpec, tmp_path):
    _sending_config(tmp_path)
    config = tmp_path / "wpec.toml"  # .invalid never resolves (RFC 6761): answered at once
    config.write_text(config.read_text().replace('host = "127.0.0.1", port = 1',
                                                 'host = "nonexistent.invalid", port = 993'))
    code, out, err = wpec("sync", "--json")
    assert code == 3, err  # was 4
    assert json.loads(out)["error"]["type"] == "temporary"
    assert err.startswith("wpec: error: IMAP nonexistent.invalid:993: cannot connect")


def test_send_to_a_port_where_nothing_listens_is_not_throttling(wpec, tmp_path):
    _sending_config(tmp_path)
    code, out, err = wpec("send", str(DEMO_INVOICE))
    assert code == 3, (out, err)
    assert "throttled 0, could not connect" in out  # was "throttled 1"
    assert "wpec: error: cannot reach the SMTP server (main: 127.0.0.1:1" in err
    code, out, _err = wpec("outbox", "status", "--json")
    assert json.loads(out)["status"] == {"queued": 1}  # nothing lost


# -- configuration checks ----------------------------------------------------------------------
@pytest.mark.parametrize(("section", "problem"), [
    ('[company]\nvat = "IT0123"\n', "company.vat: not a valid partita IVA"),
    ('[company]\nvat = "IT01234567890"\n', "company.vat: not a valid partita IVA"),
    ('[company]\nfiscal_code = "RSSMRA80A01H501X"\n', "company.fiscal_code: not a valid"),
    ('[[accounts]]\nname = "m"\naddress = "azienda@pec"\npassword_env = "X"\n',
     "accounts[0].address: not a PEC address"),
    ('[sdi]\naddress = "sdi01.pec.fatturapa.it"\n', "sdi.address: not a PEC address"),
    ('[outbox]\nsupplier = { codice_destinatario = "ABC" }\n',
     "outbox.supplier: codice_destinatario: not an SdI codice destinatario"),
    ('[outbox]\nsupplier = { vat = "IT01234567890" }\n', "outbox.supplier: vat: not a valid"),
])
def test_every_identifier_in_the_configuration_is_checked(wpec, tmp_path, section, problem):
    (tmp_path / "wpec.toml").write_text(section)
    code, _out, err = wpec("invoices", "list")
    assert code == 2 and problem in err, err


def test_valid_identifiers_are_accepted(wpec, tmp_path):
    (tmp_path / "wpec.toml").write_text(
        '[company]\nvat = "IT01234567897"\nfiscal_code = "RSSMRA80A01H501U"\n'
        '[outbox]\nsupplier = { codice_destinatario = "abc1234", pec = "a@pec.example.it" }\n')
    code, out, err = wpec("invoices", "list", "--json")
    assert code == 0 and json.loads(out) == [], err


# -- inputs ------------------------------------------------------------------------------------
def test_invoice_validate_dir_looks_into_subfolders(wpec, tmp_path):
    deep = tmp_path / "2026" / "01"
    deep.mkdir(parents=True)
    (deep / "IT01234567897_00001.xml").write_bytes(write_invoice(sample_invoice()))
    (tmp_path / "2026" / ".hidden").mkdir()
    (tmp_path / "2026" / ".hidden" / "IT01234567897_00002.xml").write_bytes(b"<x/>")
    code, out, err = wpec("invoice", "validate", "--json", str(tmp_path / "2026"))
    assert code == 0, err  # was "no files to validate (empty folder?)"
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in rows] == [str(deep / "IT01234567897_00001.xml")]


def test_import_of_a_missing_file_says_it_is_missing_exit_2(wpec, tmp_path):
    code, out, err = wpec("import", "--json", str(tmp_path / "nope.xml"))
    assert code == 2  # was "invalid" and exit 1
    assert "no such file or folder" in err and json.loads(out)["error"]["exit_code"] == 2
    assert not (tmp_path / "wpec-data").exists()


# -- help --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("command", "absent", "present"), [
    (("invoice", "validate"), "<list[Path]>", "FILE|DIR..."),
    (("invoices", "show"), "<int range>", "ID"),
    (("import",), "{paths}", "FILE|DIR..."),
    (("sandbox", "make-invoices"), "<int range>", "--count N"),
    (("sandbox", "up"), "--config", "--write-config FILE"),
    (("invoice", "attachments"), "--output", "--out DIR"),
    (("invoice", "validate"), "--trust PEM", "--trust FILE|DIR"),
])
def test_help_shows_readable_placeholders_and_one_name_per_idea(wpec, command, absent, present):
    code, out, _err = wpec(*command, "--help")
    assert code == 0 and absent not in out and present in out, out


def test_invoice_validate_trust_takes_a_folder(wpec, tmp_path):
    from wpec_invoicing.cms.certs import make_ca

    _key, ca = make_ca("Test CA")
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.pem").write_bytes(ca.public_bytes(Encoding.PEM))
    code, _out, err = wpec("invoice", "validate", "--trust", str(certs), str(DEMO_INVOICE))
    assert code == 0, err  # a folder was "cannot read trust store: Is a directory"


@pytest.mark.parametrize("args", [
    ("invoice", "show", "--json", str(DEMO_INVOICE)),
    ("invoice", "attachments", "--json", "--out", "allegati", str(DEMO_INVOICE)),
    ("db", "upgrade", "--json"),
])
def test_json_on_show_attachments_db_upgrade(wpec, tmp_path, args):
    code, out, err = wpec(*args)
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, dict) and not isinstance(data.get("error"), dict)


def test_outbox_resume_json(wpec, tmp_path):
    _sending_config(tmp_path)
    code, out, err = wpec("outbox", "resume", "main", "--json")
    assert code == 0 and json.loads(out) == {"account": "main", "resumed": True}, err


def test_one_error_prefix_for_an_unreadable_message(wpec, tmp_path):
    (tmp_path / "empty.eml").write_bytes(b"")
    code, _out, err = wpec("pec", "inspect", str(tmp_path / "empty.eml"))
    assert code == 2
    assert err.startswith(f"wpec: error: {tmp_path / 'empty.eml'}: empty file")  # was "wpec: F:"


# -- messages list -----------------------------------------------------------------------------
def test_messages_list_shows_when_each_message_arrived_like_invoices_list(wpec, tmp_path):
    from wpec_invoicing.pec import builder

    raw = builder.compose(sender="fornitore@example.it", to=["azienda@pec.example.it"],
                          subject="Listino 2026", text="In allegato.\n")
    (tmp_path / "listino.eml").write_bytes(raw)
    assert wpec("import", str(tmp_path / "listino.eml"))[0] == 0
    code, out, err = wpec("messages", "list", "--status", "all")
    assert code == 0, err
    assert "received (UTC)" in out
    import re

    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", out), out
    code, out, _err = wpec("messages", "list", "--status", "all", "--json")
    when = json.loads(out)[0]["first_seen_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", when), when
    _code, out, _err = wpec("invoices", "list")
    assert "received (UTC)" in out
