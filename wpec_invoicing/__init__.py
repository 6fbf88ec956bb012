"""wpec_invoicing: runs a company's PEC mailbox for Italian e-invoicing.

Layers (imports point down only): interfaces (cli, web) → services (mailbox, outbox, rules,
exporters, sandbox) → storage (store) → formats (fatturapa, sdi, pec, cms: pure, no I/O).
"""

__version__ = "0.1.0"

import os as _os

# WPEC_PURE_PYTHON=1: plain Python, the compiled accelerators ignored (see _pure_python.py)
if _os.environ.get("WPEC_PURE_PYTHON", "") not in ("", "0"):
    from wpec_invoicing._pure_python import install as _install

    _install()
