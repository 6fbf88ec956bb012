"""The layering of DESIGN.md, enforced on the source: formats are pure, storage sits below
the services, the services never reach up to `app/` or the interfaces, no import cycle hides
anywhere (not even in a function), and every package says what it may import.
(That the interfaces never import `store/` is `app/`'s own test.)"""

from __future__ import annotations

import ast

import pytest

from tests.unit.layering.imports import MODULES, ROOT, cycles, graph

FORMATS = {"fatturapa", "sdi", "pec", "cms"}
# What formats may use besides each other: pure helpers with no I/O and no state.
PURE_HELPERS = {"errors", "resources", "_pure_python"}
SERVICES = {"ingest", "mailbox", "outbox", "rules", "accounts", "housekeeping", "render",
            "exporters", "sandbox", "importer", "jobs"}
ABOVE_SERVICES = {"app", "cli", "web", "demo", "startup", "worker", "__main__"}

GRAPH = graph()


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _offenders(packages: set[str], forbidden) -> list[str]:
    return sorted(f"{m} imports {d}" for m, deps in GRAPH.items() if _top(m) in packages
                  for d in deps if forbidden(_top(d)))


def test_no_import_cycles() -> None:
    assert cycles(GRAPH) == []


def test_formats_import_only_formats_and_pure_helpers() -> None:
    assert _offenders(FORMATS, lambda top: top not in FORMATS | PURE_HELPERS) == []


def test_storage_imports_no_formats_caller_above_it() -> None:
    assert _offenders({"store"}, lambda top: top in SERVICES | ABOVE_SERVICES) == []


def test_services_never_import_the_application_or_the_interfaces() -> None:
    assert _offenders(SERVICES | {"store"}, lambda top: top in ABOVE_SERVICES) == []


def test_ingestion_never_imports_the_services_that_listen_to_it() -> None:
    """The outbox hears about received messages through observers registered at start-up."""
    assert _offenders({"ingest", "rules", "mailbox", "importer"},
                      lambda top: top == "outbox") == []


@pytest.mark.parametrize("package", sorted(
    name for name, path in MODULES.items() if path.name == "__init__.py" and name.count(".") == 1))
def test_every_package_says_what_it_is_for_and_what_it_may_import(package: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8"))) or ""
    assert "May import" in doc, f"{package}: the docstring says nothing of what it may import"
    assert len(doc.split()) >= 15, f"{package}: the docstring does not say what it is for"


def test_the_graph_sees_every_module() -> None:
    assert len(GRAPH) == len(list(ROOT.rglob("*.py")))
    for caller in ("mailbox.sync", "mailbox.retry", "importer"):  # one ingestion path
        assert "wpec_invoicing.ingest.pipeline" in GRAPH[f"wpec_invoicing.{caller}"]
