"""Housekeeping and lifecycle alerts join the shared `outbox_alerts`: open rows of
`housekeeping_alerts` are copied there and the table is dropped.

Revision ID: 0006_alerts
Revises: 0005_render
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_alerts"
down_revision = "0005_render"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.execute(
        "INSERT INTO outbox_alerts (account, item_id, kind, message, created_at, resolved_at) "
        "SELECT account, NULL, kind, message, created_at, NULL FROM housekeeping_alerts "
        "WHERE resolved_at IS NULL ORDER BY id")
    op.drop_table("housekeeping_alerts")


def downgrade() -> None:
    # The table comes back empty: its alerts stay in outbox_alerts, where they are read.
    op.create_table(
        "housekeeping_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account", sa.String(200), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("resolved_at", _TZ, nullable=True),
    )
