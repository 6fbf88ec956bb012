"""The package's import graph, read from the source (nothing is imported to build it)."""

from __future__ import annotations

import ast
from pathlib import Path

import wpec_invoicing

ROOT = Path(wpec_invoicing.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every `wpec_invoicing` module `path` imports, at the top or inside a function,
    type-checking-only imports included (a cycle hidden in a function is still a cycle)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                # `from package import submodule` imports the submodule; `from module
                # import name` the module (the graph keeps what is a module)
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES or sub in COMPILED else base)
    return {name for name in found if name in MODULES}


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}
# Compiled twins (`_native.pyx`) are modules too; their imports are not Python's to read here.
COMPILED = {module_name(p) for p in ROOT.rglob("*.pyx")}


def graph() -> dict[str, set[str]]:
    """module → the package's modules it imports."""
    return {name: imports_of(path) - {name} for name, path in MODULES.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found
