"""The supplier registry: list, create, change (known / blocked), delete. A change re-verifies
the invoices still open, as loading the registry from CSV does."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import Conflict, InvalidRequest, NotFound
from wpec_invoicing.app.models import Model, Page, check_limit, cursor_int, decode_cursor, page_of
from wpec_invoicing.app.timefmt import Aware

SupplierStatus = Literal["known", "blocked"]


class SupplierIn(BaseModel):
    """A supplier to create or change: a VAT number and/or a codice fiscale."""

    vat: str | None = Field(default=None, max_length=40, examples=["IT01234567890"])
    fiscal_code: str | None = Field(default=None, max_length=20)
    name: str | None = Field(default=None, max_length=500)
    status: SupplierStatus = "known"
    note: str | None = Field(default=None, max_length=2000)


class SupplierOut(Model):
    id: int
    vat: str | None = None
    fiscal_code: str | None = None
    name: str | None = None
    status: str
    blocked: bool
    note: str | None = None
    updated_at: Aware


def _out(row) -> SupplierOut:
    return SupplierOut(id=row.id, vat=row.vat, fiscal_code=row.fiscal_code, name=row.name,
                       status=row.status, blocked=row.status == "blocked", note=row.note,
                       updated_at=row.updated_at)


def list_suppliers(ctx: AppContext, *, status: str | None = None, text: str | None = None,
                   cursor: str | None = None, limit: int = 50) -> Page[SupplierOut]:
    from sqlalchemy import or_, select

    from wpec_invoicing.store.models import Supplier

    check_limit(limit)
    query = select(Supplier).order_by(Supplier.id).limit(limit + 1)
    after = cursor_int(decode_cursor(cursor), "id")
    if after is not None:
        query = query.where(Supplier.id > after)
    if status:
        query = query.where(Supplier.status == status)
    if text:
        like = f"%{text.strip()}%"
        query = query.where(or_(Supplier.name.ilike(like), Supplier.vat.ilike(like),
                                Supplier.fiscal_code.ilike(like)))
    with ctx.read() as s:
        rows = [_out(r) for r in s.scalars(query)]
    return page_of(rows, limit)


def get_supplier(ctx: AppContext, supplier_id: int) -> SupplierOut:
    from wpec_invoicing.store.models import Supplier

    with ctx.session() as s:
        row = s.get(Supplier, supplier_id)
        if row is None:
            raise NotFound(f"no supplier with id {supplier_id}")
        return _out(row)


def _normalise(data: SupplierIn) -> tuple[str | None, str | None]:
    from wpec_invoicing.rules.suppliers import normalize_vat

    vat = normalize_vat(data.vat) if data.vat else None
    fiscal = data.fiscal_code.strip().upper() if data.fiscal_code else None
    if not vat and not fiscal:
        raise InvalidRequest("a supplier needs a VAT number or a codice fiscale")
    return vat, fiscal


def _reverify(ctx: AppContext) -> None:
    from wpec_invoicing.rules.passive import reverify_open
    from wpec_invoicing.trust import load_trust

    with ctx.session() as s:
        reverify_open(s, ctx.config, trust=load_trust(ctx.config), archive=ctx.store.archive)


def create_supplier(ctx: AppContext, data: SupplierIn) -> SupplierOut:
    from sqlalchemy import select

    from wpec_invoicing.store.models import Supplier, utcnow

    vat, fiscal = _normalise(data)
    with ctx.session() as s:
        if vat and s.scalar(select(Supplier.id).where(Supplier.vat == vat)) is not None:
            raise Conflict(f"a supplier with VAT {vat} exists")
        row = Supplier(vat=vat, fiscal_code=fiscal, name=data.name, status=data.status,
                       note=data.note, updated_at=utcnow())
        s.add(row)
        s.flush()
        out = _out(row)
    _reverify(ctx)
    return out


def update_supplier(ctx: AppContext, supplier_id: int, data: SupplierIn) -> SupplierOut:
    from sqlalchemy import select

    from wpec_invoicing.store.models import Supplier, utcnow

    vat, fiscal = _normalise(data)
    with ctx.session() as s:
        row = s.get(Supplier, supplier_id)
        if row is None:
            raise NotFound(f"no supplier with id {supplier_id}")
        other = s.scalar(select(Supplier.id).where(Supplier.vat == vat)) if vat else None
        if other is not None and other != supplier_id:
            raise Conflict(f"another supplier (#{other}) has VAT {vat}")
        row.vat, row.fiscal_code, row.name = vat, fiscal, data.name
        row.status, row.note, row.updated_at = data.status, data.note, utcnow()
        out = _out(row)
    _reverify(ctx)
    return out


def delete_supplier(ctx: AppContext, supplier_id: int) -> None:
    from wpec_invoicing.store.models import Supplier

    with ctx.session() as s:
        row = s.get(Supplier, supplier_id)
        if row is None:
            raise NotFound(f"no supplier with id {supplier_id}")
        s.delete(row)
    _reverify(ctx)
