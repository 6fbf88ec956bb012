"""A hostile operator on a fresh machine: every bad input is one clear line and a non-zero exit.

Found by a sweep of the whole command line: a FIFO given as a file hung every command that reads
one, a file name with `[red]` or `[/` was read as Rich markup (garbled or crashed), a misspelt
`pasword = "..."` was echoed back, a password file that is empty or binary was sent as is or
crashed. The commands run in-process with typer's CliRunner (fast) from an empty temporary
folder; `main()` only turns a WpecError into one line, so a WpecError is the clean outcome and
any other exception fails the test. pytest-timeout turns a hang into a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wpec_invoicing.cli import app
from wpec_invoicing.errors import WpecError

pytestmark = pytest.mark.timeout(30)


@dataclass
class Run:
    returncode: int
    output: str
    exception: BaseException | None


@pytest.fixture
def wpec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WPEC_CONFIG", raising=False)

    def run(*args: str) -> Run:
        result = CliRunner().invoke(app, list(args))
        exc = result.exception
        output = result.output + (getattr(result, "stderr", "") or "")
        if isinstance(exc, WpecError):  # what main() prints
            return Run(exc.exit_code, output + f"wpec: error: {exc}", None)
        if isinstance(exc, SystemExit):
            exc = None
        return Run(result.exit_code, output, exc)

    return run


def assert_clean_failure(result: Run, *needles: str) -> None:
    assert result.exception is None, repr(result.exception)
    assert result.returncode != 0, result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.xml"
    os.mkfifo(path)
    return path


# Every command that reads a file the operator names; "{f}" is the FIFO.
FILE_COMMANDS = [
    ("invoice", "validate", "{f}"),
    ("invoice", "show", "{f}"),
    ("invoice", "attachments", "{f}"),
    ("pec", "inspect", "{f}"),
    ("send", "--queue-only", "{f}"),
    ("invoice", "create", "--from", "{f}"),
    ("mail", "send", "--recipients", "{f}", "--template", "{f}"),
    ("invoices", "load-suppliers", "{f}"),
    ("import", "{f}"),
    ("sandbox", "inject-invoice", "{f}", "--dir", "sb"),
    ("invoice", "validate", "--trust", "{f}", "x.xml"),
    ("pec", "inspect", "--trust", "{f}", "x.eml"),
]


@pytest.mark.parametrize("command", FILE_COMMANDS, ids=lambda c: " ".join(c[:3]))
def test_a_fifo_instead_of_a_file_is_refused_not_waited_on(wpec, fifo, command):
    result = wpec(*(a.replace("{f}", str(fifo)) for a in command))
    assert_clean_failure(result, "pipe.xml", "not a regular file")


def test_a_broken_symlink_says_so(wpec, tmp_path):
    (tmp_path / "gone.xml").symlink_to(tmp_path / "nowhere.xml")
    result = wpec("invoice", "validate", "gone.xml")
    assert_clean_failure(result, "gone.xml", "broken symbolic link")


def test_file_names_are_printed_verbatim_never_as_markup(tmp_path):
    """`a[red]b.xml` lost its `[red]`; a path with `[/` crashed with a MarkupError.
    Run as a real process: the crash went through main()'s last line of defence."""
    (tmp_path / "a[red]b.xml").write_bytes(b"\x00\x01 not an invoice")
    for args in (("validate", "a[red]b.xml", "d[/x.xml"), ("show", "d[/x.xml")):
        result = subprocess.run([sys.executable, "-m", "wpec_invoicing", "invoice", *args],
                                cwd=tmp_path, capture_output=True, text=True, timeout=30,
                                check=False)
        out = result.stdout + result.stderr
        assert result.returncode == 2, out
        assert "internal error" not in out and "Traceback" not in out, out
        for name in args[1:]:
            assert name in out, out


def test_a_misspelt_password_key_is_refused_without_echoing_the_secret(wpec, tmp_path):
    (tmp_path / "wpec.toml").write_text(
        '[[accounts]]\nname = "main"\naddress = "a@pec.example.it"\npasword = "hunter2"\n')
    result = wpec("sync")
    assert_clean_failure(result, "accounts[0].pasword", "unknown key")
    assert "hunter2" not in result.output


def test_a_path_key_of_the_wrong_type_names_the_key(wpec, tmp_path):
    (tmp_path / "wpec.toml").write_text("data_dir = 5\n")
    result = wpec("invoices", "list")
    assert_clean_failure(result, "data_dir", "must be a path")


def test_a_folder_named_wpec_toml_is_an_error_not_silent_defaults(wpec, tmp_path):
    (tmp_path / "wpec.toml").mkdir()
    result = wpec("outbox", "status")
    assert_clean_failure(result, "wpec.toml", "not a regular file")
    assert not (tmp_path / "wpec-data").exists()


@pytest.mark.parametrize(("content", "needle"), [
    (b"", "the file is empty"),
    (b"\xff\xfe\x00garbage\x81", "not UTF-8"),
    (None, "not a regular file"),  # a FIFO: used to hang
])
def test_a_bad_password_file_is_a_clear_config_error_before_connecting(wpec, tmp_path, content,
                                                                       needle):
    secret = tmp_path / "main.pw"
    if content is None:
        os.mkfifo(secret)
    else:
        secret.write_bytes(content)
    # Port 1 is closed: the password problem must be reported, not the connection.
    (tmp_path / "wpec.toml").write_text(
        '[[accounts]]\nname = "main"\naddress = "a@pec.example.it"\n'
        'password_file = "main.pw"\nimap = { host = "127.0.0.1", port = 1 }\n')
    result = wpec("sync")
    assert_clean_failure(result, "password_file", "main.pw", needle)


def test_a_fifo_as_ca_file_is_refused(wpec, tmp_path, fifo):
    (tmp_path / "main.pw").write_text("secret\n")
    (tmp_path / "wpec.toml").write_text(
        '[[accounts]]\nname = "main"\naddress = "a@pec.example.it"\npassword_file = "main.pw"\n'
        f'imap = {{ host = "127.0.0.1", port = 1, ca_file = "{fifo}" }}\n')
    result = wpec("sync")
    assert_clean_failure(result, "ca_file", "not a regular file")


def test_a_binary_supplier_list_is_a_clear_error(wpec, tmp_path):
    (tmp_path / "suppliers.csv").write_bytes(b"vat,name\n\x81\x8d\x8f\x90\x9d\n")
    result = wpec("invoices", "load-suppliers", "suppliers.csv")
    assert_clean_failure(result, "suppliers.csv", "not text")


def test_an_invoice_id_out_of_range_is_a_usage_error(wpec, tmp_path):
    result = wpec("invoices", "show", "99999999999999999999999")
    assert_clean_failure(result, "'ID'")
    assert result.returncode == 2


@pytest.mark.parametrize("args", [
    ("sandbox", "make-invoices", "--out", "{file}"),
    ("sandbox", "up", "--dir", "{file}"),
    ("sandbox", "up", "--sdi-delay", "nan"),
    ("sandbox", "up", "--preavviso-after", "-1"),
    ("sandbox", "up", "--smtp-port", "99999"),
    ("demo", "--imap", "bogus"),  # was an internal error (SandboxError)
])
def test_sandbox_options_are_checked_before_anything_starts(wpec, tmp_path, args):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    result = wpec(*(a.replace("{file}", str(plain)) for a in args))
    assert_clean_failure(result, args[2])
    assert not (tmp_path / "sandbox").exists()


def _sending_config(tmp_path: Path, *, secret_name: str | None = None) -> None:
    (tmp_path / "main.pw").write_text("secret\n")
    (tmp_path / "wpec.toml").write_text(
        '[company]\nname = "Azienda Demo S.r.l."\nvat = "IT01234567897"\n'
        'fiscal_code = "01234567897"\n'
        '[[accounts]]\nname = "main"\naddress = "azienda@pec.example.it"\n'
        f'password_file = "{secret_name or "main.pw"}"\n'
        'smtp = { host = "127.0.0.1", port = 1, tls = "implicit" }\n')


def _queue_one(wpec) -> None:
    from wpec_invoicing.resources import data_dir

    queued = wpec("send", "--queue-only", str(data_dir() / "demo" / "IT01234567897_00001.xml"))
    assert queued.returncode == 0, queued.output


def test_outbox_run_against_a_closed_smtp_port_fails_and_says_where(wpec, tmp_path):
    """It used to exit 0 with "throttled 1": the operator could not tell the server was down."""
    _sending_config(tmp_path)
    _queue_one(wpec)
    result = wpec("outbox", "run")
    assert_clean_failure(result, "cannot reach the SMTP server", "127.0.0.1:1",
                         "Connection refused")
    assert "throttled 0, could not connect" in result.output
    assert result.returncode == 3  # a temporary failure: retry later (issue 18's table)
    status = wpec("outbox", "status", "--json")
    assert '"queued": 1' in status.output  # nothing lost


def test_outbox_run_with_a_missing_password_file_is_a_config_error_nothing_marked_sent(
        wpec, tmp_path):
    """It printed a traceback, exited 0 and left the item as an "uncertain" submission."""
    _sending_config(tmp_path)
    _queue_one(wpec)
    _sending_config(tmp_path, secret_name="gone.pw")
    result = wpec("outbox", "run")
    assert_clean_failure(result, "password_file", "gone.pw")
    assert result.returncode == 2
    status = wpec("outbox", "status", "--json")
    assert '"status": {"queued": 1}' in status.output


def test_outbox_tunables_of_the_wrong_type_are_config_errors(wpec, tmp_path):
    """`retry_base_seconds = "abc"` crashed mid-run; a negative one made `outbox run` spin."""
    _sending_config(tmp_path)
    with (tmp_path / "wpec.toml").open("a") as fh:
        fh.write('[outbox]\nretry_base_seconds = "abc"\nidle_poll_seconds = -5\n')
    result = wpec("outbox", "run")
    assert_clean_failure(result, "outbox.retry_base_seconds", "outbox.idle_poll_seconds")
    assert result.returncode == 2


@pytest.mark.parametrize("args", [
    ("invoices", "list", "--json"),
    ("import", "--json", "{garbage}", "{missing}"),
    ("invoice", "validate", "--json", "{garbage}", "{missing}"),
    ("sandbox", "make-invoices", "--json", "--out", "made", "--count", "2"),
    ("outbox", "status", "--json"),
], ids=lambda a: " ".join(a[:2]))
def test_json_output_is_json_on_every_line_even_on_errors(tmp_path, args):
    """`--json` documents were pretty-printed over many lines: a `while read line` consumer
    got fragments. Every line of stdout must parse, bad inputs included."""
    import json

    garbage = tmp_path / "garbage.xml"
    garbage.write_bytes(b"\x00\xff not xml")
    args = tuple(a.replace("{garbage}", str(garbage)).replace("{missing}", "missing.xml")
                 for a in args)
    result = subprocess.run([sys.executable, "-m", "wpec_invoicing", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=30, check=False)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, result.stderr
    for line in lines:
        json.loads(line)


def test_an_exporter_path_that_is_a_file_says_so_and_keeps_the_invoices_pending(wpec, tmp_path):
    """It printed `FileExistsError: [Errno 17] File exists` per invoice."""
    from wpec_invoicing.resources import data_dir

    (tmp_path / "afile").write_text("x")
    (tmp_path / "wpec.toml").write_text(  # an exporter's relative path is under data_dir
        f'[[exporters]]\nname = "j"\ntype = "jsonl"\npath = "{tmp_path / "afile"}"\n'
        'statuses = ["verified", "needs-review", "refused"]\n')
    imported = wpec("import", str(data_dir() / "demo" / "IT01234567897_00001.xml"))
    assert imported.returncode == 0, imported.output
    result = wpec("export")
    assert_clean_failure(result, "afile", "is not a folder")
    assert result.returncode == 1


@pytest.mark.parametrize(("template", "recipients", "needles"), [
    # a width of a billion characters made `mail send` hang and eat memory
    (b"Subject: x\n\n{name:>999999999}\n", b"pec,name\na@pec.example.it,M\n",
     ("--template", "t.txt", "format specs")),
    (b"\xff\xfe binary", b"pec\na@pec.example.it\n", ("--template", "t.txt", "not UTF-8")),
    (b"Subject: x\n\nbody\n", b"\xff\xfe binary", ("--recipients", "r.csv", "not UTF-8")),
    (b"no subject\n", b"pec\na@pec.example.it\n", ("--template", "t.txt", "Subject:")),
], ids=["huge-width", "binary-template", "binary-recipients", "no-subject"])
def test_mail_send_bad_template_or_recipients_say_which_file(wpec, tmp_path, template,
                                                             recipients, needles):
    (tmp_path / "t.txt").write_bytes(template)
    (tmp_path / "r.csv").write_bytes(recipients)
    result = wpec("mail", "send", "--queue-only", "--recipients", "r.csv", "--template", "t.txt")
    assert_clean_failure(result, *needles)


def test_a_huge_value_in_an_invoice_does_not_flood_the_human_output(wpec, tmp_path):
    """A 100 000-character <Descrizione> was quoted whole, twice, by validate's messages."""
    import re

    from wpec_invoicing.resources import data_dir

    xml = (data_dir() / "demo" / "IT01234567897_00001.xml").read_bytes()
    xml = re.sub(rb"<Descrizione>[^<]*</Descrizione>", b"<Descrizione>" + b"x" * 100_000
                 + b"</Descrizione>", xml, count=1)
    (tmp_path / "IT01234567897_00001.xml").write_bytes(xml)
    result = wpec("invoice", "validate", "IT01234567897_00001.xml")
    assert result.returncode == 1, result.output[:500]
    assert "characters)" in result.output
    assert len(result.output) < 5000


def test_a_wpec_toml_saved_with_a_bom_is_read(wpec, tmp_path):
    """Notepad's UTF-8 BOM made the file 'not valid TOML (line 1, column 1)'."""
    (tmp_path / "wpec.toml").write_bytes(b'\xef\xbb\xbfdata_dir = "elsewhere"\n')
    result = wpec("invoices", "list", "--json")
    assert result.returncode == 0, result.output
    assert (tmp_path / "elsewhere").is_dir()


def test_an_empty_password_variable_is_a_config_error(wpec, tmp_path, monkeypatch):
    monkeypatch.setenv("WPEC_TEST_EMPTY_PW", "")
    (tmp_path / "wpec.toml").write_text(
        '[[accounts]]\nname = "main"\naddress = "a@pec.example.it"\n'
        'password_env = "WPEC_TEST_EMPTY_PW"\nimap = { host = "127.0.0.1", port = 1 }\n')
    result = wpec("sync")
    assert_clean_failure(result, "WPEC_TEST_EMPTY_PW", "is empty")


@pytest.mark.parametrize("value", ["-5", "nan"])
def test_outbox_run_max_seconds_must_be_positive(wpec, value):
    result = wpec("outbox", "run", "--max-seconds", value)
    assert_clean_failure(result, "--max-seconds")
    assert result.returncode == 2


def test_supplier_text_with_brackets_is_shown_verbatim(wpec, tmp_path):
    """A supplier named `ACME [/]` crashed `invoices show` (MarkupError in the reasons);
    `[bold]` in a name or a line description vanished from the tables."""
    from wpec_invoicing.resources import data_dir

    xml = (data_dir() / "demo" / "IT01234567897_00001.xml").read_bytes()
    xml = xml.replace(b"<Denominazione>Fornitore Demo S.r.l.</Denominazione>",
                      b"<Denominazione>ACME [/] [bold]x</Denominazione>", 1)
    xml = xml.replace(b"<Descrizione>Ricambi: filtro aria</Descrizione>",
                      b"<Descrizione>[red]filtro</Descrizione>", 1)
    (tmp_path / "IT01234567897_00009.xml").write_bytes(xml)
    assert wpec("import", "IT01234567897_00009.xml").returncode == 0
    for args in (("invoices", "show", "1"), ("invoice", "show", "IT01234567897_00009.xml")):
        result = wpec(*args)
        assert result.exception is None, repr(result.exception)
        assert result.returncode == 0, result.output
        assert "ACME [/] [bold]x" in result.output and "[red]filtro" in result.output


def test_a_second_sandbox_on_a_running_sandbox_folder_is_refused(wpec, tmp_path):
    """A second `sandbox up` on the same --dir ran a second provider on the same mail store
    and, when it stopped, erased the first one's state file."""
    import json

    from wpec_invoicing.sandbox import control

    folder = tmp_path / "sb"
    folder.mkdir()
    # The state file is how sandboxes find each other; this (live) process plays the first.
    (folder / control.STATE_FILE).write_text(json.dumps({"pid": os.getpid()}))
    result = wpec("sandbox", "up", "--dir", str(folder))
    assert_clean_failure(result, "already running", str(os.getpid()))
    assert json.loads((folder / control.STATE_FILE).read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b.xml", ".."])
def test_inject_invoice_name_must_be_a_plain_file_name(wpec, tmp_path, name):
    (tmp_path / "IT01234567897_00001.xml").write_text("<x/>")
    result = wpec("sandbox", "inject-invoice", "IT01234567897_00001.xml", "--name", name,
                  "--dir", "sb")
    assert_clean_failure(result, "--name", "plain file name")
    assert not (tmp_path / "sb").exists()


def test_a_webhook_url_with_a_password_is_refused_without_echoing_it(wpec, tmp_path):
    """Secrets never sit in wpec.toml: store_url was checked, the webhook url was not."""
    (tmp_path / "wpec.toml").write_text(
        '[[exporters]]\nname = "w"\ntype = "webhook"\n'
        'url = "https://user:s3cr3t@hooks.example.it/in"\nunsigned = true\n')
    result = wpec("export")
    assert_clean_failure(result, "exporters[0].url", "password")
    assert "s3cr3t" not in result.output


def test_a_supplier_csv_line_over_the_csv_field_limit_is_one_error_not_a_crash(wpec, tmp_path):
    """A 200 000-character field was an internal error (csv.Error) and stopped the load."""
    (tmp_path / "s.csv").write_text("vat,name\nIT01234567897," + "x" * 200_000
                                    + "\nIT12345678903,Ok\n")
    result = wpec("invoices", "load-suppliers", "s.csv")
    assert result.exception is None, repr(result.exception)
    assert "s.csv:2: field larger than field limit" in result.output
    assert "1 added" in result.output


def test_attachments_into_a_file_says_it_is_not_a_folder(wpec, tmp_path):
    from wpec_invoicing.resources import data_dir

    (tmp_path / "out").write_text("x")
    result = wpec("invoice", "attachments",
                  str(data_dir() / "demo" / "IT01234567897_00001.xml"), "-o", "out")
    assert_clean_failure(result, "--out out", "not a folder")


def test_invoice_create_out_into_a_file_is_refused_before_queueing(wpec, tmp_path):
    """It queued the invoices, then crashed (FileExistsError) writing the copies."""
    from wpec_invoicing.resources import data_dir

    (tmp_path / "out").write_text("x")
    result = wpec("invoice", "create", "--from",
                  str(data_dir() / "demo-send" / "invoices.json"), "--out", "out")
    assert_clean_failure(result, "--out out", "not a folder")
    assert not (tmp_path / "wpec-data").exists()  # nothing queued, nothing created


def test_an_infinite_timeout_is_a_config_error(wpec, tmp_path, monkeypatch):
    """TOML's `inf` passed `gt=0` and crashed the socket layer (OverflowError)."""
    monkeypatch.setenv("WPEC_TEST_PW", "x")
    (tmp_path / "wpec.toml").write_text(
        '[[accounts]]\nname = "main"\naddress = "a@pec.example.it"\npassword_env = "WPEC_TEST_PW"\n'
        'imap = { host = "127.0.0.1", port = 1, timeout_seconds = inf }\n')
    result = wpec("sync")
    assert_clean_failure(result, "accounts[0].imap.timeout_seconds")
    assert result.returncode == 2


def test_an_import_that_cannot_store_prints_one_line_not_a_traceback(tmp_path):
    """With wpec-data/archive being a file, import printed a full traceback per input."""
    from wpec_invoicing.resources import data_dir

    (tmp_path / "wpec-data").mkdir()
    (tmp_path / "wpec-data" / "archive").write_text("not a folder")
    result = subprocess.run([sys.executable, "-m", "wpec_invoicing", "import",
                             str(data_dir() / "demo" / "IT01234567897_00001.xml")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert "archive" in result.stdout and "Not a directory" in result.stdout  # the report


@pytest.mark.parametrize("command", [("sync",), ("outbox", "run")])
def test_an_empty_account_name_matches_nothing(wpec, tmp_path, command):
    """`--account ""` used to mean "every account"."""
    _sending_config(tmp_path)
    result = wpec(*command, "--account", "")
    assert_clean_failure(result, "no account named ''")


def test_outbox_run_until_empty_gives_up_on_a_server_that_is_down(wpec, tmp_path):
    """--until-empty against a closed port was a silent endless loop."""
    _sending_config(tmp_path)
    with (tmp_path / "wpec.toml").open("a") as fh:
        fh.write("[outbox]\nretry_base_seconds = 0.1\nmax_connect_failures = 2\n")
    _queue_one(wpec)
    result = wpec("outbox", "run", "--until-empty")
    assert_clean_failure(result, "127.0.0.1:1 unreachable 2 times in a row",
                         "stay queued")
    assert result.returncode == 3  # temporary: retry later


def test_an_unsupported_database_is_named_in_the_config_error(wpec, tmp_path):
    """`mysql://...` said only "No module named 'MySQLdb'"."""
    (tmp_path / "wpec.toml").write_text('store_url = "mysql://localhost/db"\n')
    result = wpec("invoices", "list")
    assert_clean_failure(result, "store_url", "unsupported database 'mysql'")


@pytest.mark.parametrize("command", [("sync",), ("outbox", "run"), ("send", "x.xml")])
def test_no_config_at_all_says_what_to_do(wpec, tmp_path, command):
    (tmp_path / "x.xml").write_bytes(b"<x/>")
    result = wpec(*command)
    assert_clean_failure(result)
    if command[0] != "send":  # send refuses the file first
        assert "no configuration file found" in result.output
        assert "--config" in result.output and str(tmp_path / "wpec.toml") in result.output
