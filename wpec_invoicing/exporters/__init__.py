"""Exporters: hand verified supplier invoices to the accounting software (CSV, JSON lines,
a webhook, or a plugin's exporter by entry point), each invoice once per exporter.

May import: `store`, `rules` (the invoice presentation), formats, `config`, `errors`; never
`app/` or the interfaces.
"""
