"""Readable copies: invoices and PEC messages as HTML and PDF, and printing them.

A service (may import formats and store; never cli/, web/ or app/). The public API:

- `render_invoice(data, *, file_name, fmt, style, stylesheet, strict) -> Rendered`
- `render_message(raw, *, fmt) -> Rendered`
- `html_to_pdf(html, originals=...)`: WeasyPrint, offline, PDF/A-3b, originals embedded
- the `print` rule action (`render.action`), print jobs (`render.printing`)

Every view is made from the models of the format packages (`fatturapa.read_invoice`,
`pec.inspect`), never by parsing XML again; codes are described from `data/codes/`.
"""
