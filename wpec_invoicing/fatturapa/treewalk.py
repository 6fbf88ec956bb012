"""An lxml tree as nested dicts, in one walk: what the valid-file extractor reads values from.

`walk(root)` returns `root`'s children by tag: a leaf's text stripped of blanks (None when
empty), a container's own dict. The first occurrence of a tag is under the tag; when a tag
repeats, every occurrence (the first included) is also listed under `MANY` → {tag: [...]}.

This is the pure-Python path of `extract_valid`; where the compiled twin was built
(`native.py`), that one reads libxml2's nodes directly and never builds these dicts.

A comment, a processing instruction or an entity reference anywhere under `root` raises
`Unexpected`: any of them could split a value in two, and the caller then falls back to the
tolerant extractor, which reports where.
"""

from __future__ import annotations

from lxml import etree

MANY = "*"  # key of the dict of repeated children: tag → [every occurrence]
_NOT_ELEMENTS = (etree.Comment, etree.ProcessingInstruction, etree.Entity)


class Unexpected(Exception):
    """The tree is not what a valid file looks like: use the tolerant extractor."""


def _walk(el: etree._Element) -> dict:
    d: dict = {}
    for c in el[:]:  # one C call for the child list, cheaper than iterating
        if len(c):
            v = _walk(c)
        else:
            v = c.text
            if v is not None:
                v = v.strip() or None
        tag = c.tag
        if tag in d:
            many = d.get(MANY)
            if many is None:
                d[MANY] = {tag: [d[tag], v]}
            elif tag in many:
                many[tag].append(v)
            else:
                many[tag] = [d[tag], v]
        else:
            d[tag] = v
    return d


def walk(root: etree._Element) -> dict:
    """`root`'s children as nested dicts (see the module docstring), in Python."""
    if next(root.iter(*_NOT_ELEMENTS), None) is not None:
        raise Unexpected("a comment, processing instruction or entity could split a value")
    return _walk(root)


_new = object.__new__
_set = object.__setattr__


def make_py(cls: type, values: dict):
    """A frozen dataclass value from a dict holding exactly its fields. A frozen dataclass
    `__init__` costs one `object.__setattr__` per field, and a file has dozens of values;
    the result is the same object (fields, equality, hash, repr)."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    return obj
