# cython: language_level=3, boundscheck=False, wraparound=False, binding=True
"""Compiled twins of the hot pure-Python functions, loaded through `native.py`.

Why: the benchmark target of issue 2 (our full read at least half the throughput of bare
lxml parse + XSD, which is C) is not reachable in Python for a one-line invoice, where fixed
costs dominate: one lxml proxy object per element, one interpreter dispatch per value.

- `extract_valid(root)`: the model of an XSD-valid FPA12/FPR12 tree, read straight from
  libxml2's nodes through lxml's public C API (`lxml.includes`). The readers of the groups
  (`_g_document`, `_g_body`, `_g_line`...) are generated from the field map
  (`fields.GROUPS`) by `fieldgen.py` into `_native_fields.pxi`, included below; this file
  holds the helpers they call, each the twin of a step of `extract_valid.py`, which stays
  the reference and the fallback; the tests compare the two on generated invoices. The
  precondition is the same: the tree passed the XSD. A shape the schema excludes raises
  `Unexpected` (the caller then uses the tolerant extractor).
- `make(cls, values)`: `treewalk.make_py` in C.
- `is_valid_partita_iva(code)`: its `identifiers` twin in C.
"""

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport strcmp, strlen

cimport lxml.includes.etreepublic as cetree
from lxml.includes cimport tree
from lxml.includes.tree cimport xmlNode

cetree.import_lxml__etree()

import base64
from datetime import date
from decimal import Decimal

from wpec_invoicing.fatturapa.model import (
    Address,
    ArticleCode,
    Attachment,
    Body,
    Discount,
    InvoiceDocument,
    Line,
    LinkedDocument,
    Party,
    Payment,
    PaymentDetail,
    PensionFund,
    StampDuty,
    Transmission,
    VatId,
    VatSummary,
    Withholding,
)
from wpec_invoicing.fatturapa.treewalk import Unexpected

cdef object _date = date.fromisoformat
cdef object _b64decode = base64.b64decode

cdef extern from "Python.h":
    int PyObject_GenericSetAttr(object, object, object) except -1


# ---------------------------------------------------------------- make


def make(type cls not None, dict values not None):
    """A frozen dataclass value from a dict of exactly its fields (see `treewalk.make_py`)."""
    return _mk(cls, values)


cdef inline object _mk(type cls, dict values):
    obj = cls.__new__(cls)
    PyObject_GenericSetAttr(obj, "__dict__", values)
    return obj


# ---------------------------------------------------------------- identifiers


def is_valid_partita_iva(code):
    """`identifiers.is_valid_partita_iva` for a str (None for anything else: the Python
    twin decides): 11 ASCII digits, not all zeros, with the right check digit."""
    if type(code) is not str:
        return None
    cdef str s = code
    if len(s) != 11:
        return False
    cdef Py_ssize_t i
    cdef int total = 0, d
    cdef bint zeros = True
    cdef Py_UCS4 ch
    for i in range(11):
        ch = s[i]
        if ch < u'0' or ch > u'9':
            return False
        d = <int> ch - 48
        if d:
            zeros = False
        if i == 10:
            break
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    if zeros:
        return False
    return (10 - total % 10) % 10 == <int> s[10] - 48


# ---------------------------------------------------------------- the tree


cdef inline bint _is_element(xmlNode* n) noexcept:
    return n.type == tree.XML_ELEMENT_NODE


cdef int _check_clean(xmlNode* parent) except -1:
    """Unexpected on a comment, a processing instruction or an entity reference anywhere
    below `parent` (any of them could split a value), as `treewalk.walk_py` does."""
    cdef xmlNode* c = parent.children
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            _check_clean(c)
        elif c.type != tree.XML_TEXT_NODE and c.type != tree.XML_CDATA_SECTION_NODE:
            raise Unexpected("a comment, processing instruction or entity could split a value")
        c = c.next
    return 0


cdef inline bint _named(xmlNode* c, const char* name) noexcept:
    # an unqualified element of that name (what `d.get(name)` finds in the Python twin); the
    # first letters compared inline, so most siblings cost no strcmp call
    return (c.type == tree.XML_ELEMENT_NODE and (<const char*> c.name)[0] == name[0]
            and (c.ns is NULL or c.ns.href is NULL)
            and strcmp(<const char*> c.name, name) == 0)


cdef xmlNode* _child(xmlNode* parent, const char* name) noexcept:
    """The first child of that name, or NULL."""
    cdef xmlNode* c = parent.children
    while c is not NULL:
        if _named(c, name):
            return c
        c = c.next
    return NULL


cdef xmlNode* _required(xmlNode* parent, const char* name) except NULL:
    cdef xmlNode* c = _child(parent, name)
    if c is NULL:
        raise Unexpected(f"{name.decode()} missing")
    return c


cdef inline xmlNode* _next_named(xmlNode* c, const char* name) noexcept:
    """`c` or its first following sibling of that name, or NULL."""
    while c is not NULL:
        if _named(c, name):
            return c
        c = c.next
    return NULL


ctypedef object (*_Reader)(xmlNode*)


cdef tuple _map(xmlNode* parent, const char* name, _Reader read):
    """`read` of every child of that name, in document order (the twin's
    `tuple(map(read, _all(d, name)))`)."""
    cdef list out = []
    cdef xmlNode* c = _next_named(parent.children, name)
    cdef xmlNode* n
    while c is not NULL:
        n = _container(c)
        if n is NULL:  # the twin's reader fails on an empty one (None has no .get)
            raise Unexpected(f"an empty {name.decode()}")
        out.append(read(n))
        c = _next_named(c.next, name)
    return tuple(out)


cdef bint _has_elements(xmlNode* n) noexcept:
    cdef xmlNode* c = n.children
    while c is not NULL:
        if c.type == tree.XML_ELEMENT_NODE:
            return True
        c = c.next
    return False


cdef xmlNode* _container(xmlNode* n) except? NULL:
    """A node the twin reads as a dict: it must hold elements (a blank leaf is None there:
    NULL here; a leaf with text is not a container)."""
    if n is NULL:
        return NULL
    if _has_elements(n):
        return n
    if _text(n) is None:
        return NULL
    raise Unexpected(f"{(<bytes> n.name).decode()} holds text where elements belong")


cdef inline bint _is_space(unsigned char c) noexcept:
    # the ASCII characters str.strip() removes
    return c == 32 or (9 <= c <= 13) or (28 <= c <= 31)


cdef object _text(xmlNode* n):
    """A leaf's text stripped of blanks, None when missing or blank (what the Python twin's
    walk stores for a leaf); a node holding elements is not a value."""
    cdef const char* s
    cdef Py_ssize_t start, end
    cdef bytes joined
    cdef xmlNode* child
    if n is NULL:
        return None
    child = n.children
    if child is NULL:
        return None
    if child.next is NULL and child.type != tree.XML_ELEMENT_NODE:
        s = <const char*> child.content
        if s is NULL:
            return None
        end = strlen(s)
    else:  # several text nodes (CDATA sections): joined, as lxml's .text does
        joined = b""
        while child is not NULL:
            if child.type == tree.XML_ELEMENT_NODE:
                raise Unexpected(f"{(<bytes> n.name).decode()} holds elements, not a value")
            if child.content is not NULL:
                joined += <bytes> <const char*> child.content
            child = child.next
        s = joined
        end = len(joined)
    start = 0
    while start < end and _is_space(<unsigned char> s[start]):
        start += 1
    while end > start and _is_space(<unsigned char> s[end - 1]):
        end -= 1
    if start == end:
        return None
    text = PyUnicode_DecodeUTF8(s + start, end - start, NULL)
    if <unsigned char> s[start] >= 0x80 or <unsigned char> s[end - 1] >= 0x80:
        text = text.strip() or None  # Unicode blanks (NBSP…): str.strip decides, as in Python
    return text


cdef inline object _get(xmlNode* parent, const char* name):
    return _text(_child(parent, name))


cdef inline object _get_or_empty(xmlNode* parent, const char* name):
    v = _text(_child(parent, name))
    return "" if v is None else v


# ---------------------------------------------------------------- values (as extract_valid.py)


cdef xmlNode* _under(xmlNode* parent, const char* name) except NULL:
    """A container the schema requires (the twin's `_under` step: `d[name]`, a dict)."""
    cdef xmlNode* c = _container(_required(parent, name))
    if c is NULL:
        raise Unexpected(f"an empty {name.decode()}")
    return c


cdef object _one(xmlNode* n, _Reader read):
    """An optional group: None when missing or blank (the twin's `d.get(name)` is None)."""
    n = _container(n)
    return None if n is NULL else read(n)


cdef object _dec(object v):
    if v is None:
        return None
    value = Decimal(v)
    if not value.is_finite():
        raise Unexpected("not a finite number")
    return value


cdef object _day(object v):
    return None if v is None else _date(v[:10])


cdef inline object _upper(object v):
    return "" if v is None else v.upper()


cdef inline object _int(object v):
    return None if v is None else int(v)


cdef inline bint _si(object v):
    return v is not None and v.upper() == "SI"


cdef tuple _texts(xmlNode* d, const char* name):
    cdef list out = []
    cdef xmlNode* c = _next_named(d.children, name)
    while c is not NULL:
        v = _text(c)
        if v is not None:
            out.append(v)
        c = _next_named(c.next, name)
    return tuple(out)


cdef tuple _digits(tuple texts):
    return tuple([int(t) for t in texts if t.isdigit()])


cdef object _b64(str raw):
    return _b64decode("".join(raw.split()), validate=False)


cdef inline str _tag(xmlNode* e):
    cdef const char* name = <const char*> e.name
    return PyUnicode_DecodeUTF8(name, strlen(name), NULL)


cdef object _attr(object root, str name):
    v = root.get(name)
    return (v or "").strip()


include "_native_fields.pxi"


def extract_valid(cetree._Element root not None):
    """The model of a schema-valid FatturaElettronica root (see `extract_valid.py`).
    Raises `Unexpected` when the tree is not shaped as the schema promises; conversion errors
    (a value that does not convert) are the caller's to turn into `Unexpected`."""
    _check_clean(root._c_node)
    return _g_document(root)
