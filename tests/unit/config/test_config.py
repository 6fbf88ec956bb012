"""wpec.toml: lookup, defaults, relative paths, clear messages, secrets never in the file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wpec_invoicing.config import CONFIG_ENV, load_config
from wpec_invoicing.errors import ConfigError

GOOD = """
data_dir = "data"
trust_store = "sandbox/ca.pem"

[company]
name = "Azienda Demo S.r.l."
vat = "IT01234567897"
fiscal_code = "01234567897"

[[accounts]]
name = "main"
address = "azienda@pec.sandbox.test"
password_file = "secrets/azienda.pw"
imap = { host = "127.0.0.1", port = 10993, tls = "implicit", ca_file = "sandbox/ca.pem" }
smtp = { host = "127.0.0.1", port = 10465, tls = "starttls" }
limits = { messages_per_minute = 6, burst = 2, concurrency = 1, max_message_mb = 30 }

[rules.kinds.avvenuta-consegna]
move_to = "PEC/Ricevute"

[rules.kinds.posta-certificata]
save = ["header", "attachments"]
actions = [{ action = "auto_reply", text = "Grazie" }]

[[exporters]]
name = "jsonl"
type = "jsonl"

[outbox]
acceptance_timeout_minutes = 15
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wpec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.data_dir == tmp_path / "data"
    assert cfg.trust_store == tmp_path / "sandbox/ca.pem"
    assert cfg.resolved_store_url == f"sqlite:///{tmp_path / 'data' / 'wpec.db'}"
    account = cfg.account("main")
    assert account.imap.ca_file == tmp_path / "sandbox/ca.pem"
    assert account.login == "azienda@pec.sandbox.test"
    assert account.limits.messages_per_minute == 6
    assert cfg.rules.kinds["avvenuta-consegna"].move_to == "PEC/Ricevute"
    assert cfg.rules.kinds["posta-certificata"].actions[0].action == "auto_reply"
    assert cfg.exporters[0].path == tmp_path / "data" / "export" / "jsonl"
    assert cfg.outbox.acceptance_timeout_minutes == 15
    assert cfg.source == (tmp_path / "wpec.toml").resolve()


def test_password_is_read_at_use_time(tmp_path: Path, monkeypatch) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match=r"secrets/azienda\.pw"):
        cfg.account().password()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/azienda.pw").write_text("s3cret\n")
    assert cfg.account().password() == "s3cret"
    env_cfg = load_config(write(tmp_path, GOOD.replace(
        'password_file = "secrets/azienda.pw"', 'password_env = "WPEC_TEST_PW"')))
    monkeypatch.setenv("WPEC_TEST_PW", "fromenv")
    assert env_cfg.account().password() == "fromenv"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('port = 10993', 'port = 99999'), "accounts[0].imap.port"),
        (('tls = "implicit"', 'tls = "sometimes"'), "accounts[0].imap.tls"),
        (('vat = "IT01234567897"', 'vat = "12"'), "company.vat"),
        (('[company]', '[company]\ncolour = "red"'), "company.colour: unknown key"),
        (('name = "main"\n', ''), "accounts[0].name: required key is missing"),
        (('move_to = "PEC/Ricevute"', 'move_to = 3'), "rules.kinds.avvenuta-consegna.move_to"),
        (('password_file = "secrets/azienda.pw"', 'password = "hunter2"'),
         "accounts[0].password: secrets must not be written"),
        (('data_dir = "data"', 'data_dir = "data'), "not valid TOML"),
        (('[rules.kinds.avvenuta-consegna]', '[rules.kinds.avvenuta_consegna]'),
         "unknown message kind 'avvenuta_consegna'"),
        (('move_to = "PEC/Ricevute"', 'path = "{kind}/{colour}"'), "unknown field {colour}"),
        (('type = "jsonl"', 'type = "jsonl"\nstatuses = ["done"]'), "exporters[0].statuses[0]"),
        (('data_dir = "data"', 'store_url = "postgresql://u:hunter2@db/x"'),
         "store_url: the URL carries a password"),
        (('type = "jsonl"', 'type = "webhook"\nurl = "https://erp.example.it/h"'),
         "exporters[0]: exporter 'jsonl': a webhook needs secret_env or secret_file"),
        (('type = "jsonl"', 'type = "webhook"\nurl = "https://erp.example.it/h"\n'
          'secret_env = "S"\nunsigned = true'), "unsigned = true and a secret: choose one"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(*change, 1)))
    assert expected in str(info.value)
    assert "hunter2" not in str(info.value)


def test_lookup_order_and_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    cfg = load_config()
    assert cfg.source is None
    assert cfg.data_dir == tmp_path / "wpec-data"
    with pytest.raises(ConfigError, match=r"no \[\[accounts\]\] configured.*wpec\.toml"):
        cfg.account()
    other = tmp_path / "other.toml"
    other.write_text('data_dir = "elsewhere"\n')
    monkeypatch.setenv(CONFIG_ENV, str(other))
    assert load_config().data_dir == tmp_path / "elsewhere"
    write(tmp_path, 'data_dir = "local"\n')
    assert load_config(tmp_path / "wpec.toml").data_dir == tmp_path / "local"
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"missing\.toml.*does not exist"):
        load_config()


def test_unknown_account_lists_the_known_ones(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="configured: main"):
        cfg.account("nope")


def test_cli_bad_config_is_one_clear_message(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("port = 10993", "port = -1"))
    env = {**os.environ, CONFIG_ENV: str(path)}
    result = subprocess.run([sys.executable, "-m", "wpec_invoicing", "invoices", "list"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "accounts[0].imap.port" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_config_option_beats_the_environment(tmp_path: Path) -> None:
    """`--config` wins over `$WPEC_CONFIG` (here a broken file that would fail the run)."""
    broken = write(tmp_path, GOOD.replace("port = 10993", "port = -1"))
    chosen = tmp_path / "chosen.toml"
    chosen.write_text('data_dir = "from-cli"\n', encoding="utf-8")
    env = {**os.environ, CONFIG_ENV: str(broken)}
    result = subprocess.run(
        [sys.executable, "-m", "wpec_invoicing", "invoices", "list", "--json",
         "--config", str(chosen)],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert (tmp_path / "from-cli" / "wpec.db").is_file()
    assert not (tmp_path / "data").exists()  # the env file's data_dir was never used


def test_a_misspelt_outbox_setting_is_an_error_naming_the_key(tmp_path: Path) -> None:
    import pytest

    from wpec_invoicing.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD + "retry_base_secods = 5\n"))
    assert "retry_base_secods" in str(info.value)
