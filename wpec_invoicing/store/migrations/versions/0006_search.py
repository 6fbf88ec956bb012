"""Trigram indexes for the Fatture ricevute word search (PostgreSQL only).

The search is `ILIKE '%word%'` on supplier name, number and file name (OR-ed): a B-tree
cannot serve a leading wildcard, a pg_trgm GIN index on each column can (a BitmapOr).
SQLite has no such index: there the migration does nothing.

Revision ID: 0006_search
Revises: 0005_render
"""

from alembic import op

revision = "0006_search"
down_revision = "0006_alerts"
branch_labels = None
depends_on = None

_COLUMNS = ("supplier_name", "number", "file_name")


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in _COLUMNS:
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_received_invoices_{column}_trgm "
                   f"ON received_invoices USING gin ({column} gin_trgm_ops)")


def downgrade() -> None:
    if not _postgresql():
        return
    for column in _COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS ix_received_invoices_{column}_trgm")
