"""Build of the compiled accelerators; everything else about the package is in pyproject.toml.

Why compiled code at all: reading a one-line invoice is dominated by fixed Python costs (one
lxml proxy per element, one interpreter dispatch per value and per check), and the target of
issue 2 is half the throughput of bare lxml parse + XSD, which is C. So:

- `fatturapa/_native.pyx` builds the model of a valid invoice straight from libxml2's nodes
  through lxml's public C API (`lxml.includes`), and holds a few other hot functions; each
  has a pure-Python twin that stays the reference and the fallback (see `fatturapa/native.py`).
  Its readers of the invoice's parts are generated here, before compiling, from the one
  description of the invoice (`fatturapa/fields.py`) by `fatturapa/fieldgen.py`;
- the hot pure-Python modules in `COMPILED` are compiled by Cython *unchanged*: the `.py` file
  stays the one source, runs as it is where nothing was compiled, and is what a reader reads.

Every extension is optional: without a C compiler the install still succeeds and the package
runs as plain Python (slower, same results). `python setup.py build_ext --inplace` (what
`make native` runs, and `make test`/`make demo` through it) rebuilds what changed; the tests
refuse to run with a compiled module older than its source (see tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent

# Modules compiled as they are (pure Python, no Cython syntax). Directives keep Python's
# semantics: annotations are not turned into runtime type checks, functions stay
# introspectable (binding), and errors point at the .py lines.
COMPILED = {
    "wpec_invoicing/fatturapa/checks.py": {},
    "wpec_invoicing/fatturapa/identifiers.py": {},
    "wpec_invoicing/fatturapa/naming.py": {},
    "wpec_invoicing/fatturapa/reader.py": {},
    "wpec_invoicing/fatturapa/summary.py": {},
}
DIRECTIVES = {"language_level": 3, "annotation_typing": False, "binding": True}


def _generate_field_readers() -> None:
    """`fatturapa/_native_fields.pxi` from the field map (rewritten only when it changes)."""
    import importlib.util

    path = HERE / "wpec_invoicing" / "fatturapa" / "fieldgen.py"
    spec = importlib.util.spec_from_file_location("_wpec_fieldgen", path)
    assert spec is not None and spec.loader is not None
    fieldgen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fieldgen)
    fieldgen.write()


def _extensions() -> list[Extension]:
    if os.environ.get("WPEC_BUILD_NATIVE") == "0":  # `make setup`: `make native` builds them
        return []
    try:
        import lxml
        from Cython.Build import cythonize
    except ImportError:  # a build without Cython (e.g. a plain sdist install): pure Python
        return []
    _generate_field_readers()
    native = Extension(
        "wpec_invoicing.fatturapa._native",
        ["wpec_invoicing/fatturapa/_native.pyx"],
        include_dirs=lxml.get_include(),
        depends=["wpec_invoicing/fatturapa/_native_fields.pxi"],
    )
    extensions = []
    for ext, directives in [(native, {}), *((Extension(p[:-3].replace("/", "."), [p]), d)
                                            for p, d in COMPILED.items())]:
        extensions += cythonize(
            [ext],
            compiler_directives={**DIRECTIVES, **directives},
            build_dir="build/cython",  # the generated C stays out of the source tree
            quiet=True,
        )
    for ext in extensions:
        ext.optional = True  # no compiler: warn and keep the pure-Python module
    return extensions


class BuildPyWithData(build_py):
    """Ship the official XSDs and the data folder inside the wheel (`_schemas`, `_data`:
    see `wpec_invoicing.resources`); a source checkout reads them where they are."""

    def run(self):
        super().run()
        for source, target in (("schemas", "_schemas"), ("data", "_data")):
            destination = Path(self.build_lib) / "wpec_invoicing" / target
            shutil.rmtree(destination, ignore_errors=True)
            shutil.copytree(HERE / source, destination)


setup(ext_modules=_extensions(), cmdclass={"build_py": BuildPyWithData})
