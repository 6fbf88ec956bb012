"""JSON Lines exporter: one line per invoice appended to `<path>/invoices.jsonl`, the original
file copied next to it (`<path>/files/<sha256-prefix>-<name>`), both fsynced."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wpec_invoicing.exporters.base import ExportItem, ExportOutcome, ensure_folder
from wpec_invoicing.rules.files import safe_name, write_file


class JsonlExporter:
    def __init__(self, cfg: Any) -> None:
        self.folder = Path(cfg.path)
        self.copy_files = bool(cfg.options.get("copy_files", True))

    def export(self, items: list[ExportItem]) -> list[ExportOutcome]:
        ensure_folder(self.folder)
        lines = []
        for item in items:
            record = dict(item.record)
            if self.copy_files:
                name = f"{record['file_sha256'][:12]}-{safe_name(record.get('file_name'))}"
                write_file(self.folder / "files", name, item.data)
                record["exported_file"] = f"files/{name}"
            lines.append(json.dumps(record, ensure_ascii=False, default=str))
        with open(self.folder / "invoices.jsonl", "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        return [ExportOutcome(i.invoice_id, True, str(self.folder / "invoices.jsonl"))
                for i in items]
