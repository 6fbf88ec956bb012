"""The supplier registry: known and blocked suppliers, loadable from CSV.

A supplier absent from the registry is "unknown": its invoices need a human look. The CSV has
a header row with at least one of `vat` (IdPaese+IdCodice, e.g. IT01234567890; a bare 11-digit
number means IT) or `fiscal_code`, and optionally `name`, `status` (known|blocked, default
known) and `note`. Loading is an upsert: loading the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from wpec_invoicing.errors import InputError
from wpec_invoicing.store.models import Supplier, utcnow

STATUSES = ("known", "blocked")


def normalize_vat(value: str | None) -> str | None:
    if not value:
        return None
    value = "".join(value.split()).upper()
    if value.isdigit() and len(value) == 11:
        value = "IT" + value
    return value or None


@dataclass
class LoadResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return self.__dict__.copy()


def load_suppliers_csv(session: Session, path: Path) -> LoadResult:
    from wpec_invoicing.inputs import read_file

    try:
        raw = read_file(path, max_bytes=100 * 1024 * 1024)
    except OSError as exc:
        raise InputError(f"cannot read supplier list {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # spreadsheets on Windows save CSV as cp1252
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise InputError(f"supplier list {path}: not text (neither UTF-8 nor "
                             "Windows-1252); save it as CSV UTF-8") from None
    return load_suppliers_text(session, text, source=str(path))


def _rows(reader: csv.DictReader, source: str, result: LoadResult):
    """(line number, row) pairs; a line the csv module cannot read is one error, not the end
    of the load (e.g. a field over the csv field limit)."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            result.errors.append(f"{source}:{reader.line_num + 1}: {exc}")
            continue
        yield reader.line_num, row


def load_suppliers_text(session: Session, text: str, *, source: str = "csv") -> LoadResult:
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    try:
        fields = {(f or "").strip().lower() for f in reader.fieldnames or []}
    except csv.Error as exc:
        raise InputError(f"{source}: header row: {exc}") from None
    if not fields & {"vat", "fiscal_code"}:
        raise InputError(f"{source}: the header row needs a 'vat' or 'fiscal_code' column "
                         f"(found: {', '.join(sorted(fields)) or 'nothing'})")
    result = LoadResult()
    for lineno, row in _rows(reader, source, result):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        vat = normalize_vat(row.get("vat"))
        cf = (row.get("fiscal_code") or "").upper() or None
        status = (row.get("status") or "known").lower()
        if not vat and not cf:
            result.errors.append(f"{source}:{lineno}: neither vat nor fiscal_code")
            continue
        if status not in STATUSES:
            result.errors.append(f"{source}:{lineno}: status {status!r} is not known|blocked")
            continue
        supplier = find_supplier(session, vat, cf)
        values = {"vat": vat, "fiscal_code": cf, "name": row.get("name") or None,
                  "status": status, "note": row.get("note") or None}
        if supplier is None:
            session.add(Supplier(**values))
            session.flush()
            result.added += 1
            continue
        changed = False
        for key, value in values.items():
            if value is not None and getattr(supplier, key) != value:
                setattr(supplier, key, value)
                changed = True
        if changed:
            supplier.updated_at = utcnow()
            result.updated += 1
        else:
            result.unchanged += 1
    return result


def find_supplier(session: Session, vat: str | None, fiscal_code: str | None) -> Supplier | None:
    return find_suppliers(session, [(vat, fiscal_code)]).get((vat, fiscal_code))


def find_suppliers(session: Session, keys: list[tuple[str | None, str | None]]
                   ) -> dict[tuple[str | None, str | None], Supplier]:
    """The registry's entry for each (VAT number, fiscal code), in one query (absent: no
    entry). A VAT match wins over a fiscal-code match; a blocked entry over a known one."""
    vats = {vat for vat, _cf in keys if vat}
    codes = {cf for _vat, cf in keys if cf}
    if not vats and not codes:
        return {}
    conditions = []
    if vats:
        conditions.append(Supplier.vat.in_(vats))
    if codes:
        conditions.append(Supplier.fiscal_code.in_(codes))
    rows = list(session.scalars(select(Supplier).where(or_(*conditions)).order_by(Supplier.id)))
    found: dict[tuple[str | None, str | None], Supplier] = {}
    for vat, cf in set(keys):
        matches = [s for s in rows if (vat and s.vat == vat) or (cf and s.fiscal_code == cf)]
        matches.sort(key=lambda s, vat=vat: (s.vat != vat if vat else True,
                                             s.status != "blocked"))
        if matches:
            found[(vat, cf)] = matches[0]
    return found
