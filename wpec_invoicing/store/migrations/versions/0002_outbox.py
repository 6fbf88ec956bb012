"""Outbox tables: items (one message, one recipient), timeline, counters, accounts, alerts.

Revision ID: 0002_outbox
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_outbox"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_accounts",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sdi_address", sa.String(length=320), nullable=True),
        sa.Column("sdi_address_learned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "outbox_counters",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "outbox_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("to_sdi", sa.Boolean(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=250), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file_name", sa.String(length=120), nullable=True),
        sa.Column("progressivo", sa.String(length=5), nullable=True),
        sa.Column("invoice_number", sa.String(length=40), nullable=True),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_state", sa.String(length=24), nullable=True),
        sa.Column("provider_identificativo", sa.String(length=250), nullable=True),
        sa.Column("provider_reason", sa.Text(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sdi_state", sa.String(length=24), nullable=True),
        sa.Column("identificativo_sdi", sa.String(length=64), nullable=True),
        sa.Column("sdi_errors", sa.JSON(), nullable=True),
        sa.Column("replaces_item_id", sa.Integer(), nullable=True),
        sa.Column("dedup_key", sa.String(length=64), nullable=True),
        sa.Column("alerted_no_acceptance", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["replaces_item_id"], ["outbox_items.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_name"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("outbox_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_items_account"), ["account"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_items_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_items_dedup_key"), ["dedup_key"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_items_identificativo_sdi"), ["identificativo_sdi"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_items_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_items_provider_identificativo"),
            ["provider_identificativo"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_items_provider_state"), ["provider_state"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_items_sdi_state"), ["sdi_state"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_items_status"), ["status"], unique=False)

    op.create_table(
        "outbox_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["outbox_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_alerts_account"), ["account"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_alerts_item_id"), ["item_id"], unique=False)

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["outbox_items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_events_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_item_id"))

    op.drop_table("outbox_events")
    with op.batch_alter_table("outbox_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_alerts_item_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_alerts_account"))

    op.drop_table("outbox_alerts")
    with op.batch_alter_table("outbox_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_items_status"))
        batch_op.drop_index(batch_op.f("ix_outbox_items_sdi_state"))
        batch_op.drop_index(batch_op.f("ix_outbox_items_provider_state"))
        batch_op.drop_index(batch_op.f("ix_outbox_items_provider_identificativo"))
        batch_op.drop_index(batch_op.f("ix_outbox_items_kind"))
        batch_op.drop_index(batch_op.f("ix_outbox_items_identificativo_sdi"))
        batch_op.drop_index(batch_op.f("ix_outbox_items_dedup_key"))
        batch_op.drop_index(batch_op.f("ix_outbox_items_created_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_items_account"))

    op.drop_table("outbox_items")
    op.drop_table("outbox_counters")
    op.drop_table("outbox_accounts")
