"""Interfaces over HTTP: the REST API (`api/`) and, later, the operators' console.

Like the CLI, nothing here imports `store/` or SQLAlchemy: every route calls `app/`.
"""
