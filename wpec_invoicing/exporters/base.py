"""Exporters: hand received invoices to the accounting software, each once per exporter.

An exporter is built from its `[[exporters]]` table and receives batches of invoice records
(`dict`s, see `invoice_record`) plus the original file bytes. Bookkeeping (`exports` table)
makes each invoice go to each exporter once; `again=True` re-sends. Built-ins: `jsonl`, `csv`,
`webhook`; others come from the entry point group `wpec_invoicing.exporters` (an entry point
names a class or factory taking `(ExporterConfig)` and returning an object with
`export(items: list[ExportItem]) -> list[ExportOutcome]`).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from wpec_invoicing.errors import ConfigError
from wpec_invoicing.store.events import record_event
from wpec_invoicing.store.models import ExportRecord, ReceivedInvoice, RuleAction, utcnow

log = logging.getLogger(__name__)

BUILTINS = {
    "jsonl": "wpec_invoicing.exporters.jsonl:JsonlExporter",
    "csv": "wpec_invoicing.exporters.csvfile:CsvExporter",
    "webhook": "wpec_invoicing.exporters.webhook:WebhookExporter",
}


@dataclass(frozen=True)
class ExportItem:
    invoice_id: int
    record: dict[str, Any]
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ExportOutcome:
    invoice_id: int
    ok: bool
    detail: str | None = None


class Exporter(Protocol):
    def export(self, items: list[ExportItem]) -> list[ExportOutcome]: ...


def invoice_record(inv: ReceivedInvoice) -> dict[str, Any]:
    """What exporters see of an invoice: the summary, reasons and lines (money as text)."""
    from wpec_invoicing.rules.invoices import invoice_detail

    record = invoice_detail(inv)
    record.pop("checks", None)
    return record


def load_exporter(cfg: Any) -> Exporter:
    target = BUILTINS.get(cfg.type)
    if target is None:
        from importlib.metadata import entry_points

        eps = {ep.name: ep for ep in entry_points(group="wpec_invoicing.exporters")}
        if cfg.type not in eps:
            known = ", ".join(sorted(set(BUILTINS) | set(eps)))
            raise ConfigError(f"exporter {cfg.name!r}: unknown type {cfg.type!r} "
                              f"(known: {known})")
        factory = eps[cfg.type].load()
    else:
        module, _, attr = target.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(cfg)


@dataclass
class ExportResult:
    exporter: str
    exported: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def run_exports(config: Any, store: Any, *, names: list[str] | None = None,
                since: date | None = None, again: bool = False,
                batch: int = 200) -> list[ExportResult]:
    """Export every not-yet-exported invoice (in each exporter's statuses) to each exporter."""
    chosen = [config.exporter(n) for n in names] if names else list(config.exporters)
    results = []
    for cfg in chosen:
        if (cfg.options or {}).get("events"):
            continue  # an event webhook: fed by the event stream (exporters/events.py)
        exporter = load_exporter(cfg)
        result = ExportResult(cfg.name)
        with store.session() as s:
            query = select(ReceivedInvoice.id).where(
                ReceivedInvoice.status.in_(cfg.statuses)).order_by(ReceivedInvoice.id)
            if since is not None:
                query = query.where(ReceivedInvoice.received_at >= _start_of(since))
            ids = list(s.scalars(query))
            done = set(s.scalars(select(ExportRecord.invoice_id).where(
                ExportRecord.exporter == cfg.name)))
        todo = ids if again else [i for i in ids if i not in done]
        result.skipped = len(ids) - len(todo)
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            with store.session() as s:
                items = []
                for inv_id in chunk:
                    inv = s.get(ReceivedInvoice, inv_id)
                    items.append(ExportItem(inv_id, invoice_record(inv),
                                            store.archive.get(inv.file_sha256)))
            try:
                outcomes = exporter.export(items)
            except Exception as exc:  # one exporter failing never loses the bookkeeping
                why = _describe(exc)
                log.warning("exporter %s failed: %s", cfg.name, why)
                outcomes = [ExportOutcome(i.invoice_id, False, why) for i in items]
            with store.session() as s:
                for out in outcomes:
                    if not out.ok:
                        result.failed += 1
                        result.errors.append(f"invoice {out.invoice_id}: {out.detail}")
                        continue
                    result.exported += 1
                    record_event(s, "invoice.exported", "received_invoice", out.invoice_id, {"exporter": cfg.name})  # noqa: E501
                    rec = s.scalar(select(ExportRecord).where(
                        ExportRecord.exporter == cfg.name,
                        ExportRecord.invoice_id == out.invoice_id))
                    if rec is None:
                        s.add(ExportRecord(exporter=cfg.name, invoice_id=out.invoice_id,
                                           detail=out.detail))
                    else:
                        rec.exported_at, rec.attempts = utcnow(), rec.attempts + 1
                        rec.detail = out.detail
        results.append(result)
    with store.session() as s:
        for row in s.scalars(select(RuleAction).where(RuleAction.action == "export",
                                                      RuleAction.status == "pending")):
            row.status, row.done_at = "done", utcnow()
    return results


def _describe(exc: Exception) -> str:
    """What went wrong, readable: a file-system error says which path and why."""
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot write {exc.filename}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def ensure_folder(path: Path) -> None:
    """The exporter's `path` must be a folder (created when missing)."""
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(20, "exists and is not a folder (the exporter's path must "
                                     "be a folder)", str(path))
    path.mkdir(parents=True, exist_ok=True)


def _start_of(day: date):  # -> datetime
    from datetime import UTC, datetime, time

    return datetime.combine(day, time.min, tzinfo=UTC)
