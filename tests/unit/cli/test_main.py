"""The command line's outer contract: help works, errors never show a traceback."""

import subprocess
import sys


def run_wpec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wpec_invoicing", *args], capture_output=True, text=True, check=False
    )


def test_help_lists_the_command_groups() -> None:
    result = run_wpec("--help")
    assert result.returncode == 0
    for group in ("invoice", "pec", "sandbox"):
        assert group in result.stdout


def test_unknown_command_is_a_clear_error_not_a_traceback() -> None:
    result = run_wpec("no-such-command")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "no-such-command" in result.stderr
