"""Console users and sessions; indexes that keep the console's invoice search fast.

The received-invoice indexes serve the console's selection totals (count, taxable, VAT,
total), its supplier groups, the search by amount and by words: covering indexes let SQLite
scan a narrow index instead of rows that carry the whole invoice report. The ones that hold
free text are SQLite-only: on PostgreSQL a hostile, very long supplier name must never make
an insert fail on the B-tree's row size limit (and PostgreSQL scans in parallel anyway).

Revision ID: 0005_console
Revises: 0002_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_console"
down_revision = "0004_housekeeping"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["console_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    op.create_index("ix_received_invoices_totals", "received_invoices",
                    ["status", "document_type", "taxable", "tax", "total"])
    op.create_index("ix_received_invoices_total", "received_invoices", ["total"])
    op.create_index("ix_received_invoices_taxable", "received_invoices", ["taxable"])
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_received_invoices_suppliers", "received_invoices",
                        ["supplier_vat", "supplier_name", "document_type", "taxable", "tax",
                         "total"])
        op.create_index("ix_received_invoices_words", "received_invoices",
                        ["supplier_name", "supplier_vat", "supplier_fiscal_code", "number",
                         "file_name"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_received_invoices_words", table_name="received_invoices")
        op.drop_index("ix_received_invoices_suppliers", table_name="received_invoices")
    op.drop_index("ix_received_invoices_taxable", table_name="received_invoices")
    op.drop_index("ix_received_invoices_total", table_name="received_invoices")
    op.drop_index("ix_received_invoices_totals", table_name="received_invoices")
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_index("ix_console_sessions_user_id", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
