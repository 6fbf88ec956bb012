"""Trigram indexes for every column the Fatture ricevute word search reads (PostgreSQL only).

0006_search indexed supplier name, number and file name, but the search ORs them with the
VAT number and codice fiscale and unions them with the line descriptions and the invoice's
data as read (causale, order, contract, CUP, CIG): one unindexed operand turns the whole OR
into a sequential scan, so the search still read all 100,000 invoices (236 ms on the API
issue's data). With a pg_trgm GIN index on each operand (the data as read indexed as the
very expression the search casts it to, `report::text`) every branch is a bitmap index scan
(8 ms). SQLite has no such index: there the migration does nothing.

Revision ID: 0009_console_search
Revises: 0006_search
"""

from alembic import op

revision = "0009_console_search"
down_revision = "0008_jobs"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_received_invoices_supplier_vat_trgm", "received_invoices", "supplier_vat"),
    ("ix_received_invoices_supplier_fiscal_code_trgm", "received_invoices",
     "supplier_fiscal_code"),
    ("ix_received_invoices_report_trgm", "received_invoices", "(report::text)"),
    ("ix_invoice_lines_description_trgm", "invoice_lines", "description"),
)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, expression in _INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                   f"USING gin ({expression} gin_trgm_ops)")


def downgrade() -> None:
    if not _postgresql():
        return
    for name, _table, _expression in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
