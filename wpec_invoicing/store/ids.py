"""Primary keys drawn before the rows are inserted.

Why: the unit of work inserts rows whose ids it must learn one statement each (it has to
map each returned id back to its object, and SQLite's driver cannot say in which order a
multi-row INSERT … RETURNING returns them), while rows that already have their ids go in
one executemany. A first sync registers thousands of invoices and their lines: drawn here
in one statement per table, they are inserted in one statement per table too (≈ 250 µs an
invoice with its lines against ≈ 60). Same ids the database would have given: PostgreSQL's
own sequence, SQLite's next rowid (max + 1: it has one writer at a time, BEGIN IMMEDIATE,
and the look-up flushes the session first).
"""

from __future__ import annotations

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

_NEXTVAL = text("SELECT nextval(pg_get_serial_sequence(:t, :c)) FROM generate_series(1, :n)")


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` fresh values of `table`'s integer primary key `id`, in increasing order."""
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return sorted(session.scalars(_NEXTVAL, {"t": table.name, "c": "id", "n": count}))
    last = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(last + 1, last + 1 + count))
