"""FatturaPA: read (any container, any encoding), validate (XSD + SdI checks), write, name.

Pure: bytes in, values out. The public API:

- `read_invoice(data, *, file_name=None, lenient=False, trust=None) -> InvoiceReport`
- `write_invoice(doc) -> bytes`, `summarize_vat(lines, pension_funds=())`, `line_total(...)`
- `invoice_file_name(country, code, progressivo, ext="xml")`, `is_valid_file_name(name)`
- the model: `InvoiceDocument`, `Transmission`, `Party`, `VatId`, `Address`, `Body`, `Line`, …
- `CHECKS` (the SdI check table), `CheckResult`, `SchemaError`

May import: `cms`, `errors`, `resources` (the bundled schemas); never `store`, services,
`app/` or the interfaces (no I/O beyond the package's own schema files).
"""

from wpec_invoicing.fatturapa.checks import CHECKS, CHECKS_BY_CODE, CheckResult
from wpec_invoicing.fatturapa.model import (
    FORMATS,
    Address,
    ArticleCode,
    Attachment,
    Body,
    Discount,
    InvoiceDocument,
    Line,
    LinkedDocument,
    Party,
    Payment,
    PaymentDetail,
    PensionFund,
    StampDuty,
    Transmission,
    VatId,
    VatSummary,
    Withholding,
)
from wpec_invoicing.fatturapa.naming import invoice_file_name, is_valid_file_name
from wpec_invoicing.fatturapa.reader import InvoiceReport, read_invoice
from wpec_invoicing.fatturapa.schema import SchemaError
from wpec_invoicing.fatturapa.writer import line_total, summarize_vat, write_invoice

__all__ = [
    "CHECKS",
    "CHECKS_BY_CODE",
    "FORMATS",
    "Address",
    "ArticleCode",
    "Attachment",
    "Body",
    "CheckResult",
    "Discount",
    "InvoiceDocument",
    "InvoiceReport",
    "Line",
    "LinkedDocument",
    "Party",
    "Payment",
    "PaymentDetail",
    "PensionFund",
    "SchemaError",
    "StampDuty",
    "Transmission",
    "VatId",
    "VatSummary",
    "Withholding",
    "invoice_file_name",
    "is_valid_file_name",
    "line_total",
    "read_invoice",
    "summarize_vat",
    "write_invoice",
]
