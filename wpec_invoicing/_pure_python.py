"""`WPEC_PURE_PYTHON=1`: import this package's modules from their `.py` files only.

The compiled accelerators (see setup.py) are optional: where nothing could be compiled the
package runs as plain Python. That mode must stay correct, so it can be forced on a machine
that has them: the hand-written twins of `fatturapa/_native.pyx` are switched off by
`fatturapa/native.py`, and the modules Cython compiled unchanged (`checks`, `reader`…) are
imported from their sources by the finder installed here, ahead of the extension modules
that Python's default finder would prefer.
"""

from __future__ import annotations

import sys
from importlib.machinery import SOURCE_SUFFIXES, FileFinder, SourceFileLoader

_PREFIX = __package__ + "."


class SourceOnlyFinder:
    """Finds `wpec_invoicing.*` modules among `.py` files only (their bytecode is still
    cached as usual); any other module, or one without a source, is left to the next
    finder."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if not fullname.startswith(_PREFIX) or not path:
            return None
        for entry in path:
            spec = FileFinder(entry, (SourceFileLoader, SOURCE_SUFFIXES)).find_spec(
                fullname, target
            )
            if spec is not None:
                return spec
        return None


def install() -> None:
    if not any(f is SourceOnlyFinder for f in sys.meta_path):
        sys.meta_path.insert(0, SourceOnlyFinder)
