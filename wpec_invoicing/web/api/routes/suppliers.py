"""`/suppliers`: the supplier registry (known / blocked)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from wpec_invoicing.app import suppliers
from wpec_invoicing.web.api.auth import needs
from wpec_invoicing.web.api.common import Cursor, Id, Limit, PageOut, created, detail, page

router = APIRouter(prefix="/suppliers", tags=["suppliers"])


@router.get("", response_model=PageOut[suppliers.SupplierOut], **needs("viewer"))
def list_suppliers(request: Request,
                   status: suppliers.SupplierStatus | None = None,
                   q: str | None = Query(None, max_length=200),
                   cursor: str | None = Cursor, limit: int = Limit):
    return page(request, suppliers.list_suppliers(request.app.state.ctx, status=status, text=q,
                                                  cursor=cursor, limit=limit))


@router.post("", status_code=201, response_model=suppliers.SupplierOut,
             **needs("operator", 409))
def create(request: Request, body: suppliers.SupplierIn):
    return created(suppliers.create_supplier(request.app.state.ctx, body))


@router.get("/{supplier_id}", response_model=suppliers.SupplierOut, **needs("viewer", 404))
def get_supplier(request: Request, supplier_id: Id) -> Response:
    return detail(request, suppliers.get_supplier(request.app.state.ctx, supplier_id))


@router.put("/{supplier_id}", response_model=suppliers.SupplierOut,
            **needs("operator", 404, 409))
def update(request: Request, supplier_id: Id, body: suppliers.SupplierIn):
    return suppliers.update_supplier(request.app.state.ctx, supplier_id, body)


@router.delete("/{supplier_id}", status_code=204, response_class=Response,
               **needs("operator", 404))
def delete(request: Request, supplier_id: Id) -> Response:
    suppliers.delete_supplier(request.app.state.ctx, supplier_id)
    return Response(status_code=204)
