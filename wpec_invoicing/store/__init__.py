"""Storage: the database schema (SQLAlchemy 2, Alembic migrations; SQLite by default,
PostgreSQL by URL) and the content-addressed archive of every byte received (sha256, fsynced,
on disk or in PostgreSQL).

May import: `config`, `errors`, the standard library and SQLAlchemy/Alembic; never formats'
callers above it (services, `app/`, interfaces).
"""
