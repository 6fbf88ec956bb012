"""The compiled twins (`_native.pyx`), or None where they were not built.

`compiled` is the extension module when it was built at install time (it needs a C compiler;
without one the package installs and runs as plain Python, slower, with the same results)
and not switched off: `WPEC_PURE_PYTHON=1` in the environment forces the Python twins, to
measure them or to rule the compiled code out when chasing a bug. The tests run both.
"""

from __future__ import annotations

import os
from types import ModuleType

from wpec_invoicing.fatturapa.treewalk import make_py


def _load() -> ModuleType | None:
    if os.environ.get("WPEC_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from wpec_invoicing.fatturapa import _native
    except ImportError:
        return None
    return _native


compiled: ModuleType | None = _load()
NATIVE = compiled is not None

# A frozen dataclass value from a dict of all its fields, without the frozen `__init__` (one
# `object.__setattr__` per field): the compiled twin where it was built. One choice for every
# caller (extract_valid, reader).
make = compiled.make if compiled is not None else make_py
