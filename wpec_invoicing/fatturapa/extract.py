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

    def elements(self, name: str) -> list[_El]:
        """Every child of that name, in document order."""
        if name not in self.d:
            return []
        return self.el.findall(name)

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
        c = self.d.get(name)
        return None if c is None else _F.convert_dec(ctx, c, name)

    def date(self, ctx: _Ctx, name: str) -> date | None:
        c = self.d.get(name)
        return None if c is None else _F.convert_date(ctx, c, name)

    def int(self, ctx: _Ctx, name: str) -> int | None:
        c = self.d.get(name)
        return None if c is None else _integer(ctx, c, name)

    def si(self, name: str) -> bool:
        return (self.t(name) or "").upper() == "SI"

    def b64(self, ctx: _Ctx, name: str) -> bytes:
        c = self.d.get(name)
        return b"" if c is None else _b64(ctx, c, name)


# ---------------------------------------------------------------- readers from `fields.GROUPS`

# A field reader: (warnings, the group element's children, its position among its repeats)
# → the field's value.
_FieldReader = Callable[[_Ctx, _F, int], object]
# A group reader: (warnings, the element or None when missing, its position) → the value.
_GroupReader = Callable[[_Ctx, "_El | None", int], object]
_READERS: dict[str, _GroupReader] = {}

# Kinds read from a direct child in the one pass over the children (see `_build_group`),
# and their value when the child is missing.
_ABSENT = {"text": None, "str": "", "upper": "", "dec": None, "date": None, "int": None,
           "number": 0, "si": False, "texts": (), "digits": (), "b64": b"", "one": None,
           "required": None, "many": ()}


def _group(name: str) -> _GroupReader:
    """The reader of one group (built once, on first use: groups refer to each other)."""
    reader = _READERS.get(name)
    if reader is None:
        reader = _READERS[name] = _build_group(name)
    return reader


def _text(c: _El) -> str | None:
    text = _chars(c)
    if not text:
        return None
    return text.strip() or None


def _integer(ctx: _Ctx, c: _El, tag: str) -> int | None:
    raw = _text(c)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        ctx.warn(c, f"{tag} is not an integer: {raw!r}")
        return None


def _b64(ctx: _Ctx, c: _El, tag: str) -> bytes:
    raw = _text(c) or ""
    try:
        return base64.b64decode("".join(raw.split()), validate=False)
    except (binascii.Error, ValueError):
        ctx.warn(c, f"{tag} is not valid base64")
        return b""


def _single(kind: str, tag: str, group: str | None) -> Callable[[_Ctx, _El], object]:
    """How a single-valued field is read from its element."""
    if kind == "text":
        return lambda ctx, c: _text(c)
    if kind == "str":
        return lambda ctx, c: _text(c) or ""
    if kind == "upper":
        return lambda ctx, c: (_text(c) or "").upper()
    if kind == "dec":
        convert_dec = _F.convert_dec

        def dec(ctx: _Ctx, c: _El) -> Decimal | None:
            try:  # the common case first: Decimal() itself ignores surrounding blanks
                value = Decimal(_chars(c))
                if value.is_finite():
                    return value
            except (InvalidOperation, TypeError):
                pass
            return convert_dec(ctx, c, tag)  # blank, not a number, not finite: it says so
        return dec
    if kind == "date":
        convert_date = _F.convert_date
        return lambda ctx, c: convert_date(ctx, c, tag)
    if kind == "int":
        return lambda ctx, c: _integer(ctx, c, tag)
    if kind == "number":
        return lambda ctx, c: _integer(ctx, c, tag) or 0
    if kind == "si":
        return lambda ctx, c: (_text(c) or "").upper() == "SI"
    if kind == "b64":
        return lambda ctx, c: _b64(ctx, c, tag)
    return lambda ctx, c: _group(group)(ctx, c, 1)  # type: ignore[arg-type]  # one, required


def _item(kind: str) -> Callable[[_El], object]:
    """How one occurrence of a repeated value is read (None: skipped)."""
    if kind == "texts":
        return _text

    def digits(c: _El) -> int | None:
        text = _text(c)
        return int(text) if text is not None and text.isdigit() else None
    return digits


_SINGLE, _LIST, _MANY = 0, 1, 2


def _build_group(name: str) -> _GroupReader:
    """A group's reader. The fields read from direct children (most of them; all of a line,
    the bulk of a big invoice) are filled in ONE pass over the children, by a table from
    tag to field; the others (below a container, an attribute, the element's own name or
    position) each by a small reader over `_F`. First occurrence wins, as in `_F`."""
    group = GROUPS[name]
    cls = getattr(model, group.model)
    defaults, required = field_defaults(cls)
    missing = required - {f.name for f in group.fields}
    if missing:  # a map that cannot build its model: a programming error, found at import
        raise TypeError(f"fields.GROUPS[{name!r}] does not read {sorted(missing)}")
    base = dict(defaults)  # the values of a group whose children are all missing
    direct: dict[str, tuple] = {}  # tag → (field, mode, how, slot)
    slots: dict[str, int] = {}  # a repeated field: how many tags ('A|B': A's before B's)
    needed: list[tuple[str, str]] = []  # required groups: read from nothing when missing
    others: list[tuple[str, _FieldReader]] = []
    for f in group.fields:
        if f.kind not in _ABSENT or "/" in f.path:
            others.append((f.name, _field_reader(f)))
            continue
        base[f.name] = _ABSENT[f.kind]
        tags = f.path.split("|")
        for slot, tag in enumerate(tags):
            if f.kind == "many":
                direct[tag] = (f.name, _MANY, f.group, slot)
            elif f.kind in ("texts", "digits"):
                direct[tag] = (f.name, _LIST, _item(f.kind), 0)
            else:
                direct[tag] = (f.name, _SINGLE, _single(f.kind, tag, f.group), 0)
        slots[f.name] = len(tags)
        if f.kind == "required":
            needed.append((f.name, f.group))  # type: ignore[arg-type]

    def read(ctx: _Ctx, el: _El | None, position: int = 1):
        values = base.copy()
        seen: set[str] = set()
        lists: dict[str, list[list]] = {}
        if el is not None:
            for c in el:
                spec = direct.get(c.tag)
                if spec is None:
                    continue
                field_name, mode, how, slot = spec
                if mode == _SINGLE:
                    if field_name not in seen:
                        seen.add(field_name)
                        values[field_name] = how(ctx, c)
                    continue
                acc = lists.get(field_name)
                if acc is None:
                    acc = lists[field_name] = [[] for _ in range(slots[field_name])]
                items = acc[slot]
                if mode == _MANY:
                    items.append(_group(how)(ctx, c, len(items) + 1))
                else:
                    value = how(c)
                    if value is not None:
                        items.append(value)
        for field_name, acc in lists.items():
            values[field_name] = tuple(v for items in acc for v in items)
        for field_name, sub in needed:
            if field_name not in seen:
                values[field_name] = _group(sub)(ctx, None, 1)
        if others:
            f = _F(el)
            for field_name, get in others:
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
            return _group(group)(ctx, None, 1) if _under(f, path).si(tag) else None
        return flag
    if kind == "one":
        def one(ctx: _Ctx, f: _F, pos: int):
            sub = _under(f, path).sub(tag)
            return _group(group)(ctx, sub.el, 1) if sub.present else None
        return one
    if kind == "required":  # missing: read from an empty element (every value missing)
        return lambda ctx, f, pos: _group(group)(ctx, _under(f, path).sub(tag).el, 1)
    if kind == "many":
        tags = tag.split("|")

        def many(ctx: _Ctx, f: _F, pos: int):
            read, under = _group(group), _under(f, path)
            return tuple(read(ctx, el, i) for t in tags
                         for i, el in enumerate(under.elements(t), start=1))
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
    return _group(group)(ctx, root, 1), ctx.warnings


for _name in GROUPS:  # every reader built (and every group checked) at import
    _group(_name)
