"""XML tree → normalized model, tolerant of what the XSD would refuse.

Navigation is by local name (so a vendor prefixing every element still reads), values are
stripped of surrounding blanks, and a value that cannot be converted (a date that is not a
date, an amount that is not a number) becomes None with a warning instead of an exception:
an importer must get everything that *is* there. Strictness is the validator's job.

What is read, from where and as what is `fields.GROUPS` (the one description of the
invoice, shared with `extract_valid` and the compiled reader): at import, each group becomes
a list of small readers, one per field, and a missing element is an empty container, so a
broken file still gives every value that is there.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from copy import deepcopy
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from wpec_invoicing.fatturapa import model
from wpec_invoicing.fatturapa.fields import GROUPS, ROOT_GROUPS, Field, containers, leaf
from wpec_invoicing.fatturapa.model import InvoiceDocument, field_defaults
from wpec_invoicing.fatturapa.native import make as _make

_El = etree._Element


class _Ctx:
    """Collects conversion warnings while extracting."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, el: _El | None, what: str) -> None:
        line = f" (line {el.sourceline})" if el is not None and el.sourceline else ""
        self.warnings.append(f"{what}{line}")


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None  # comments, processing instructions
    return tag.rpartition("}")[2]


def _chars(el: _El) -> str | None:
    """The character data of a value element. A comment or processing instruction inside a
    value is not part of it (the XSD validates `2<!---->8.06` as 28.06, and an XML signature
    over the document without comments signs 28.06), so the text it split off is put back;
    `.text` alone would read 2. An element with element children is no value: its `.text`."""
    text = el.text
    if len(el) == 0:  # no child at all (len counts comments and PIs too): the common case
        return text
    parts = [text or ""]
    for c in el:
        if isinstance(c.tag, str):
            return text
        parts.append(c.tail or "")
    return "".join(parts)


class _F:
    """The children of one element by (unqualified) name: one pass over the children, then
    dict lookups. About seven times faster than repeated `findtext`, and extraction is the
    hot path of every read. A missing element is an empty `_F`, so callers need no None
    checks; values are stripped of surrounding blanks."""

    __slots__ = ("d", "el", "subs_")

    def __init__(self, el: _El | None) -> None:
        self.el = el
        self.subs_: dict | None = None
        d: dict = {}
        if el is not None:
            for c in el:
                tag = c.tag
                if tag not in d:
                    d[tag] = c
        self.d = d

    @property
    def present(self) -> bool:
        return self.el is not None

    def t(self, name: str) -> str | None:
        c = self.d.get(name)
        if c is None:
            return None
        text = _chars(c)
        if not text:
            return None
        text = text.strip()
        return text if text else None

    def r(self, name: str) -> str:
        return self.t(name) or ""

    def sub(self, name: str) -> _F:
        """The first child of that name (remembered: several fields read below it)."""
        subs = self.subs_
        if subs is None:
            subs = self.subs_ = {}
        f = subs.get(name)
        if f is None:
            f = subs[name] = _F(self.d.get(name))
        return f

    def subs(self, name: str) -> list[_F]:
        if name not in self.d:
            return []
        return [_F(c) for c in self.el.findall(name)]

    def texts(self, name: str) -> list[str]:
        if name not in self.d:
            return []
        out = []
        for c in self.el.findall(name):
            text = (_chars(c) or "").strip()
            if text:
                out.append(text)
        return out

    @staticmethod
    def convert_dec(ctx: _Ctx, el: _El, name: str) -> Decimal | None:
        raw = (_chars(el) or "").strip()
        if not raw:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            ctx.warn(el, f"{name} is not a number: {raw!r}")
            return None
        if not value.is_finite():
            ctx.warn(el, f"{name} is not a finite number: {raw!r}")
            return None
        return value

    @staticmethod
    def convert_date(ctx: _Ctx, el: _El, name: str) -> date | None:
        raw = (_chars(el) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            ctx.warn(el, f"{name} is not a date: {raw!r}")
            return None

    def dec(self, ctx: _Ctx, name: str) -> Decimal | None:
        raw = self.t(name)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            ctx.warn(self.d.get(name), f"{name} is not a number: {raw!r}")
            return None
        if not value.is_finite():
            ctx.warn(self.d.get(name), f"{name} is not a finite number: {raw!r}")
            return None
        return value

    def date(self, ctx: _Ctx, name: str) -> date | None:
        raw = self.t(name)
        if raw is None:
            return None
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            ctx.warn(self.d.get(name), f"{name} is not a date: {raw!r}")
            return None

    def int(self, ctx: _Ctx, name: str) -> int | None:
        raw = self.t(name)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            ctx.warn(self.d.get(name), f"{name} is not an integer: {raw!r}")
            return None

    def si(self, name: str) -> bool:
        return (self.t(name) or "").upper() == "SI"

    def b64(self, ctx: _Ctx, name: str) -> bytes:
        raw = self.t(name) or ""
        try:
            return base64.b64decode("".join(raw.split()), validate=False)
        except (binascii.Error, ValueError):
            ctx.warn(self.d.get(name), f"{name} is not valid base64")
            return b""


# ---------------------------------------------------------------- readers from `fields.GROUPS`

# A field reader: (warnings, the group element's children, its position among its repeats)
# → the field's value.
_FieldReader = Callable[[_Ctx, _F, int], object]
# A group reader: (warnings, the element, its position) → the model value.
_GroupReader = Callable[[_Ctx, _F, int], object]
_READERS: dict[str, _GroupReader] = {}


def _group(name: str) -> _GroupReader:
    """The reader of one group (built once, on first use: groups refer to each other)."""
    reader = _READERS.get(name)
    if reader is None:
        reader = _READERS[name] = _build_group(name)
    return reader


def _build_group(name: str) -> _GroupReader:
    group = GROUPS[name]
    cls = getattr(model, group.model)
    defaults, required = field_defaults(cls)
    missing = required - {f.name for f in group.fields}
    if missing:  # a map that cannot build its model: a programming error, found at import
        raise TypeError(f"fields.GROUPS[{name!r}] does not read {sorted(missing)}")
    steps = tuple((f.name, _field_reader(f)) for f in group.fields)

    def read(ctx: _Ctx, f: _F, position: int = 1):
        values = defaults.copy()
        for field_name, get in steps:
            values[field_name] = get(ctx, f, position)
        return _make(cls, values)

    return read


def _under(f: _F, path: tuple[str, ...]) -> _F:
    for step in path:
        f = f.sub(step)
    return f


def _field_reader(field: Field) -> _FieldReader:
    path, tag, kind = containers(field.path), leaf(field.path), field.kind
    group = field.group
    if kind == "text":
        return lambda ctx, f, pos: _under(f, path).t(tag)
    if kind == "str":
        return lambda ctx, f, pos: _under(f, path).r(tag)
    if kind == "upper":
        return lambda ctx, f, pos: _under(f, path).r(tag).upper()
    if kind == "dec":
        return lambda ctx, f, pos: _under(f, path).dec(ctx, tag)
    if kind == "date":
        return lambda ctx, f, pos: _under(f, path).date(ctx, tag)
    if kind == "int":
        return lambda ctx, f, pos: _under(f, path).int(ctx, tag)
    if kind == "number":
        return lambda ctx, f, pos: _under(f, path).int(ctx, tag) or 0
    if kind == "si":
        return lambda ctx, f, pos: _under(f, path).si(tag)
    if kind == "texts":
        return lambda ctx, f, pos: tuple(_under(f, path).texts(tag))
    if kind == "digits":
        return lambda ctx, f, pos: tuple(
            int(t) for t in _under(f, path).texts(tag) if t.isdigit())
    if kind == "b64":
        return lambda ctx, f, pos: _under(f, path).b64(ctx, tag)
    if kind == "attr":
        attr = tag[1:]
        return lambda ctx, f, pos: (
            (f.el.get(attr) or "").strip() if f.el is not None else "")
    if kind == "tag":
        return lambda ctx, f, pos: _local(f.el.tag) if f.el is not None else ""
    if kind == "position":
        return lambda ctx, f, pos: pos
    if kind == "flag":
        def flag(ctx: _Ctx, f: _F, pos: int):
            return _group(group)(ctx, _F(None)) if _under(f, path).si(tag) else None
        return flag
    if kind == "one":
        def one(ctx: _Ctx, f: _F, pos: int):
            sub = _under(f, path).sub(tag)
            return _group(group)(ctx, sub) if sub.present else None
        return one
    if kind == "required":  # missing: read from an empty element (every value missing)
        return lambda ctx, f, pos: _group(group)(ctx, _under(f, path).sub(tag))
    if kind == "many":
        tags = tag.split("|")

        def many(ctx: _Ctx, f: _F, pos: int):
            read, under = _group(group), _under(f, path)
            return tuple(read(ctx, s, i) for t in tags
                         for i, s in enumerate(under.subs(t), start=1))
        return many
    raise ValueError(f"unknown kind {kind!r} of field {field.name!r}")


ROOTS = ("FatturaElettronica", "FatturaElettronicaSemplificata")


def _unqualified_copy(root: _El) -> _El:
    """A copy whose descendants carry local names only (vendors that prefix every element)."""
    copy = deepcopy(root)
    for el in copy.iterdescendants():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            try:
                el.tag = el.tag.rpartition("}")[2]
            except ValueError:  # a name only a recovering parse makes (":x"): not ours
                continue
    return copy


def extract(root: _El) -> tuple[InvoiceDocument | None, list[str]]:
    """The model of a FatturaPA root element, plus conversion warnings.

    Returns (None, [reason]) when the root is not a FatturaPA invoice at all.
    """
    ctx = _Ctx()
    name = _local(root.tag)
    if name in ROOTS and root.find("FatturaElettronicaHeader") is None:
        root = _unqualified_copy(root)
    group = ROOT_GROUPS.get(name or "")
    if group is None:
        return None, [f"the root element is {name!r}, not a FatturaPA invoice"]
    return _group(group)(ctx, _F(root)), ctx.warnings


for _name in GROUPS:  # every reader built (and every group checked) at import
    _group(_name)
