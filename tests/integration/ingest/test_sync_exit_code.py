"""`wpec sync` for a cron job: a message kept but not processed is a failure to notice.

Found by the CLI sweep: with a rule saving into a folder that cannot be created, every SdI
invoice failed to process, the batch went on (right), the messages were archived (right), and
`wpec sync` exited 0 (wrong: cron never heard of it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from wpec_invoicing.resources import data_dir


def test_sync_exits_1_when_messages_could_not_be_processed(sandbox, tmp_path: Path) -> None:
    work = tmp_path / "work"
    config = sandbox.write_config(work / "wpec.toml")
    blocker = work / "not-a-folder"
    blocker.write_text("a file where rules.save_dir should be")
    config.write_text(config.read_text() + f'\n[rules]\nsave_dir = "{blocker}/files"\n'
                      '[rules.kinds.sdi-invoice]\nsave = ["attachments"]\n')
    demo = data_dir() / "demo" / "IT01234567897_00001.xml"
    sandbox.inject_invoice(demo.read_bytes(), demo.name)
    env = {k: v for k, v in os.environ.items() if k != "WPEC_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "wpec_invoicing", "sync", "--json"],
                            cwd=work, env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1, (result.stdout, result.stderr)
    summary = json.loads(result.stdout)[0]
    assert summary["archived"] == 1 and summary["errors"] == 1  # kept, with its error


def test_a_refused_login_is_one_readable_line(sandbox, tmp_path: Path) -> None:
    """The server's text was shown as a Python bytes repr: b'[AUTHENTICATIONFAILED] ...'."""
    import re

    work = tmp_path / "work"
    config = sandbox.write_config(work / "wpec.toml")
    config.write_text(re.sub(r'password_file = ".*"', 'password_env = "WPEC_TEST_WRONG_PW"',
                             config.read_text(), count=1))
    env = {k: v for k, v in os.environ.items() if k != "WPEC_CONFIG"}
    env["WPEC_TEST_WRONG_PW"] = "not-the-password"
    result = subprocess.run([sys.executable, "-m", "wpec_invoicing", "sync"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 4, result.stderr
    assert "login refused for" in result.stderr and "b'" not in result.stderr
    assert "not-the-password" not in result.stderr
