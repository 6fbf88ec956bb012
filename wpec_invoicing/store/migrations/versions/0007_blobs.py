"""The PostgreSQL archive backend's tables: blob index + 1 MiB chunks (see blob_models).

Revision ID: 0007_blobs
Revises: 0006_search
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_blobs"
down_revision = "0006_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "archive_blob_chunks",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Chunks are written once and read whole: skip TOAST's compression attempt on
        # payloads that are mostly base64 or already compressed (p7m, zip, PDF).
        op.execute("ALTER TABLE archive_blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("archive_blob_chunks")
    op.drop_table("archive_blobs")
