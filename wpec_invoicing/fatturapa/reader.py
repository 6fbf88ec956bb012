"""`read_invoice`: any bytes in, an `InvoiceReport` out. Never raises on bad input.

The pipeline: unwrap the container (XML, p7m DER, p7m base64) → refuse DOCTYPE/ENTITY →
parse with the hardened parser → strip blanks around values → extract the model → XSD →
SdI checks.

Strict mode (default) judges the file as SdI would. Bytes that are not well-formed XML make
the file unreadable (`readable` False, `error` says why, check 00200), whatever the cause
(invalid UTF-8, a byte order mark that contradicts the bytes, junk before the prolog, a stray
quote): one rule, so `wpec invoice validate` exits 2 for all of them; a warning says when a
lenient read would get through. A well-formed file that breaks the XSD is readable and not
valid (00200), and its model is still extracted.

Lenient mode (for import) repairs instead, each repair reported as a warning: a namespace URI
with stray characters (however written, see `encoding`), then for bytes that are not
well-formed the byte-level repairs of `encoding.repair`, and as a last resort libxml2's
recovering parser (same hardening) when what it rebuilds is a FatturaPA root. The XSD then
runs on the repaired document. So `wpec invoice show` and the importer read what is there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from lxml import etree

from wpec_invoicing.fatturapa import encoding, schema
from wpec_invoicing.fatturapa.checks import CheckContext, CheckResult, run_checks
from wpec_invoicing.fatturapa.container import CONTAINER_XML, ContainerError, unwrap
from wpec_invoicing.fatturapa.extract_valid import Unexpected, extract_valid
from wpec_invoicing.fatturapa.model import FORMATS, InvoiceDocument
from wpec_invoicing.fatturapa.native import make as _make
from wpec_invoicing.fatturapa.schema import SchemaError

# Imported where used: the tolerant extractor (`extract`) and XAdES verification (`xades`)
# serve the files that need them (a repair, a shape the XSD refused, an enveloped signature);
# a command reading valid plain XML does not load them at start-up.

if TYPE_CHECKING:  # pragma: no cover
    from wpec_invoicing.cms import SignatureVerdict, TrustStore

MAX_INPUT_BYTES = 50 * 1024 * 1024  # SdI's limit is 5 MB; anything far above is not an invoice
INTERNAL_ERROR = "internal error while reading"  # how a crash caught as a verdict starts


@dataclass(frozen=True)
class InvoiceReport:
    """Everything known about one input file (what `wpec invoice validate --json` prints)."""

    file_name: str | None = None
    container: str | None = None
    format: str | None = None
    signature: SignatureVerdict | None = None
    xml: bytes | None = field(default=None, repr=False)
    document: InvoiceDocument | None = None
    schema_valid: bool = False
    schema_errors: tuple[SchemaError, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    lenient: bool = False

    @property
    def readable(self) -> bool:
        """False when the file cannot be read as it is: not a p7m, not an invoice, or not
        well-formed XML whatever the cause (strict reading; lenient reading repairs what it
        can first). `wpec invoice validate` exits 2 for these."""
        return self.error is None

    @property
    def internal_error(self) -> bool:
        """True when the verdict is the last-resort catch of a crash in the reader (a bug),
        not a judgement of the file."""
        return self.error is not None and self.error.startswith(INTERNAL_ERROR)

    @property
    def valid(self) -> bool:
        """True when SdI would accept the file: readable, XSD-valid, no failed check."""
        return self.readable and self.schema_valid and not self.checks

    @property
    def codes(self) -> tuple[str, ...]:
        """The SdI codes of the failed checks, sorted, without duplicates."""
        return tuple(sorted({c.code for c in self.checks}))

    def to_json(self) -> dict:
        from wpec_invoicing.fatturapa.summary import invoices_json, signature_json

        return {
            "file": self.file_name,
            "valid": self.valid,
            "readable": self.readable,
            "format": self.format,
            "container": self.container,
            "signature": signature_json(self.signature),
            "schema_valid": self.schema_valid,
            "schema_errors": [e.to_json() for e in self.schema_errors],
            "checks": [c.to_json() for c in self.checks],
            "warnings": list(self.warnings),
            "error": self.error,
            "invoices": invoices_json(self.document),
        }


def _unreadable(file_name, reason, *, container=None, signature=None, warnings=(), checks=()):
    return InvoiceReport(
        file_name=file_name,
        container=container,
        signature=signature,
        error=reason,
        warnings=tuple(warnings),
        checks=tuple(checks) or (CheckResult("00200", f"file not readable: {reason}"),),
    )


def _syntax_error(exc: etree.XMLSyntaxError) -> SchemaError:
    line = exc.lineno if getattr(exc, "lineno", None) else None
    msg = exc.msg if getattr(exc, "msg", None) else str(exc)
    return SchemaError(line, None, f"not well-formed XML: {msg}")


_LEADING_BLANKS = re.compile(r"^\s|\s$")


def _strip_values(root: etree._Element) -> list[str]:
    """Strip blanks around leaf values in place; report where (first few paths)."""
    fixed: list[etree._Element] = []
    for el in root.iter():
        if len(el) == 0 and isinstance(el.tag, str):
            text = el.text
            if text and (text[0].isspace() or text[-1].isspace()):
                stripped = text.strip()
                if stripped:
                    el.text = stripped
                    fixed.append(el)
    if not fixed:
        return []
    tree = root.getroottree()
    sample = ", ".join(f"{_short_path(tree.getpath(e))} (line {e.sourceline})" for e in fixed[:3])
    more = f" and {len(fixed) - 3} more" if len(fixed) > 3 else ""
    return [f"blanks around {len(fixed)} value(s) were removed: {sample}{more}"]


_DS_SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"
_DS_OBJECT = "{http://www.w3.org/2000/09/xmldsig#}Object"
_KNOWN_NS = {None, schema.NAMESPACE_ORDINARIA, schema.NAMESPACE_SEMPLIFICATA,
             "http://www.w3.org/2000/09/xmldsig#"}


def _namespace(tag: str) -> str | None:
    """The namespace of a tag (`etree.QName` refuses the odd names a recovering parse can
    leave, like ":x")."""
    return tag[1:].rpartition("}")[0] if tag[:1] == "{" else None


def _drop_foreign(root: etree._Element) -> list[str]:
    """Remove vendor elements in foreign namespaces (lenient mode); say how many."""
    foreign = [
        el for el in root.iter()
        if isinstance(el.tag, str) and el is not root
        and _namespace(el.tag) not in _KNOWN_NS
        and _namespace(el.getparent().tag) in _KNOWN_NS
        and el.getparent().tag != _DS_OBJECT  # ds:Object holds anything (XAdES properties)
    ]
    for el in foreign:
        parent = el.getparent()
        if el.tail and el.tail.strip():
            continue
        parent.remove(el)
    if not foreign:
        return []
    names = sorted({str(_namespace(el.tag)) for el in foreign})
    return [f"{len(foreign)} vendor element(s) in foreign namespaces ignored: {', '.join(names)}"]


def _unqualify(root: etree._Element) -> list[str]:
    """FatturaPA qualifies the root only; a vendor that writes a default namespace, or its
    prefix on every element, qualifies them all, and the XSD refuses the file. Lenient
    reading takes the elements in the FatturaPA namespace below the root as unqualified (in
    place), and says so; the signature's elements (xmldsig) keep their namespace."""
    tag = root.tag
    ns = _namespace(tag) if isinstance(tag, str) else None
    if ns not in (schema.NAMESPACE_ORDINARIA, schema.NAMESPACE_SEMPLIFICATA):
        return []
    if root.find("FatturaElettronicaHeader") is not None:
        return []
    prefix = f"{{{ns}}}"
    moved = 0
    for el in root.iterdescendants():
        if isinstance(el.tag, str) and el.tag.startswith(prefix):
            el.tag = el.tag[len(prefix):]
            moved += 1
    if not moved:
        return []
    return [f"{moved} element(s) below the root carried the FatturaPA namespace (a default "
            "namespace or a prefix on every element); read as unqualified, as the XSD wants"]


def _short_path(path: str) -> str:
    return re.sub(r"\*\[local-name\(\)\s*=\s*'([^']+)'\]", r"\1", path)


_STEP = re.compile(r"(?:[\w.-]+:)?([A-Za-z_][\w.-]*)(?:\[(\d+)\])?")


def _locate(root: etree._Element, path: str | None) -> int | None:
    """Line of the element at a path like `FatturaElettronicaBody[2]/DatiBeniServizi` (or an
    lxml one, `/p:FatturaElettronica/FatturaElettronicaBody[2]/...`). Walks down as far as
    the path exists: a missing leaf points at its parent."""
    if not path:
        return None
    steps = [st for st in path.split("/") if st]
    node = root
    root_name = root.tag.rpartition("}")[2]
    for k, step in enumerate(steps):
        m = _STEP.fullmatch(step)
        if not m:
            break
        name, idx = m.group(1), int(m.group(2) or 1)
        if k == 0 and name == root_name:
            continue
        found = [c for c in node if isinstance(c.tag, str) and c.tag.rpartition("}")[2] == name]
        if len(found) < idx:
            break
        node = found[idx - 1]
    return node.sourceline


_FATTURA_ORDINARIA = f"{{{schema.NAMESPACE_ORDINARIA}}}FatturaElettronica"


def _not_an_invoice(base, xml, warnings, extract_warnings, root) -> InvoiceReport:
    return InvoiceReport(
        **base,
        xml=xml,
        error=extract_warnings[0],
        warnings=tuple(warnings),
        checks=(CheckResult("00200", extract_warnings[0], None, root.sourceline),),
    )


def _parse(data: bytes) -> tuple[etree._Element | None, etree.XMLSyntaxError | None]:
    try:
        return etree.fromstring(data, schema.thread_parser()), None
    except etree.XMLSyntaxError as exc:
        return None, exc


_RECOVERED_SHOWN = 3  # the parser's first few complaints are named; the rest counted


def _recovered(data: bytes) -> tuple[etree._Element | None, list[str]]:
    """libxml2's recovering parse (the same hardening: no network, no DTD, no entities, no
    huge trees) when its result is a FatturaPA root; None otherwise (a recovered tree that is
    not an invoice is no reading of it). The message lists what the parser repaired."""
    parser = schema.hardened_parser(recover=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return None, []
    if root is None or not isinstance(root.tag, str):
        return None, []
    from wpec_invoicing.fatturapa.extract import ROOTS

    if root.tag.rpartition("}")[2] not in ROOTS:
        return None, []
    errors = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR]
    shown = "; ".join(f"{e.message} (line {e.line})" for e in errors[:_RECOVERED_SHOWN])
    more = f" and {len(errors) - _RECOVERED_SHOWN} more" if len(errors) > _RECOVERED_SHOWN else ""
    return root, [f"the XML was not well-formed; the parser recovered from "
                  f"{len(errors)} error(s): {shown}{more}", *_undeclared_entities(root)]


def _undeclared_entities(root: etree._Element) -> list[str]:
    """A recovered tree keeps references to entities nobody declared (`&egrave;` from a
    web form) as entity nodes, which the XSD validator cannot handle: each is replaced by
    its HTML character where it has one (what the author meant), else dropped."""
    import html.entities

    found = list(root.iter(etree.Entity))
    if not found:
        return []
    replaced = []
    for ent in found:
        name = ent.text or ""  # "&egrave;"
        char = html.entities.html5.get(name[1:], "") if name.endswith(";") else ""
        parent, previous = ent.getparent(), ent.getprevious()
        text = char + (ent.tail or "")
        if previous is not None:
            previous.tail = (previous.tail or "") + text
        else:
            parent.text = (parent.text or "") + text
        parent.remove(ent)
        replaced.append(f"{name} → {char!r}" if char else f"{name} dropped")
    shown = ", ".join(replaced[:_RECOVERED_SHOWN])
    more = (f" and {len(replaced) - _RECOVERED_SHOWN} more"
            if len(replaced) > _RECOVERED_SHOWN else "")
    return [f"{len(found)} undeclared entity reference(s) replaced: {shown}{more}"]


def _repaired_root(data: bytes) -> tuple[etree._Element | None, list[str]]:
    """A tree from bytes that are not well-formed: the byte-level repairs of `encoding`
    first, then the recovering parser on the repaired bytes. (None, repairs tried) when
    neither yields a FatturaPA root."""
    repaired, repairs = encoding.repair(data)
    root, _exc = _parse(repaired)
    if root is not None:
        return root, repairs or ["the XML needed libxml2-level repairs"]
    root, recovered = _recovered(repaired)
    return root, repairs + recovered


def read_invoice(
    data: bytes,
    *,
    file_name: str | None = None,
    lenient: bool = False,
    trust: TrustStore | None = None,
    received: date | None = None,
) -> InvoiceReport:
    """Read, validate and check one invoice file. Never raises on bad input.

    `file_name` enables check 00001; `received` is SdI's reception date for 00403 and the
    start dates of newer checks (default: today); `trust` judges the signer of a p7m or XAdES
    signature.
    """
    try:
        return _read(data, file_name, lenient, trust, received or date.today())
    except (MemoryError, RecursionError) as exc:
        return _unreadable(file_name, f"file too complex to read: {type(exc).__name__}")
    except Exception as exc:  # the last line of defence: one bad file never stops a batch
        # A bug of ours, not a verdict on the file: the text says so (`internal_error`), so
        # that tests and callers can tell it from a real "unreadable".
        return _unreadable(
            file_name, f"{INTERNAL_ERROR} ({type(exc).__name__}: {exc}); please report it"
        )


def _read(data, file_name, lenient, trust, received) -> InvoiceReport:
    if data.__class__ is not bytes:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return _unreadable(file_name, f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
    if len(data) > MAX_INPUT_BYTES:
        return _unreadable(file_name, f"file too large ({len(data)} bytes) for an invoice")

    # 1. container
    if data[:1] == b"<" and b"\x00" not in data[:8]:
        # plain XML: what `unwrap` concludes first for these bytes, without its call
        container, xml, signature, warnings = CONTAINER_XML, data, None, []
    else:
        try:
            unwrapped = unwrap(data, trust=trust)
        except ContainerError as exc:
            return _unreadable(file_name, str(exc), checks=[CheckResult(exc.code, str(exc))])
        container, xml, signature = unwrapped.container, unwrapped.xml, unwrapped.signature
        warnings = list(unwrapped.warnings)
    base = {"file_name": file_name, "container": container, "signature": signature}

    # 2. hostile constructs are refused before libxml2 sees them
    if encoding.has_doctype(xml):
        reason = (
            "refused: the XML carries a DOCTYPE/ENTITY declaration (FatturaPA has none; "
            "possible XXE or entity-expansion attack)"
        )
        return InvoiceReport(
            **base, xml=xml, error=reason, checks=(CheckResult("00200", reason),)
        )

    # 3. parse as received. Not well-formed: strict reading stops there (unreadable, exit 2,
    # whatever the cause: SdI refuses the file as it is), lenient reading repairs the bytes,
    # and as a last resort lets libxml2's recovering parser rebuild a tree.
    if lenient:
        xml_for_parse, fix = encoding.utf8_declared_single_byte(xml)
        if fix:
            warnings.append(fix)
        if xml_for_parse[1:2] != b"\x00":  # ASCII-compatible: UTF-16/32 are repaired below
            xml_for_parse, ns_fixes = encoding.fix_namespaces(xml_for_parse)
            warnings.extend(ns_fixes)
    else:
        xml_for_parse = xml
    root, exc = _parse(xml_for_parse)
    if root is None:
        syntax = _syntax_error(exc)
        root, repairs = _repaired_root(xml_for_parse)
        if root is None or not lenient:
            reason = syntax.message
            if root is not None:  # strict: say that a lenient read would get through
                notes = ["read leniently, the file can be repaired: " + "; ".join(repairs)]
                reason += " (a lenient read repairs it)"
            elif lenient and repairs:
                reason += " (even after repairs)"
                notes = repairs
            else:
                notes = []
            return InvoiceReport(
                **base,
                xml=xml,
                error=reason,
                schema_errors=(syntax,),
                warnings=tuple(warnings + notes),
                checks=(CheckResult("00200", f"file not conforming to the format: {reason}",
                                    None, syntax.line),),
            )
        warnings.extend(repairs)
    if not isinstance(root.tag, str):  # pragma: no cover - fromstring returns an element
        return _unreadable(file_name, "no root element", container=container)

    # an enveloped XAdES signature: verified on the tree as parsed, before lenient mode drops
    # foreign elements (its QualifyingProperties) or strips blanks (see `xades`)
    # No tree search when the bytes prove there is none: an ASCII-compatible file (not UTF-16
    # or UCS-4, whose second byte is NUL) without any character reference (`xmldsig&#35;`
    # spells the same namespace) that never names the xmldsig namespace.
    # The namespace first: most files declare it on the root (`xmlns:ds`, as SdI's examples
    # do), where the search stops at once, and then the root's few children are looked at,
    # rather than the whole file scanned for a "&#".
    if (xml[:1] == b"<" and xml[1:2] != b"\x00" and b"xmldsig#" not in xml
            and b"&#" not in xml):
        ds_signature = None
    else:
        ds_signature = next(root.iterchildren(_DS_SIGNATURE), None)
    xades = ds_signature is not None
    if xades and signature is None:
        from wpec_invoicing.fatturapa.xades import not_verified_warning as xades_not_verified
        from wpec_invoicing.fatturapa.xades import verify_signature as xades_verify

        signature, xades_warnings = xades_verify(root, ds_signature, trust=trust)
        base["signature"] = signature
        warnings.extend(xades_warnings)
        if signature.intact is None:
            warnings.append(xades_not_verified(signature))

    # 4. the schema (strict: on the file as received) and 5. the model. A file that passed
    # the XSD has the shape the schema promises, so its model is read by the one-walk
    # extractor; anything else (and anything that surprises it) by the tolerant one.
    if lenient:
        from wpec_invoicing.fatturapa.extract import extract

        warnings.extend(_unqualify(root))
        document, extract_warnings = extract(root)
        if document is None:
            return _not_an_invoice(base, xml, warnings, extract_warnings, root)
        warnings.extend(_drop_foreign(root))
        warnings.extend(_strip_values(root))
        _ns, schema_errors = schema.validate(root)
    else:
        _ns, schema_errors = schema.validate(root)
        document = None
        if not schema_errors and root.tag == _FATTURA_ORDINARIA:
            try:
                document, extract_warnings = extract_valid(root), []
            except Unexpected:
                document = None
        if document is None:
            from wpec_invoicing.fatturapa.extract import extract

            document, extract_warnings = extract(root)
            if document is None:
                return _not_an_invoice(base, xml, warnings, extract_warnings, root)
        if schema_errors:
            # say so when the only problem is blanks SdI tolerates (the model has stripped them).
            # In place on the tree as received: validation and the model are done with it, and
            # what follows only needs its element names and line numbers (no second parse).
            warnings.extend(_strip_values(root))
    warnings.extend(extract_warnings)

    # 6. SdI checks
    schema_errors = tuple(schema_errors)
    ctx = _make(CheckContext, {
        "received": received,
        "file_name": file_name,
        "size": len(data),
        "schema_errors": schema_errors,
        "signature": signature,
        "container": container,
        "xades": xades,
        "cache": {},
    })
    results = run_checks(document, ctx)
    if results:
        first_error_line = schema_errors[0].line if schema_errors else None
        results = tuple(
            CheckResult(
                r.code,
                r.message,
                r.path,
                r.line
                or (first_error_line if r.code == "00200" else None)
                or _locate(root, r.path),
            )
            for r in results
        )
    return _make(InvoiceReport, {
        "file_name": file_name,
        "container": container,
        "format": document.format if document.format in FORMATS else None,
        "signature": signature,
        "xml": xml,
        "document": document,
        "schema_valid": not schema_errors,
        "schema_errors": schema_errors,
        "checks": tuple(results),
        "warnings": tuple(warnings),
        "error": None,
        "lenient": lenient,
    })

