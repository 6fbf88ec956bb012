"""Issue 18's convention, enforced on the whole command tree (README, "Conventions").

Every command is found by walking the real click objects, so a command added later is held to
the same rules without touching this file: help for every command and option, readable
metavars and no Python types in help, `--json` everywhere, one error prefix, a JSON error
object on stdout under `--json`, the same option names for the same ideas, one exit-code table
(the README's and `cli/output.py`'s are the same). In-process: fast.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wpec_invoicing.cli import COMMANDS, output, run, top_help

ROOT = Path(__file__).resolve().parents[3]
PYTHON_TYPES = re.compile(r"<(?:str|int|float|bool|path|Path|list\[|int range|float range)"
                          r"|list\[")
METAVAR = re.compile(r"^[A-Z][A-Z0-9_]*(?:[|=/][A-Z0-9_]+)*(?:\[[^\]]*\])*(?:\.\.\.)?$")


def _tree():
    """(path, click command, context) for every leaf command of `wpec`."""
    import typer.main
    from typer import _click

    from wpec_invoicing.cli import app

    root = typer.main.get_command(app)
    found = []

    def walk(command, path, ctx):
        subs = getattr(command, "commands", None)
        if subs is not None:
            for name in list(subs):
                sub = command.get_command(ctx, name)
                walk(sub, (*path, name), _click.Context(sub, info_name=name, parent=ctx))
            return
        found.append((path, command, ctx))

    walk(root, (), _click.Context(root, info_name="wpec"))
    return found


TREE = _tree()
IDS = [" ".join(path) for path, _c, _x in TREE]


def _options(command):
    return [p for p in command.params
            if p.param_type_name == "option" and p.name != "help"]


def test_the_tree_is_all_there():
    assert len(TREE) >= 25
    assert {path[0] for path, _c, _x in TREE} == set(COMMANDS)


@pytest.mark.parametrize(("path", "command", "ctx"), TREE, ids=IDS)
def test_every_command_and_option_has_help_and_readable_metavars(path, command, ctx):
    assert (command.help or "").strip(), f"{path}: no help"
    for param in command.params:
        if param.name == "help":
            continue
        assert (getattr(param, "help", None) or "").strip(), f"{path} {param.name}: no help"
        flag = param.param_type_name == "option" and param.is_flag
        if not flag:
            metavar = param.metavar
            assert metavar and METAVAR.match(metavar), f"{path} {param.name}: metavar {metavar}"
    text = command.get_help(ctx)
    assert not PYTHON_TYPES.search(text), f"{path}: Python types in help:\n{text}"
    usage = text.splitlines()[0]
    assert usage.startswith("Usage: wpec " + " ".join(path)), usage
    assert "{" not in usage, usage  # arguments written FILE..., not {FILE}...


@pytest.mark.parametrize(("path", "command", "ctx"), TREE, ids=IDS)
def test_every_command_takes_json(path, command, ctx):
    assert "json" in {p.name for p in command.params} or "as_json" in {
        p.name for p in command.params} or any(
        "--json" in p.opts for p in _options(command)), f"{path}: no --json"


def test_the_same_idea_has_the_same_option_name_everywhere():
    seen: dict[str, set[str]] = {}
    for path, command, _ctx in TREE:
        for param in _options(command):
            for opt in param.opts:
                seen.setdefault(opt, set()).add(param.metavar or "")
            assert "--output" not in param.opts, f"{path}: --output (the convention: --out)"
            if "--config" in param.opts:
                assert "read" in param.help, f"{path}: --config must be a file to read"
    assert seen["--config"] == {"FILE"}
    assert seen["--out"] == {"DIR"}
    assert seen["--trust"] == {"FILE|DIR"}
    assert seen["--account"] == {"NAME"}
    assert seen["--dir"] == {"DIR"}
    assert "--write-config" in seen  # sandbox up writes; --config only reads


@pytest.mark.parametrize(("path", "command", "ctx"), TREE, ids=IDS)
def test_a_usage_error_under_json_is_one_prefixed_line_and_a_json_error_object(
        path, command, ctx, capsys):
    code = run([*path, "--json", "--no-such-option"])
    out, err = capsys.readouterr()
    assert code == output.EXIT_USAGE
    error = json.loads(out.strip().splitlines()[-1])["error"]
    assert error["exit_code"] == 2 and error["type"] == "usage"
    assert "--no-such-option" in error["message"]
    assert "wpec: error: " in err and "Error:" not in err and "Traceback" not in err


def test_a_failure_without_json_prints_nothing_on_stdout(capsys):
    code = run(["invoice", "show", "/nonexistent/x.xml"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("wpec: error: cannot read /nonexistent/x.xml")


def test_the_exit_code_table_of_the_readme_is_the_one_the_code_uses():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Conventions"):]
    section = section[: section.index("\n### ", 5)]
    table = dict(re.findall(r"^\| (\d) \| ([^|]+?) \|", section, re.M))
    assert {int(k) for k in table} == set(output.EXIT_CODES)


def test_top_level_help_is_written_from_the_table_exactly_as_click_would(capsys):
    import typer.main

    from wpec_invoicing.cli import app

    with pytest.raises(SystemExit):
        typer.main.get_command(app).main(["--help"], prog_name="wpec")
    rendered = capsys.readouterr().out
    assert top_help() + "\n" == rendered


def test_help_and_version_import_nothing_heavy():
    """`wpec --help` / `--version` stay fast because they import no command module."""
    probe = ("import sys, io; from wpec_invoicing.cli import run; out = sys.stdout; "
             "sys.stdout = io.StringIO(); run(['--help']); run(['--version']); "
             "sys.stdout = out; print(' '.join(sorted(sys.modules)))")
    modules = set(subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                 text=True, check=True).stdout.split())
    for heavy in ("sqlalchemy", "cryptography", "rich", "lxml", "pydantic", "asn1crypto",
                  "wpec_invoicing.store", "wpec_invoicing.fatturapa", "typer"):
        assert heavy not in modules, heavy
    assert "wpec_invoicing.cli.invoice" not in modules


def test_version(capsys):
    from wpec_invoicing import __version__

    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"wpec {__version__}\n"
    import typer.main

    from wpec_invoicing.cli import app

    with pytest.raises(SystemExit) as stop:
        typer.main.get_command(app).main(["--version"], prog_name="wpec")
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"wpec {__version__}\n"


def test_invoice_validate_imports_no_database_nor_crypto_stack(tmp_path):
    from wpec_invoicing.fatturapa import write_invoice
    from wpec_invoicing.fatturapa.samples import sample_invoice

    f = tmp_path / "IT01234567897_00001.xml"
    f.write_bytes(write_invoice(sample_invoice()))
    probe = ("import sys, io; from wpec_invoicing.cli import run; out = sys.stdout; "
             "sys.stdout = io.StringIO(); "
             f"code = run(['invoice', 'validate', '--json', {str(f)!r}]); "
             "sys.stdout = out; print(code, ' '.join(sorted(sys.modules)))")
    env = {k: v for k, v in os.environ.items() if k != "WPEC_CONFIG"}
    code, *mods = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                 text=True, check=True, cwd=tmp_path, env=env).stdout.split()
    assert code == "0"
    # nor (no config, no managed trust store, a plain XML file) the certificate stack, the
    # services' wiring, nor the readers that only repaired or signed files need
    for heavy in ("sqlalchemy", "alembic", "wpec_invoicing.store", "rich", "imapclient",
                  "pydantic", "cryptography", "asn1crypto", "wpec_invoicing.cms",
                  "wpec_invoicing.startup", "logging", "wpec_invoicing.fatturapa.xades",
                  "wpec_invoicing.fatturapa.extract"):
        assert heavy not in mods, heavy


def test_a_formats_only_command_leaves_its_group_whole_for_the_next_run(tmp_path, capsys):
    """`invoice validate` loads only its own module (its group's other modules are skipped);
    a later run in the same process (an embedding program, the tests) still sees every
    command of the group."""
    from wpec_invoicing.fatturapa import write_invoice
    from wpec_invoicing.fatturapa.samples import sample_invoice

    f = tmp_path / "IT01234567897_00001.xml"
    f.write_bytes(write_invoice(sample_invoice()))
    assert run(["invoice", "validate", "--json", str(f)]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    assert run(["invoice", "--help"]) == 0
    listed = capsys.readouterr().out
    for command in ("validate", "show", "attachments", "create", "history", "render"):
        assert f"  {command} " in listed, command
    assert run(["pec", "--help"]) == 0
    assert "inspect" in capsys.readouterr().out
