"""The print queue of the `print` rule action and of `wpec invoices print`.

Revision ID: 0005_render
Revises: 0002_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_render"
down_revision = "0005_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "print_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=True),
        sa.Column("folder", sa.Text(), nullable=True),
        sa.Column("printer", sa.String(length=200), nullable=True),
        sa.Column("server", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cups_job_ids", sa.JSON(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=True),
        sa.Column("not_printable", sa.JSON(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["invoice_id"], ["received_invoices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_print_jobs_message_id"), ["message_id"])
        batch_op.create_index(batch_op.f("ix_print_jobs_invoice_id"), ["invoice_id"])
        batch_op.create_index(batch_op.f("ix_print_jobs_status"), ["status"])


def downgrade() -> None:
    with op.batch_alter_table("print_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_print_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_print_jobs_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_print_jobs_message_id"))
    op.drop_table("print_jobs")
