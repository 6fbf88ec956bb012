"""The layering rule that keeps the interfaces from drifting apart: no module under `cli/`
or `web/`, and not `demo.py`, imports the store or SQLAlchemy (at module level or inside a
function). They call `app/`, which owns the transactions and the events."""

from __future__ import annotations

import ast
from pathlib import Path

import wpec_invoicing

ROOT = Path(wpec_invoicing.__file__).parent
FORBIDDEN = ("wpec_invoicing.store", "sqlalchemy")


def interface_modules() -> list[Path]:
    return sorted([*(ROOT / "cli").rglob("*.py"), *(ROOT / "web").rglob("*.py"),
                   ROOT / "demo.py"])


def forbidden_imports(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found += [f"{path.relative_to(root)}:{node.lineno} imports {n}" for n in names
                  if n.startswith(FORBIDDEN)]
    return found


def test_no_interface_module_imports_the_store_or_sqlalchemy():
    modules = interface_modules()
    assert len(modules) > 10  # cli/, web/ and demo.py were found
    problems = [p for m in modules for p in forbidden_imports(m)]
    assert problems == []


def test_the_check_catches_an_import_inside_a_function(tmp_path):
    sneaky = tmp_path / "probe.py"
    sneaky.write_text("import json\n\ndef f():\n    from sqlalchemy import select\n"
                      "    import wpec_invoicing.store.db\n    return select\n")
    assert forbidden_imports(sneaky, tmp_path) == [
        "probe.py:4 imports sqlalchemy", "probe.py:4 imports sqlalchemy.select",
        "probe.py:5 imports wpec_invoicing.store.db"]
