"""wpec_invoicing: runs a company's PEC mailbox for Italian e-invoicing.

Layers (imports point down only): interfaces (cli, web) → services (mailbox, outbox, rules,
exporters, sandbox) → storage (store) → formats (fatturapa, sdi, pec, cms: pure, no I/O).
"""

__version__ = "0.1.0"
