"""Interfaces over HTTP: the REST API (`api/`) and the operators' console (`console/`).

Like the CLI, nothing here imports `store/` or SQLAlchemy: every route calls `app/`.

May import: `app/` (and the configuration); never `store/` or SQLAlchemy.
"""
