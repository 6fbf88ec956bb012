"""Pydantic models shared by every use-case area: pages and cursors.

Money is `Decimal` (serialised as a string by the API), dates `date`, times aware `datetime`.
"""

from __future__ import annotations

import base64
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Generic, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    TypeAdapter,
    WithJsonSchema,
)

from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.app.timefmt import _aware, _money_text

T = TypeVar("T")

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class Model(BaseModel):
    """Base of the application's result models: immutable, built from attributes too."""

    model_config = ConfigDict(frozen=True, from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a listing and the cursor of the next (None on the last page)."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class JsonPage:
    """A page already serialised for the REST API: `items` is the JSON array that
    `list_adapter(model).dump_json` writes for the page's models (the same bytes), and the
    cursor of the next page (None on the last)."""

    items: bytes
    next_cursor: str | None = None


def encode_cursor(values: dict[str, Any]) -> str:
    """An opaque cursor from the keyset values of the last row of a page."""
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The keyset values a cursor carries; a tampered or foreign cursor is an InvalidRequest."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"cursor {cursor!r} is not one this server gave out") from exc
    if not isinstance(values, dict):
        raise InvalidRequest(f"cursor {cursor!r} is not one this server gave out")
    return values


def check_limit(limit: int) -> int:
    """A page size within 1..MAX_LIMIT, or an InvalidRequest naming the bound."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    return limit


def cursor_int(position: dict[str, Any] | None, key: str) -> int | None:
    """An integer keyset value of a decoded cursor; a forged value is an InvalidRequest."""
    if position is None:
        return None
    value = position.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest("cursor is not one this server gave out")
    return value


@cache
def list_adapter(model: type[T]) -> TypeAdapter[list[T]]:
    """One `TypeAdapter(list[model])` per model, built once: validating or serialising a whole
    page in one call into pydantic's core instead of one Python call per row."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def rows_as(model: type[T], result: Any) -> list[T]:
    """The rows of a SQLAlchemy `result` (a select of the model's columns, labelled by its
    field names) as validated `model`s.

    Why not `model.model_validate(row._mapping)` per row: a RowMapping costs a Python call
    per column and the per-row validation another round trip into pydantic's core; plain
    dicts validated as one list are about 3.5x cheaper (a 50-row page: 380 → 105 µs).
    The values are still validated (naive SQLite times become aware, for one)."""
    keys = list(result.keys())
    rows = [dict(zip(keys, row, strict=True)) for row in result.all()]
    return list_adapter(model).validate_python(rows)


def read_as(ctx: Any, model: type[T], query: Any, params: dict[str, Any] | None = None
            ) -> list[T]:
    """`query`'s rows (with its bound `params`) as `model`s, read on
    `ctx.read_connection()`."""
    with ctx.read_connection() as conn:
        return rows_as(model, conn.execute(query, params or {}))


async def read_as_async(ctx: Any, model: type[T], query: Any,
                        params: dict[str, Any] | None = None) -> list[T]:
    """`read_as` for an asyncio server: the same rows as the same models.

    Why: on PostgreSQL the read runs on the event loop, on psycopg's async connection, with
    the statement compiled once (`query` must be a cached statement whose values are all
    named bind parameters). Handing a read to a worker thread costs two thread switches
    and SQLAlchemy's execution path about as much again: on a busy machine more than the
    query. On SQLite (no async driver) the read runs on a worker thread."""
    if not ctx.reads_async:
        import asyncio

        return await asyncio.to_thread(read_as, ctx, model, query, params)
    keys, rows = await fetch_rows_async(ctx, query, params)
    data = [dict(zip(keys, row, strict=True)) for row in rows]
    return list_adapter(model).validate_python(data)


async def read_page_json_async(ctx: Any, model: type[BaseModel], query: Any,
                               params: dict[str, Any], limit: int,
                               key: str = "id") -> JsonPage:
    """A page of `query` (which fetches `limit + 1` rows: the extra one only says there is
    a next page) serialised as `model`s, for the REST API's list routes.

    Why not `read_as_async` and `dump_json`: building and validating 50 models, then
    serialising them, cost more than the query itself. The rows just read from PostgreSQL
    already have the models' types, so they are written straight to JSON (`rows_json`);
    the bytes are the ones the models would give (the tests compare them). On SQLite the
    rows go through the models (a worker thread, as `read_as_async`)."""
    if not ctx.reads_async:
        import asyncio

        rows = await asyncio.to_thread(read_as, ctx, model, query, params)
        page = page_of(rows, limit, key)
        return JsonPage(list_adapter(model).dump_json(page.items), page.next_cursor)
    keys, rows = await fetch_rows_async(ctx, query, params,
                                    numeric_as_text=_money_as_text(model, query))
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor({key: rows[-1][keys.index(key)]}) if more and rows else None
    return JsonPage(rows_json(model, keys, rows), nxt)


async def fetch_rows_async(ctx: Any, query: Any, params: dict[str, Any] | None, *,
                           numeric_as_text: bool = False
                           ) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and the rows of a cached statement, on the event loop's pool
    (PostgreSQL only: `ctx.reads_async`); `numeric_as_text`: NUMERIC values as PostgreSQL
    writes them (see `_money_as_text`)."""
    sql = _postgresql_sql(query)
    async with ctx.async_read_connection() as conn:
        # The connection's kept cursor (`AppContext.read_cursor`), given the same `sql`
        # object for a statement each time (`_postgresql_sql` is cached): what lets psycopg
        # keep its loaders from the last run of the statement.
        cursor = ctx.read_cursor(conn, numeric_as_text,
                                 _money_cursor if numeric_as_text else _plain_cursor)
        await cursor.execute(sql, params or {})
        keys = _COLUMN_NAMES.get(sql)
        if keys is None:  # built once per statement: psycopg builds them on every ask
            keys = _COLUMN_NAMES[sql] = [c.name for c in cursor.description or ()]
        rows = await cursor.fetchall()
    return keys, rows


def _plain_cursor(conn: Any) -> Any:
    return conn.cursor()


def _money_cursor(conn: Any) -> Any:
    """A cursor reading NUMERIC values as PostgreSQL writes them (see `_money_as_text`)."""
    from psycopg.types.string import TextLoader

    cursor = conn.cursor()
    cursor.adapters.register_loader("numeric", TextLoader)
    return cursor


@cache
def _money_as_text(model: type[BaseModel], query: Any) -> bool:
    """Whether the statement's NUMERIC columns can be read as PostgreSQL's own text of
    them, which is then the JSON string: true when every one is NUMERIC(p, 2) and read into
    a `Money` field of a model `rows_json` writes directly.

    Why: PostgreSQL writes a NUMERIC(p, 2) with exactly two decimals and no exponent,
    which is what `Money` writes for it; reading the text skips building a Decimal and
    formatting it back, per row (a 50-row page: ≈ 50 µs of ≈ 330)."""
    from sqlalchemy import Float, Numeric

    fields = _plain_fields(model)
    if fields is None:
        return False
    numeric = [c for c in query.selected_columns
               if isinstance(c.type, Numeric) and not isinstance(c.type, Float)]
    return bool(numeric) and all(
        c.type.scale == 2 and c.key in fields and _is_money(model.model_fields[c.key])
        for c in numeric)


def _is_money(field: Any) -> bool:
    annotation, metadata = field.annotation, list(field.metadata)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else None
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *extra = typing.get_args(annotation)
        metadata += extra
    return annotation is Decimal and any(
        isinstance(m, PlainSerializer) and m.func is _money_text for m in metadata)


_COLUMN_NAMES: dict[str, list[str]] = {}


@cache
def _postgresql_sql(query: Any) -> str:
    """The SQL text of a statement for psycopg (named `%(name)s` placeholders), compiled
    once per statement object."""
    from sqlalchemy.dialects.postgresql.psycopg import dialect

    compiled = query.compile(dialect=dialect())
    if compiled.post_compile_params or compiled.literal_execute_params:
        raise ValueError("read_as_async: expanding or literal parameters are not supported")
    return compiled.string


def rows_json(model: type[BaseModel], keys: list[str], rows: list[tuple[Any, ...]]) -> bytes:
    """The JSON array of `rows` (values in `keys`' order) as `list_adapter(model)` would
    dump them after validating them, written without building the models.

    Only for values whose Python types are already the fields' (what PostgreSQL gives for
    the columns a list selects): that is what lets validation be skipped. The writer is
    orjson, whose output for these types is byte for byte pydantic's (aware times with
    `Z` for UTC, dates, strings, numbers, JSON objects); money goes through the field's own
    serialiser (`timefmt.Money`). A model with a field the writer does not reproduce (see
    `_plain_fields`), keys that are not its fields in order, or a value orjson refuses (an
    integer beyond 64 bits) takes the models' way: the same bytes, slower."""
    if _plain_fields(model) == tuple(keys):
        try:
            # strict=False: the keys are the statement's own columns (and strict costs
            # ≈ 15 % of building the dicts).
            return orjson.dumps(_row_dicts(tuple(keys))(rows), default=_money_json,
                                option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
        except orjson.JSONEncodeError:
            pass
    adapter = list_adapter(model)
    data = [dict(zip(keys, row, strict=True)) for row in rows]
    return adapter.dump_json(adapter.validate_python(data))


@cache
def _row_dicts(keys: tuple[str, ...]) -> Callable[[list[tuple[Any, ...]]], list[dict[str, Any]]]:
    """A function turning rows (values in `keys`' order) into dicts, written for these keys:
    `lambda rows: [{"id": _0, "status": _1, ...} for (_0, _1, ...) in rows]`.

    Why generated: a dict display with constant keys is built by one bytecode, where
    `dict(zip(keys, row))` iterates in Python's C loop per value; for a 50-row page of 13
    columns it is ≈ 3x cheaper (≈ 75 → 25 µs), and a page's whole server time is well under
    a millisecond. The keys are a model's field names (identifiers: `rows_json` checks
    them against `_plain_fields`), written as string literals with `repr`; the row values
    are never part of the source."""
    if not keys or not all(k.isidentifier() for k in keys):
        return lambda rows: [dict(zip(keys, row, strict=True)) for row in rows]
    names = [f"_{i}" for i in range(len(keys))]
    items = ", ".join(f"{key!r}: {name}" for key, name in zip(keys, names, strict=True))
    source = f"lambda rows: [{{{items}}} for ({', '.join(names)},) in rows]"
    return eval(source, {"__builtins__": {}})  # noqa: S307 (source made of identifiers only)


def _money_json(value: Any) -> str:
    """orjson's hook for what it does not write itself. A Decimal only comes from a `Money`
    field (`_plain_fields` refuses a model with another Decimal, and JSON columns give
    floats), so it is written as `Money` is."""
    if type(value) is Decimal:
        return _money_text(value)
    raise TypeError(type(value).__name__)


@cache
def _plain_fields(model: type[BaseModel]) -> tuple[str, ...] | None:
    """The field names of `model` when `rows_json` writes its rows as pydantic would (None
    when not): no aliases, validators, serialisers or computed fields, and each field one
    of: int, str, bool, date, a JSON object (`dict[str, Any]`), an aware time (`Aware`:
    naive times are UTC), money (`Money`), a list of strings, or one of these or None."""
    decorators = model.__pydantic_decorators__
    if (model.model_computed_fields or decorators.validators or decorators.field_validators
            or decorators.field_serializers or decorators.model_serializers
            or decorators.model_validators or model.model_config.get("alias_generator")):
        return None
    for name, field in model.model_fields.items():
        if (field.alias not in (None, name) or field.serialization_alias not in (None, name)
                or field.exclude):
            return None
        annotation, metadata = field.annotation, list(field.metadata)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return None
            annotation = args[0]
        if typing.get_origin(annotation) is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            metadata += extra
        serialisers = [m for m in metadata if isinstance(m, PlainSerializer)]
        befores = [m for m in metadata if isinstance(m, BeforeValidator)]
        if annotation is Decimal:
            ok = [s.func for s in serialisers] == [_money_text] and not befores
        elif annotation is datetime:
            ok = [b.func for b in befores] == [_aware] and not serialisers
        else:
            ok = (annotation in (int, str, bool, date) or annotation == dict[str, Any]
                  or annotation == list[str]) and not serialisers and not befores
        documents = [m for m in metadata if isinstance(m, WithJsonSchema)]
        if not ok or len(metadata) != len(serialisers) + len(befores) + len(documents):
            return None
    return tuple(model.model_fields)


def page_of(rows: list[Any], limit: int, key: str = "id") -> Page[Any]:
    """A Page from `limit + 1` fetched rows: the extra row only says there is a next page."""
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor({key: getattr(rows[-1], key)}) if more and rows else None
    return Page[Any](items=rows, next_cursor=nxt)
