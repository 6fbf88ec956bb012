"""The official XSDs, compiled once per thread, and the hardened parser for untrusted input.

Schemas: FatturaPA 1.2.3 (FPA12/FPR12) and Fattura Semplificata 1.0.2 (FSM10), both importing
the W3C xmldsig schema by its URL; the loader points that import at the shipped copy, and the
schema parser has network access off, so compiling never fetches anything.

Untrusted invoices go through `hardened_parser()`: no network, no DTD loading, no entity
expansion, no huge trees. Callers also refuse any DOCTYPE before parsing (see reader), so an
entity bomb or an XXE never reaches libxml2's entity machinery at all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from lxml import etree

from wpec_invoicing.fatturapa.model import NAMESPACE_ORDINARIA, NAMESPACE_SEMPLIFICATA
from wpec_invoicing.resources import schemas_dir

XMLDSIG_URL = "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd"
SCHEMA_FILES = {
    NAMESPACE_ORDINARIA: "FatturaPA_v1.2.3.xsd",
    NAMESPACE_SEMPLIFICATA: "FatturaSemplificata_v1.0.2.xsd",
}
_lock = threading.RLock()


class _LocalResolver(etree.Resolver):
    """Serves the xmldsig import from the shipped file; refuses every other external URL."""

    def resolve(self, system_url, public_id, context):
        if system_url and system_url.rstrip("/").endswith("xmldsig-core-schema.xsd"):
            return self.resolve_filename(str(schemas_dir() / "xmldsig-core-schema.xsd"), context)
        if system_url and system_url.startswith(("http:", "https:", "ftp:")):
            return self.resolve_string("", context)
        return None


_XS = "http://www.w3.org/2001/XMLSchema"
_DS = "http://www.w3.org/2000/09/xmldsig#"


def _compile(namespace: str) -> etree.XMLSchema:
    """Parse and compile one official XSD, its xmldsig import pointed at the shipped copy.

    The import's URL is rewritten in memory (the file on disk stays unmodified) to the local
    file: lxml resolvers alone are not enough, because libxml2 looks the import up through
    thread-global state and, while other threads parse invoices, may miss our resolver and
    fall back to the (refused) network URL. The resolver stays as a second safety net.
    """
    file_name = SCHEMA_FILES[namespace]
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_LocalResolver())
    doc = etree.parse(str(schemas_dir() / file_name), parser)
    local = (schemas_dir() / "xmldsig-core-schema.xsd").resolve().as_uri()
    for imp in doc.getroot().iterfind(f"{{{_XS}}}import"):
        if imp.get("namespace") == _DS:
            imp.set("schemaLocation", local)
    return etree.XMLSchema(doc)


_per_thread = threading.local()


def schema_for(namespace: str) -> etree.XMLSchema:
    """The compiled XSD for a root namespace (KeyError when the namespace is not FatturaPA).

    Compiled once per thread (≈ 40 ms): an XMLSchema keeps the error log of its last run, so
    two threads validating with one object could see each other's errors.
    """
    schemas = getattr(_per_thread, "schemas", None)
    if schemas is None:
        schemas = _per_thread.schemas = {}
    schema = schemas.get(namespace)
    if schema is None:
        with _lock:
            schema = _compile(namespace)
        schemas[namespace] = schema
    return schema


def hardened_parser(*, recover: bool = False) -> etree.XMLParser:
    """A parser for untrusted bytes. A new one per call: lxml parsers are not thread-safe."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=False,
        recover=recover,
    )


def thread_parser() -> etree.XMLParser:
    """This thread's `hardened_parser()`, made once: a parser serves one parse at a time,
    so one per thread is safe, and the reader makes one parse per file (lxml shares the
    string dictionary per thread anyway: reusing the parser keeps nothing more alive)."""
    parser = getattr(_per_thread, "parser", None)
    if parser is None:
        parser = _per_thread.parser = hardened_parser()
    return parser


@dataclass(frozen=True)
class SchemaError:
    """One XSD (or well-formedness) error: line, element path, message."""

    line: int | None
    path: str | None
    message: str

    def to_json(self) -> dict:
        return {"line": self.line, "path": self.path, "message": self.message}


def validate(tree: etree._ElementTree | etree._Element) -> tuple[str | None, list[SchemaError]]:
    """Validate against the schema chosen by the root namespace.

    Returns (namespace-or-None, errors). An unknown root namespace is itself an error.
    """
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    tag = root.tag
    # etree.QName(root) would refuse a namespace holding "}" (a damaged declaration)
    ns = tag[1:].rpartition("}")[0] if tag[:1] == "{" else None
    local = tag.rpartition("}")[2]
    if ns not in SCHEMA_FILES:
        return None, [
            SchemaError(
                root.sourceline,
                "/" + local,
                f"root element {local!r} in namespace {ns!r} is not a "
                "FatturaPA document (expected FatturaElettronica in "
                f"{NAMESPACE_ORDINARIA} or FatturaElettronicaSemplificata in "
                f"{NAMESPACE_SEMPLIFICATA})",
            )
        ]
    schema = schema_for(ns)
    try:
        if schema.validate(root):
            return ns, []
    except etree.XMLSchemaValidateError as exc:  # libxml2 gave up on the tree (not a verdict)
        return ns, [SchemaError(root.sourceline, None, f"the XSD could not be applied: {exc}")]
    errors = [
        SchemaError(e.line or None, e.path or None, e.message) for e in schema.error_log
    ]
    return ns, errors
