"""Housekeeping and lifecycle: quota samples, alerts, holds, deletions audit, account lifecycle,
its history and the notices sent.

Revision ID: 0004_housekeeping
Revises: 0002_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_housekeeping"
down_revision = "0003_app"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quota_samples",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(200), nullable=False, index=True),
        sa.Column("at", _TZ, nullable=False, index=True),
        sa.Column("used_bytes", sa.BigInteger(), nullable=False),
        sa.Column("limit_bytes", sa.BigInteger(), nullable=True),
        sa.Column("messages", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
    )
    op.create_table(
        "housekeeping_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(200), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("resolved_at", _TZ, nullable=True),
    )
    op.create_table(
        "message_holds",
        sa.Column("message_id", sa.Integer(),
                  sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_table(
        "housekeeping_deletions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.String(40), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("account", sa.String(200), nullable=False, index=True),
        sa.Column("folder", sa.String(500), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("location_id", sa.Integer(),
                  sa.ForeignKey("message_locations.id", ondelete="SET NULL"), nullable=True,
                  index=True),
        sa.Column("message_id", sa.Integer(),
                  sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("header_message_id", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=True),
        sa.Column("internal_date", _TZ, nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("deleted_at", _TZ, nullable=True),
    )
    op.create_table(
        "account_lifecycle",
        sa.Column("account", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("state_since", _TZ, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
    )
    op.create_table(
        "account_lifecycle_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(200), nullable=False, index=True),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_table(
        "account_notices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(200), nullable=False, index=True),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", _TZ, nullable=False),
        sa.UniqueConstraint("account", "key", "channel"),
    )


def downgrade() -> None:
    for table in ("account_notices", "account_lifecycle_events", "account_lifecycle",
                  "housekeeping_deletions", "message_holds", "housekeeping_alerts",
                  "quota_samples"):
        op.drop_table(table)
