"""The job queue: the shared rate-limit state of each sending account (every dialect) and,
on PostgreSQL, procrastinate's schema (jobs, workers and their heartbeats, periodic defers).

WHY procrastinate's schema is applied here: a fresh clone runs `wpec db upgrade` (or any
command, which migrates on first start) and has a working queue, with no separate
`procrastinate schema --apply` step to forget. The schema is the one shipped with the pinned
procrastinate version (pyproject: `procrastinate>=3.10,<3.11`); moving to a release with new
schema migrations means a new migration here applying its files from
`procrastinate/sql/migrations/`. SQLite has no queue: there the jobs run in-process.

Revision ID: 0008_jobs
Revises: 0006_search
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_jobs"
down_revision = "0007_blobs"
branch_labels = None
depends_on = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "outbox_rate_state",
        sa.Column("account", sa.String(200), primary_key=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    if not _postgresql():
        return
    bind = op.get_bind()
    present = bind.exec_driver_sql(
        "SELECT to_regclass('procrastinate_jobs') IS NOT NULL").scalar()
    if present:  # a deployment that applied it by hand before: keep it
        return
    from procrastinate.schema import SchemaManager

    # exec_driver_sql: the schema holds '%' (format strings) that must reach the server as is.
    bind.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade() -> None:
    op.drop_table("outbox_rate_state")
    if not _postgresql():
        return
    for table in ("procrastinate_events", "procrastinate_periodic_defers",
                  "procrastinate_jobs", "procrastinate_workers"):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
