"""wpec_invoicing: runs a company's PEC mailbox for Italian e-invoicing.

Layers (imports point down only): interfaces (cli, web) → services (mailbox, outbox, rules,
exporters, sandbox) → storage (store) → formats (fatturapa, sdi, pec, cms: pure, no I/O).
"""

__version__ = "0.1.0"

import os as _os

if _os.environ.get("WPEC_PURE_PYTHON"):  # plain Python, compiled accelerators ignored
    from wpec_invoicing._pure_python import install as _install

    _install()
