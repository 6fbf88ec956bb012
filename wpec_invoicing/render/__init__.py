"""Readable copies: invoices and PEC messages as HTML and PDF, and printing them.

A service (may import formats, store and other services; never cli/, web/ or app/).

- `documents.render_invoice(data, file_name=..., fmt="html"|"pdf", style="wpec"|"ade",
  stylesheet=..., strict=...) -> Rendered` and `documents.render_message(raw, fmt=...)`:
  the one call per thing to render (app/, the CLI and the `print` action use them);
- `invoice`, `message`: the views, from the models of `fatturapa.read_invoice` and
  `pec.inspect` (never by parsing XML or MIME again), with the Jinja2 templates and print CSS
  of `data/render/`; `codes`: code descriptions from ONE table, `data/codes/fatturapa.json`;
  `formatting`: it_IT numbers and dates;
- `pdf.html_to_pdf`: WeasyPrint, offline (only packaged assets), PDF/A-3b, originals embedded;
- `xslt`: the tax agency's stylesheets (or any other), hardened;
- `printing`: what printing a part means, `lp`, the print queue; `action`: the `print` rule
  action (queues a job).

May import: formats, `store/` and other services; never `cli/`, `web/` or `app/`.
"""
