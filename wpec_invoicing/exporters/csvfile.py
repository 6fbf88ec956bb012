"""CSV exporter: `invoices.csv` (one row per invoice) and `lines.csv` (one row per line),
appended with a header when new; `;`-separated by default (what Italian spreadsheets open),
money as plain decimal text."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from wpec_invoicing.exporters.base import ExportItem, ExportOutcome, ensure_folder

INVOICE_COLUMNS = [
    "id", "status", "file_name", "identificativo_sdi", "supplier_vat", "supplier_fiscal_code",
    "supplier_name", "customer_vat", "document_type", "number", "date", "currency", "taxable",
    "tax", "total", "reasons", "file_sha256", "received_at",
]
LINE_COLUMNS = ["invoice_id", "body", "number", "description", "quantity", "unit_price",
                "total", "vat_rate", "natura"]


class CsvExporter:
    def __init__(self, cfg: Any) -> None:
        self.folder = Path(cfg.path)
        self.delimiter = str(cfg.options.get("delimiter", ";"))

    def _append(self, name: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
        path = self.folder / name
        new = not path.exists() or path.stat().st_size == 0
        with open(path, "a", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, columns, delimiter=self.delimiter,
                                    extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerows(rows)
            handle.flush()
            os.fsync(handle.fileno())

    def export(self, items: list[ExportItem]) -> list[ExportOutcome]:
        ensure_folder(self.folder)
        invoices, lines = [], []
        for item in items:
            rec = dict(item.record)
            rec["reasons"] = " | ".join(r.get("message", "") for r in rec.get("reasons") or [])
            invoices.append(rec)
            for line in rec.get("lines") or []:
                lines.append({"invoice_id": rec["id"], **line})
        self._append("invoices.csv", INVOICE_COLUMNS, invoices)
        self._append("lines.csv", LINE_COLUMNS, lines)
        return [ExportOutcome(i.invoice_id, True, str(self.folder / "invoices.csv"))
                for i in items]
