"""Hardened XML parsing for everything the formats layer reads from mail (daticert, SdI files).

No network, no DTD loading, no entity expansion, huge_tree off; a document that declares a
DOCTYPE is refused outright (that is where XXE and entity bombs live, and neither daticert.xml
nor SdI's files ever carry one).
"""

from __future__ import annotations

from lxml import etree

__all__ = ["UnsafeXmlError", "XmlError", "local_name", "parse_xml"]


class XmlError(ValueError):
    """The bytes are not a usable XML document (the message says why, with line when known)."""


class UnsafeXmlError(XmlError):
    """The document declares a DTD or entities: refused, never expanded."""


def _parser(recover: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        recover=recover,
    )


_STRICT = _parser(False)
_RECOVER = _parser(True)


def parse_xml(data: bytes, *, recover: bool = False) -> etree._Element:
    """Parse `data` safely; raise `XmlError` (or `UnsafeXmlError`) with a clear reason."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsafeXmlError("XML declares a DOCTYPE or entities: refused (XXE / entity bomb)")
    try:
        root = etree.fromstring(data, _RECOVER if recover else _STRICT)
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"not well-formed XML: {exc}") from None
    except ValueError as exc:  # e.g. an encoding lxml does not know
        raise XmlError(f"not usable XML: {exc}") from None
    if root is None:
        raise XmlError("not XML: no root element")
    return root


def local_name(element: etree._Element) -> str:
    """An element's tag without its namespace ('' for comments and the like)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]
