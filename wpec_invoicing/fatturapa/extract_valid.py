"""The model of an XSD-valid FPA12/FPR12 tree, from one walk (the reader's fast path).

`extract.extract` is tolerant: it reads files the XSD refuses, so it must look at every
element defensively (qualified names, comments inside values, a container where a value
should be, an empty container). Most files are valid, and then the schema already
guarantees the shape: containers hold elements, values are leaves, required elements are
there, single elements occur once, in schema order. This module relies on that guarantee and
builds exactly the same model from `treewalk.walk`, which reads the whole tree once into
plain dicts (tag → stripped text or None, or → the child container's dict), so the model
values are filled from dicts without a per-field method call. What is read, from where and as
what is `fields.GROUPS`, the same map the tolerant reader is built from. Where the compiled
twin was built (`_native.pyx`, see `native.py`), it runs instead: functions generated from
the same map (`fieldgen.py`), reading libxml2's nodes directly.

Anything unexpected (a comment or processing instruction that could split a value, a value
that does not convert, a shape the schema should have excluded) raises `Unexpected`, and the
reader falls back to the tolerant extractor, which reports it with a line number. So the
fast path can only be faster, never different.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date
from decimal import Decimal

from lxml import etree

from wpec_invoicing.fatturapa import model
from wpec_invoicing.fatturapa.fields import GROUPS, Field, containers, leaf
from wpec_invoicing.fatturapa.model import InvoiceDocument, field_defaults
from wpec_invoicing.fatturapa.native import compiled
from wpec_invoicing.fatturapa.native import make as _mk
from wpec_invoicing.fatturapa.treewalk import MANY, Unexpected, walk

_date = date.fromisoformat
_CONVERSION_ERRORS = (KeyError, TypeError, AttributeError, ValueError, ArithmeticError)

__all__ = ["Unexpected", "extract_valid"]


def _all(d: dict, tag: str) -> list | tuple:
    """Every occurrence of a repeatable child, in document order."""
    if tag not in d:
        return ()
    many = d.get(MANY)
    if many is not None:
        lst = many.get(tag)
        if lst is not None:
            return lst
    return (d[tag],)


def _dec(v: str | None) -> Decimal | None:
    if v is None:
        return None
    value = Decimal(v)
    if not value.is_finite():
        raise Unexpected("not a finite number")
    return value


def _day(v: str | None) -> date | None:
    return None if v is None else _date(v[:10])


def _under(d: dict, path: tuple[str, ...]) -> dict:
    """The container at `path` below `d`: the schema requires every one on the way (a
    missing one is KeyError, a blank one None, a value str: the caller's Unexpected)."""
    for step in path:
        d = d[step]
        if d.__class__ is not dict:
            raise Unexpected(f"{step} is not a container")
    return d


# A field reader: (the group element's dict, its tag) → the value; a group reader the same
# → the model value.
_Reader = Callable[[dict, str], object]
_READERS: dict[str, _Reader] = {}


def _group(name: str) -> _Reader:
    reader = _READERS.get(name)
    if reader is None:
        reader = _READERS[name] = _build_group(name)
    return reader


def _build_group(name: str) -> _Reader:
    group = GROUPS[name]
    cls = getattr(model, group.model)
    defaults, _required = field_defaults(cls)
    steps = tuple((f.name, _field_reader(f)) for f in group.fields)

    def read(d: dict, tag: str):
        values = defaults.copy()
        for field_name, get in steps:
            values[field_name] = get(d, tag)
        return _mk(cls, values)

    return read


def _field_reader(field: Field) -> _Reader:
    path, tag, kind, group = containers(field.path), leaf(field.path), field.kind, field.group
    if kind == "text":
        return lambda d, own: _under(d, path).get(tag)
    if kind == "str":
        return lambda d, own: _under(d, path).get(tag) or ""
    if kind == "upper":
        return lambda d, own: (_under(d, path).get(tag) or "").upper()
    if kind == "dec":
        return lambda d, own: _dec(_under(d, path).get(tag))
    if kind == "date":
        return lambda d, own: _day(_under(d, path).get(tag))
    if kind == "int":
        def integer(d: dict, own: str):
            v = _under(d, path).get(tag)
            return None if v is None else int(v)
        return integer
    if kind == "number":
        return lambda d, own: int(_under(d, path)[tag])
    if kind == "si":
        return lambda d, own: (_under(d, path).get(tag) or "").upper() == "SI"
    if kind == "texts":
        return lambda d, own: tuple(v for v in _all(_under(d, path), tag) if v is not None)
    if kind == "digits":
        return lambda d, own: tuple(int(v) for v in _all(_under(d, path), tag)
                                    if v is not None and v.isdigit())
    if kind == "b64":
        return lambda d, own: base64.b64decode(
            "".join((_under(d, path).get(tag) or "").split()), validate=False)
    if kind == "tag":
        return lambda d, own: own
    if kind == "one":
        def one(d: dict, own: str):
            v = _under(d, path).get(tag)
            return None if v is None else _group(group)(v, tag)
        return one
    if kind == "required":
        return lambda d, own: _group(group)(_under(d, path)[tag], tag)
    if kind == "many":
        tags = tag.split("|")

        def many(d: dict, own: str):
            read, under = _group(group), _under(d, path)
            return tuple(read(v, t) for t in tags for v in _all(under, t))
        return many
    # attr (the root's versione) is read by `_document`; position, flag: FSM10 only
    raise ValueError(f"kind {kind!r} of field {field.name!r} has no valid-file reader")


# The root's fields: its `versione` attribute, the rest from the walked tree.
_ROOT_FIELDS = tuple(
    (f.name, f.path[1:] if f.kind == "attr" else None,
     None if f.kind == "attr" else _field_reader(f))
    for f in GROUPS["document"].fields
)


def _document(root: etree._Element) -> InvoiceDocument:
    tree: dict = walk(root)
    values = {}
    for name, attr, read in _ROOT_FIELDS:
        values[name] = (root.get(attr) or "").strip() if read is None else read(tree, "")
    return _mk(InvoiceDocument, values)


# The compiled twin (`_native.extract_valid`, generated from the same map: see `fieldgen`)
# where it was built; this module's code otherwise.
_extract = compiled.extract_valid if compiled is not None else _document


def extract_valid(root: etree._Element) -> InvoiceDocument:
    """The model of a schema-valid FatturaElettronica root (see the module docstring).
    Raises `Unexpected` when the tree is not shaped as the schema promises."""
    try:
        return _extract(root)
    except _CONVERSION_ERRORS as exc:
        raise Unexpected(f"{type(exc).__name__}: {exc}") from exc
