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


def _all_command_paths() -> list[tuple[str, ...]]:
    """Every command of the `wpec` tree, walked from the real click objects."""
    import typer.main

    from wpec_invoicing.cli import app

    paths: list[tuple[str, ...]] = []

    def walk(command: object, prefix: tuple[str, ...]) -> None:
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*prefix, name))

    walk(typer.main.get_command(app), ())
    return paths


def test_every_command_has_working_help() -> None:
    """A help text with brackets once crashed `wpec sandbox up --help` (read as markup)."""
    from typer.testing import CliRunner

    from wpec_invoicing.cli import app

    runner = CliRunner()
    paths = _all_command_paths()
    assert len(paths) > 20
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output, result.exception)
        assert "Usage" in result.output
