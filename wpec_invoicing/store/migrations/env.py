"""Alembic environment: runs on the engine handed over by `store.db.upgrade`.

The model modules are imported lazily (core always, the outbox's when present) so that
autogenerate sees every table without the store depending on the outbox.
"""

import importlib

from alembic import context

from wpec_invoicing.store.db import Base, make_engine

for _module in ("wpec_invoicing.store.models", "wpec_invoicing.store.outbox_models",
                "wpec_invoicing.store.app_models",
                "wpec_invoicing.store.render_models",
                "wpec_invoicing.store.housekeeping_models",
                "wpec_invoicing.store.console_models",
                "wpec_invoicing.store.blob_models",
                "wpec_invoicing.store.jobs_models"):
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as exc:
        if exc.name != _module:
            raise

target_metadata = Base.metadata
config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # handed over by store.db.upgrade (it may hold a lock)
        _run(connection)
        return
    engine = config.attributes.get("engine")
    if engine is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)


run_migrations()
