"""`wpec db upgrade` on a fresh data folder (defaults, no config file at all)."""

import os
import re
import subprocess
import sys
from pathlib import Path


def test_db_upgrade_creates_the_store_in_wpec_data(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WPEC_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "wpec_invoicing", "db", "upgrade"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "wpec-data" / "wpec.db").is_file()
    assert re.search(r"is at (\d{4}_\w+)", result.stderr)  # the head revision, whichever
    again = subprocess.run([sys.executable, "-m", "wpec_invoicing", "db", "upgrade"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    assert again.returncode == 0 and again.stderr == result.stderr


def test_unreachable_store_url_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "wpec.toml").write_text('store_url = "postgresql://nobody@127.0.0.1:1/x"\n')
    env = {k: v for k, v in os.environ.items() if k != "WPEC_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "wpec_invoicing", "db", "upgrade"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    assert result.returncode == 2
    assert "cannot" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
