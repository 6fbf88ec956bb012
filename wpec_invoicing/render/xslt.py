"""Invoices through an XSL stylesheet: the tax agency's own (`--style ade`) or any other.

Why hardened: a stylesheet is a program. Given one from elsewhere (`--stylesheet FILE.xsl`),
it must not read the network, write files, or read files outside its own folder (its
`xsl:import`s and `document()` look-ups may stay there). libxslt's security preferences
(`XSLTAccessControl`) forbid network and writes; a resolver on the stylesheet's parser
refuses any file outside the folder. The invoice itself is parsed by the FatturaPA reader's
hardened parser (no DTD, no entities, no network).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import etree

from wpec_invoicing.errors import InputError
from wpec_invoicing.fatturapa.schema import hardened_parser
from wpec_invoicing.resources import data_dir

# The agency's stylesheets, unmodified (data/stylesheets/PROVENANCE.md), by FatturaPA format.
ADE_STYLESHEETS = {
    "FPA12": "FatturaPA_v1.2.3.xsl",
    "FPR12": "FatturaOrdinaria_v1.2.3.xsl",
    "FSM10": "FatturaSemplificata_v1.0.2.xsl",
}
MAX_STYLESHEET_BYTES = 5 * 1024 * 1024


def ade_stylesheet(fmt: str | None) -> Path:
    """The agency's stylesheet for an invoice format (FPA12 / FPR12 / FSM10)."""
    name = ADE_STYLESHEETS.get(fmt or "")
    if name is None:
        raise InputError(f"no tax agency stylesheet for format {fmt!r} "
                         f"(known: {', '.join(ADE_STYLESHEETS)})")
    return data_dir() / "stylesheets" / name


class _FolderResolver(etree.Resolver):
    """Resolves files inside one folder; anything else resolves to an empty document."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder.resolve()
        self.refused: list[str] = []

    def resolve(self, system_url, public_id, context):
        url = system_url or ""
        parts = urlsplit(url)
        if parts.scheme in ("", "file"):
            path = Path(unquote(parts.path))
            if not path.is_absolute():
                path = self.folder / path
            path = path.resolve()
            if path.is_relative_to(self.folder) and path.is_file():
                return self.resolve_filename(str(path), context)
        self.refused.append(url[:300])
        return self.resolve_string("<refused/>", context)


ACCESS = etree.XSLTAccessControl(read_file=True, write_file=False, create_dir=False,
                                 read_network=False, write_network=False)


@cache
def _compiled(path: str, mtime_ns: int) -> tuple[etree.XSLT, _FolderResolver]:
    source = Path(path)
    resolver = _FolderResolver(source.parent)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False)
    parser.resolvers.add(resolver)
    try:
        data = source.read_bytes()
        if len(data) > MAX_STYLESHEET_BYTES:
            raise InputError(f"stylesheet {source}: too large ({len(data)} bytes)")
        tree = etree.fromstring(data, parser, base_url=source.resolve().as_uri())
        return etree.XSLT(tree, access_control=ACCESS), resolver
    except OSError as exc:
        raise InputError(f"cannot read stylesheet {source}: {exc.strerror or exc}") from exc
    except (etree.XMLSyntaxError, etree.XSLTParseError) as exc:
        raise InputError(f"stylesheet {source} is not a usable XSLT: {exc}") from exc


def apply_stylesheet(xml: bytes, stylesheet: Path) -> str:
    """The HTML a stylesheet makes of an invoice's XML (the bytes inside any p7m)."""
    try:
        mtime = stylesheet.stat().st_mtime_ns
    except OSError as exc:
        raise InputError(f"cannot read stylesheet {stylesheet}: {exc.strerror or exc}") from exc
    transform, _resolver = _compiled(str(stylesheet.resolve()), mtime)
    try:
        document = etree.fromstring(xml, hardened_parser())
        result = transform(document)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"the invoice XML cannot be parsed for the stylesheet: {exc}") from exc
    except etree.XSLTApplyError as exc:
        raise InputError(f"stylesheet {stylesheet.name} failed: {exc}") from exc
    return str(result)
