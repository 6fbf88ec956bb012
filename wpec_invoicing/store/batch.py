"""Rows written together at the end of a block of work instead of one statement each.

Why: a first sync writes one or two log rows a message (the rule actions, the invoices'
events), each a plain INSERT of ≈ 20 µs: a third of that is the statement's own round
through SQLAlchemy and the driver. Inside `deferred_inserts`, `insert_row` only collects
the row, and the block's end writes each table's rows as one executemany, in the order they were
collected (so a table's ids keep the order its rows were written in). On an
error inside the block the rows are dropped: the caller's savepoint undoes the rest of the
block's work too. Nothing may read these tables back inside the block.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

_KEY = "wpec.deferred_inserts"


def insert_row(session: Session, table: Table, row: dict[str, Any],
               before: Any = None) -> None:
    """Insert `row` into `table` in the session's transaction: now, or at the end of the
    enclosing `deferred_inserts` block. `before`: a (statement, parameters) run first, on
    the same connection, once per written run of rows (a lock the table's writers take)."""
    pending = session.info.get(_KEY)
    if pending is None:
        connection = session.connection()
        if before is not None:
            connection.execute(*before)
        connection.execute(table.insert(), row)
        return
    pending.append((table, row, before))


@contextmanager
def deferred_inserts(session: Session) -> Iterator[None]:
    """Collect `insert_row`'s rows within the block, write them when it ends without error
    (a nested block leaves them to the outer one)."""
    if _KEY in session.info:
        yield
        return
    pending: list[tuple[Table, dict[str, Any], Any]] = []
    session.info[_KEY] = pending
    try:
        yield
    finally:
        del session.info[_KEY]
    if not pending:
        return
    # One executemany per table (and set of columns): the order matters within a table
    # (ids), not between tables.
    groups: dict[tuple[Table, tuple[str, ...]], list[tuple[dict[str, Any], Any]]] = {}
    for table, row, before in pending:
        groups.setdefault((table, tuple(row)), []).append((row, before))
    connection = session.connection()
    for (table, _keys), items in groups.items():
        befores = {id(b): b for _r, b in items if b is not None}
        for statement, params in befores.values():
            connection.execute(statement, params)
        connection.execute(table.insert(), [row for row, _b in items])
