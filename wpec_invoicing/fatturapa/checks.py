"""The SdI checks (Elenco controlli) that can be decided locally, in ONE declarative table.

Each row: SdI code, what it checks, the function, the formats it applies to and, for rules
of a newer spec release, the reception date from which SdI applies it. A new spec release is
a reviewable diff of this file. Functions take the normalized document and a context and
yield (path, message) pairs; the reader turns paths into line numbers.

Not here because they need SdI's registers or history: 00002 (duplicate file name),
00101/00103/00104 (certificate status; the
signer's trust is reported in `signature.trusted`, not as a check: a caller's trust store
usually holds PEC providers' CAs, not the qualified signature CAs SdI knows),
00312, 00320, 00324–00326, 00404 (duplicate across files), 00477 (declaration of intent).
00100 (signing certificate expired) only where it can be decided honestly: with a trust
store, when the CMS verdict says the signer's OWN certificate had expired at the signing
time the signature carries. Without a trust store, or without a signing time, nothing is
claimed (an expiry "now" says nothing about a file signed years ago).
00300–00306 are checked for their local part only: syntax and check digit/character.

00102 and XAdES: enveloped XAdES signatures are verified like CAdES (.p7m) ones (see
`xades.py`): signature value, the reference to the whole document, the signed properties and
the signing certificate they name. A `ds:Signature` that is not even shaped like XAdES-BES, or
that does not verify (e.g. the invoice was modified after signing), is a broken signature
(00102), so an arbitrary element never satisfies FPA12's "must be signed". What cannot be
verified exactly here (an XPath transform, an unknown algorithm) is neither failed nor hidden:
`signature.intact` is None (null in JSON), a warning says "enveloped XAdES signature found but
not verified" with the reason, and the FPA12 counts as signed; callers that need certainty
require `signature.intact is True`.

Paths are the element paths of FatturaPA (`FatturaElettronicaBody[1]/DatiBeniServizi/
DettaglioLinee[2]/AliquotaIVA`), 1-based indexes on repeated elements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache

from wpec_invoicing.fatturapa.identifiers import is_valid_codice_fiscale, is_valid_partita_iva
from wpec_invoicing.fatturapa.model import Body, InvoiceDocument, Party
from wpec_invoicing.fatturapa.naming import is_valid_file_name
from wpec_invoicing.fatturapa.writer import line_total

ALL = ("FPA12", "FPR12", "FSM10")
ORD = ("FPA12", "FPR12")
SIMPLE = ("FSM10",)
ZERO = Decimal("0")
ONE_EURO = Decimal("1.00")
CENT = Decimal("0.01")
FSM_LIMIT = Decimal("400.00")
EU = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "GR", "HR",
    "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})

Finding = tuple[str, str]  # (path, message)

# Feature bits of a file (see `Check.when` and `_features`)
F_FILE_NAME = 1 << 0  # a file name was given (00001)
F_SIGNATURE = 1 << 1  # a signature, or an FPA12 that needs one (00102)
F_SCHEMA = 1 << 2  # XSD errors (00200)
F_XXXXXXX = 1 << 3  # CodiceDestinatario XXXXXXX (00313)
F_ZERO_NO_NATURA = 1 << 4  # a line/cassa at AliquotaIVA 0 without Natura (00400)
F_NATURA_WITH_RATE = 1 << 5  # a line/cassa with Natura and a rate, outside TD16 (00401)
F_LOTTO = 1 << 6  # more than one body (00409)
F_WITHHOLDING = 1 << 7  # a line with Ritenuta SI (00411)
F_CASSA = 1 << 8  # DatiCassaPrevidenziale (00413, 00414, 00415)
F_LINKED = 1 << 9  # linked documents (00418)
F_SUMMARY_NATURA = 1 << 10  # a DatiRiepilogo with Natura (00420, 00430)
F_SUMMARY_ZERO = 1 << 11  # a DatiRiepilogo at AliquotaIVA 0 (00429)
F_FRACTION_RATE = 1 << 12  # a rate between 0 and 1 (00424)
F_DOC_DISCOUNT = 1 << 13  # a document ScontoMaggiorazione (00437)
F_LINE_DISCOUNT = 1 << 14  # a line ScontoMaggiorazione (00438)
F_GENERIC_NATURA = 1 << 15  # Natura N2, N3 or N6 (00445)
F_SPECIAL_TYPE = 1 << 16  # a TipoDocumento with party rules (00471-00475)
F_SUMMARY_MISMATCH = 1 << 17  # rates/naturas of lines+cassa vs DatiRiepilogo (00419, 00443, 00444)
F_TOO_BIG = 1 << 18  # the file as received is over SdI's size limit (00003)

MAX_FILE_BYTES = 5 * 1024 * 1024  # SdI: a file (or zip) of at most 5 MB (00003)


@dataclass(frozen=True)
class CheckContext:
    """What a check may need besides the document."""

    received: date = field(default_factory=date.today)  # SdI's reception date
    file_name: str | None = None
    size: int | None = None  # bytes of the file as received (container included) for 00003
    schema_errors: tuple = ()  # SchemaError values (00200)
    signature: object | None = None  # SignatureVerdict or None (00102)
    container: str | None = None  # "xml", "p7m-der", "p7m-base64"
    xades: bool = False  # an enveloped ds:Signature in the XML (verified into `signature`)
    cache: dict = field(default_factory=dict, compare=False, repr=False)  # per-body facts


@dataclass(frozen=True)
class Check:
    code: str
    description: str
    func: Callable[[InvoiceDocument | None, CheckContext], Iterable[Finding]]
    formats: tuple[str, ...] = ALL
    start: date | None = None  # applied by SdI to files received on/after this date
    needs_document: bool = True
    # Feature bits (`_features`): the check can only find something in a file showing one of
    # them, so a file without any skips the call. 0: always called.
    when: int = 0


@dataclass(frozen=True)
class CheckResult:
    """One failed SdI check."""

    code: str
    message: str
    path: str | None = None
    line: int | None = None

    def to_json(self) -> dict:
        return {"code": self.code, "message": self.message, "path": self.path, "line": self.line}


# ---------------------------------------------------------------- helpers


def _bodies(doc: InvoiceDocument, ctx: CheckContext) -> list[tuple[str, Body]]:
    """(path, body) pairs, made once per read."""
    bodies = ctx.cache.get("bodies")
    if bodies is None:
        bodies = [(f"FatturaElettronicaBody[{i}]", b) for i, b in enumerate(doc.bodies, 1)]
        ctx.cache["bodies"] = bodies
    return bodies


def _dgd(bp: str) -> str:
    return f"{bp}/DatiGenerali/DatiGeneraliDocumento"


def _line_path(doc: InvoiceDocument, bp: str, i: int) -> str:
    if doc.format == "FSM10":
        return f"{bp}/DatiBeniServizi[{i}]"
    return f"{bp}/DatiBeniServizi/DettaglioLinee[{i}]"


def _is_zero(v: Decimal | None) -> bool:
    return v is not None and v == ZERO


def _nonzero(v: Decimal | None) -> bool:
    return v is not None and v != ZERO


def _same_party(a: Party, b: Party) -> bool:
    if a.vat and b.vat:
        return (a.vat.country, a.vat.code) == (b.vat.country, b.vat.code)
    if a.fiscal_code and b.fiscal_code:
        return a.fiscal_code.upper() == b.fiscal_code.upper()
    return False


def _customer_path(doc: InvoiceDocument) -> str:
    if doc.format == "FSM10":
        return "FatturaElettronicaHeader/CessionarioCommittente/IdentificativiFiscali"
    return "FatturaElettronicaHeader/CessionarioCommittente/DatiAnagrafici"


def _supplier_path(doc: InvoiceDocument) -> str:
    if doc.format == "FSM10":
        return "FatturaElettronicaHeader/CedentePrestatore"
    return "FatturaElettronicaHeader/CedentePrestatore/DatiAnagrafici"


# ---------------------------------------------------------------- file, signature, schema


def c00001(doc, ctx):
    if ctx.file_name is not None and not is_valid_file_name(ctx.file_name):
        return [(
            None,
            f"file name {ctx.file_name!r} is not <IdPaese><IdCodice>_<progressivo>"
            ".xml|.xml.p7m|.zip",
        )]
    return ()


def c00003(doc, ctx):
    if ctx.size is not None and ctx.size > MAX_FILE_BYTES:
        yield (
            None,
            f"file of {ctx.size} bytes is over SdI's limit of 5 MB ({MAX_FILE_BYTES} bytes)",
        )


def c00100(doc, ctx):
    sig = ctx.signature
    if sig is None or sig.intact is not True or sig.trusted is not False:
        return
    signer, reason = sig.signer, sig.reason or ""
    if (
        signer
        and sig.signing_time is not None
        and reason.startswith(f"certificate {signer!r} had expired at signing time")
    ):
        yield None, f"signing certificate expired at the signing time: {reason}"


def c00102(doc, ctx):
    sig = ctx.signature
    if sig is not None and getattr(sig, "present", False) and getattr(sig, "intact", None) is False:
        reason = getattr(sig, "reason", None) or "the signature does not verify"
        yield None, f"signature not valid: {reason}"
    if (
        doc is not None
        and doc.format == "FPA12"
        and ctx.container == "xml"
        and sig is None
        and not ctx.xades
    ):
        yield None, "an FPA12 invoice (to a public administration) must be signed: send it " \
            "as a CAdES .xml.p7m or with an XAdES signature"


def c00200(doc, ctx):
    if ctx.schema_errors:
        first = ctx.schema_errors[0]
        where = f" (line {first.line})" if first.line else ""
        more = len(ctx.schema_errors) - 1
        tail = f" (+{more} more)" if more > 0 else ""
        yield first.path, f"file not conforming to the format: {first.message}{where}{tail}"


# ---------------------------------------------------------------- identifiers (local part)


# The checks every file goes through return their findings (a list, or () for none)
# instead of yielding them: a generator per check and per file is measurable on the hot path.
# `run_checks` iterates either.


def c00300(doc, ctx):
    s = doc.transmission.sender
    if s.country == "IT" and not (is_valid_partita_iva(s.code) or is_valid_codice_fiscale(s.code)):
        return [(
            "FatturaElettronicaHeader/DatiTrasmissione/IdTrasmittente/IdCodice",
            f"IdTrasmittente IdCodice not valid: {s.code!r}",
        )]
    return ()


def _vat_check(party: Party, path: str, who: str):
    vat = party.vat
    if vat is not None and vat.country == "IT" and not is_valid_partita_iva(vat.code):
        return [(f"{path}/IdFiscaleIVA/IdCodice", f"{who} IdCodice not valid: {vat.code!r}")]
    return ()


def _cf_check(party: Party, path: str, who: str):
    if party.fiscal_code is not None and not is_valid_codice_fiscale(party.fiscal_code):
        return [(f"{path}/CodiceFiscale",
                 f"{who} CodiceFiscale not valid: {party.fiscal_code!r}")]
    return ()


def c00301(doc, ctx):
    return _vat_check(doc.supplier, _supplier_path(doc), "CedentePrestatore")


def c00302(doc, ctx):
    return _cf_check(doc.supplier, _supplier_path(doc), "CedentePrestatore")


def c00305(doc, ctx):
    return _vat_check(doc.customer, _customer_path(doc), "CessionarioCommittente")


def c00306(doc, ctx):
    return _cf_check(doc.customer, _customer_path(doc), "CessionarioCommittente")


_CD_PATH = "FatturaElettronicaHeader/DatiTrasmissione/CodiceDestinatario"
_CD_RE = re.compile(r"[A-Z0-9]{6,7}")


def c00311(doc, ctx):
    cd = doc.transmission.codice_destinatario
    if not _CD_RE.fullmatch(cd or ""):
        return [(_CD_PATH, f"CodiceDestinatario not valid: {cd!r}")]
    return ()


def c00313(doc, ctx):
    c = doc.customer
    resident = (c.vat is None or c.vat.country == "IT") and (
        c.address is None or c.address.country in ("IT", "")
    )
    if doc.transmission.codice_destinatario == "XXXXXXX" and resident:
        yield _CD_PATH, "CodiceDestinatario XXXXXXX is only for customers not resident in Italy"


def c00427(doc, ctx):
    cd = doc.transmission.codice_destinatario or ""
    fmt = doc.transmission.formato
    if (fmt == "FPA12" and len(cd) == 7) or (fmt in ("FPR12", "FSM10") and len(cd) == 6):
        return [(_CD_PATH,
                 f"CodiceDestinatario of {len(cd)} characters not allowed with {fmt}")]
    return ()


def c00428(doc, ctx):
    if doc.transmission.formato != doc.format:
        return [(
            "FatturaElettronicaHeader/DatiTrasmissione/FormatoTrasmissione",
            f"FormatoTrasmissione {doc.transmission.formato!r} inconsistent with "
            f"versione {doc.format!r}",
        )]
    return ()


# ---------------------------------------------------------------- content


def c00400(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        if not any(_is_zero(r) and not n for r, n in _used(b, ctx)):
            continue
        for i, ln in enumerate(b.lines, start=1):
            if _is_zero(ln.vat_rate) and not ln.natura:
                yield f"{_line_path(doc, bp, i)}/Natura", "Natura missing with AliquotaIVA 0.00"


def c00401(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        if b.document_type == "TD16" or not any(n and _nonzero(r) for r, n in _used(b, ctx)):
            continue
        for i, ln in enumerate(b.lines, start=1):
            if ln.natura and _nonzero(ln.vat_rate):
                yield (
                    f"{_line_path(doc, bp, i)}/Natura",
                    f"Natura {ln.natura} present with AliquotaIVA {ln.vat_rate}",
                )


def c00411(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        if _facts(b, ctx).withholding and not b.withholdings:
            yield f"{_dgd(bp)}/DatiRitenuta", "DatiRitenuta missing with a line having Ritenuta SI"


def _cassa_path(bp: str, i: int) -> str:
    return f"{_dgd(bp)}/DatiCassaPrevidenziale[{i}]"


def c00413(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        for i, pf in enumerate(b.pension_funds, start=1):
            if _is_zero(pf.vat_rate) and not pf.natura:
                yield f"{_cassa_path(bp, i)}/Natura", "cassa: Natura missing with AliquotaIVA 0.00"


def c00414(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        for i, pf in enumerate(b.pension_funds, start=1):
            if pf.natura and _nonzero(pf.vat_rate):
                yield (
                    f"{_cassa_path(bp, i)}/Natura",
                    f"cassa: Natura {pf.natura} present with AliquotaIVA {pf.vat_rate}",
                )


def c00415(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        if any(pf.withholding for pf in b.pension_funds) and not b.withholdings:
            yield f"{_dgd(bp)}/DatiRitenuta", "DatiRitenuta missing with cassa Ritenuta SI"


def c00417(doc, ctx):
    if doc.customer.vat is None and not doc.customer.fiscal_code:
        return [(_customer_path(doc), "customer has neither IdFiscaleIVA nor CodiceFiscale")]
    return ()


def c00418(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        if b.date is None:
            continue
        for ld in b.linked_documents:
            linked_invoice = ld.kind in ("DatiFattureCollegate", "DatiFatturaRettificata")
            if linked_invoice and ld.date and b.date < ld.date:
                yield (
                    f"{_dgd(bp)}/Data",
                    f"Data {b.date} is before the date {ld.date} of linked invoice {ld.id}",
                )


def c00403(doc, ctx):
    out = []
    for bp, b in _bodies(doc, ctx):
        if b.date is not None and b.date > ctx.received:
            out.append((f"{_dgd(bp)}/Data",
                        f"Data {b.date} is after the reception date {ctx.received}"))
    return out


class _Facts:
    """What several checks ask of a body's lines, gathered in one pass (a 200-line invoice
    would otherwise be walked a dozen times), with the body's feature bits (`Check.when`).
    Decimal compares by value, so 22, 22.0 and 22.00 are one key. A plain class with slots:
    built once per body per read, on the hot path."""

    __slots__ = ("discounts", "features", "sums", "withholding")

    def __init__(self, sums: dict, withholding: bool, discounts: bool, features: int):
        self.sums = sums  # (rate, natura) of lines and cassa → PrezzoTotale + contributo
        self.withholding = withholding  # a line has Ritenuta SI
        self.discounts = discounts  # a line has ScontoMaggiorazione
        self.features = features  # the body's F_* bits (see `_features`)


def _facts(b: Body, ctx: CheckContext) -> _Facts:
    key = ("facts", id(b))
    facts = ctx.cache.get(key)
    if facts is None:
        facts = ctx.cache[key] = _gather(b)
    return facts


def _rate_bits(rate, natura) -> int:
    """F_FRACTION_RATE and F_GENERIC_NATURA of one (rate, natura) of a line, cassa or
    DatiRiepilogo."""
    f = 0
    if rate is not None and ZERO < rate < ONE_EURO:
        f |= F_FRACTION_RATE
    if natura in _GENERIC_NATURA:
        f |= F_GENERIC_NATURA
    return f


def _gather(b: Body) -> _Facts:
    sums: dict = {}
    withholding = discounts = False
    get = sums.get
    for ln in b.lines:
        k = (ln.vat_rate, ln.natura)
        sums[k] = get(k, ZERO) + (ln.total_price or ZERO)
        if ln.withholding:
            withholding = True
        if ln.discounts:
            discounts = True
    for pf in b.pension_funds:
        k = (pf.vat_rate, pf.natura)
        sums[k] = get(k, ZERO) + (pf.amount or ZERO)
    # lists, not sets: a body has a handful of distinct rates; `in` compares by value
    f = 0
    summary_rates = []
    summary_naturas = []
    for sm in b.vat_summary:
        rate, natura = sm.rate, sm.natura
        summary_rates.append(rate)
        summary_naturas.append(natura)
        if natura:
            f |= F_SUMMARY_NATURA
        if rate is not None and rate == ZERO:
            f |= F_SUMMARY_ZERO
        f |= _rate_bits(rate, natura)
    used_rates = []
    not_td16 = b.document_type != "TD16"
    for rate, natura in sums:
        used_rates.append(rate)
        if natura:
            if rate is not None and rate != ZERO and not_td16:
                f |= F_NATURA_WITH_RATE
            if natura not in summary_naturas:
                f |= F_SUMMARY_MISMATCH  # a used Natura without its DatiRiepilogo (00444)
        elif rate is not None and rate == ZERO:
            f |= F_ZERO_NO_NATURA
        if rate is not None and rate not in summary_rates:
            f |= F_SUMMARY_MISMATCH  # a used rate without its DatiRiepilogo (00419)
        f |= _rate_bits(rate, natura)
    for rate in summary_rates:
        if rate is not None and rate not in used_rates:
            f |= F_SUMMARY_MISMATCH  # a DatiRiepilogo rate that nothing uses (00443)
    if withholding:
        f |= F_WITHHOLDING
    if discounts:
        f |= F_LINE_DISCOUNT
    if b.pension_funds:
        f |= F_CASSA
    if b.linked_documents:
        f |= F_LINKED
    if b.discounts:
        f |= F_DOC_DISCOUNT
    if b.document_type in _SPECIAL_TYPES:
        f |= F_SPECIAL_TYPE
    return _Facts(sums, withholding, discounts, f)


def _used(b: Body, ctx: CheckContext) -> set[tuple[Decimal | None, str | None]]:
    """The (rate, natura) pairs of lines and cassa."""
    return _facts(b, ctx).sums.keys()


def _sums(b: Body, ctx: CheckContext) -> dict[tuple[Decimal | None, str | None], Decimal]:
    """PrezzoTotale + ImportoContributoCassa per (rate, natura)."""
    return _facts(b, ctx).sums


def c00419(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        have = {s.rate for s in b.vat_summary}
        for rate in sorted({r for r, _ in _used(b, ctx) if r is not None} - have):
            yield (
                f"{bp}/DatiBeniServizi/DatiRiepilogo",
                f"DatiRiepilogo missing for AliquotaIVA {rate}",
            )


def c00443(doc, ctx):
    # SdI: "no correspondence" between rates of lines/cassa and of DatiRiepilogo. The direction
    # "a used rate has no DatiRiepilogo" is 00419; this one reports the other direction.
    for bp, b in _bodies(doc, ctx):
        used = {r for r, _ in _used(b, ctx)}
        for i, s in enumerate(b.vat_summary, start=1):
            if s.rate is not None and s.rate not in used:
                yield (
                    f"{bp}/DatiBeniServizi/DatiRiepilogo[{i}]/AliquotaIVA",
                    f"AliquotaIVA {s.rate} of DatiRiepilogo matches no line or cassa",
                )


def c00444(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        have = {s.natura for s in b.vat_summary if s.natura}
        for natura in sorted({n for _, n in _used(b, ctx) if n} - have):
            yield (
                f"{bp}/DatiBeniServizi/DatiRiepilogo",
                f"Natura {natura} of lines or cassa missing from DatiRiepilogo",
            )


def _summary_path(bp: str, i: int, leaf: str) -> str:
    return f"{bp}/DatiBeniServizi/DatiRiepilogo[{i}]/{leaf}"


def c00420(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        for i, s in enumerate(b.vat_summary, start=1):
            if s.natura and s.natura.startswith("N6") and s.esigibilita == "S":
                yield (
                    _summary_path(bp, i, "EsigibilitaIVA"),
                    f"Natura {s.natura} (reverse charge) with EsigibilitaIVA S (split payment)",
                )


def c00421(doc, ctx):
    out = []
    for bp, b in _bodies(doc, ctx):
        for i, s in enumerate(b.vat_summary, start=1):
            if s.rate is None or s.taxable is None or s.tax is None:
                continue
            expected = s.taxable * s.rate * CENT  # exact, as / 100 (and cheaper)
            if abs(expected - s.tax) > ONE_EURO:
                out.append((
                    _summary_path(bp, i, "Imposta"),
                    f"Imposta {s.tax} is not ImponibileImporto × AliquotaIVA / 100 "
                    f"= {expected.quantize(CENT)} (tolerance ±1.00)",
                ))
    return out


def c00422(doc, ctx):
    out = []
    for bp, b in _bodies(doc, ctx):
        for i, s in enumerate(b.vat_summary, start=1):
            if s.rate is None or s.taxable is None:
                continue
            total = _sums(b, ctx).get((s.rate, s.natura), ZERO)
            if s.expenses is not None:
                total += s.expenses
            if s.rounding is not None:
                total += s.rounding
            if abs(total - s.taxable) > ONE_EURO:
                out.append((
                    _summary_path(bp, i, "ImponibileImporto"),
                    f"ImponibileImporto {s.taxable} differs from the sum of lines and cassa "
                    f"for AliquotaIVA {s.rate}{' ' + s.natura if s.natura else ''}: "
                    f"{total.quantize(CENT)} (tolerance ±1.00)",
                ))
    return out


def c00423(doc, ctx):
    out = []
    for bp, b in _bodies(doc, ctx):
        for i, ln in enumerate(b.lines, start=1):
            if ln.unit_price is None or ln.total_price is None:
                continue
            if not ln.discounts:
                q = ln.quantity
                exact = ln.unit_price * q if q is not None else ln.unit_price
                if abs(exact - ln.total_price) <= CENT:
                    continue  # the common case, without rounding
            elif any(d.percentage is None and d.amount is None for d in ln.discounts):
                continue  # that is 00438
            expected = line_total(ln.unit_price, ln.quantity, ln.discounts)
            if abs(expected - ln.total_price) > CENT:
                out.append((
                    f"{_line_path(doc, bp, i)}/PrezzoTotale",
                    f"PrezzoTotale {ln.total_price} is not PrezzoUnitario × Quantita with "
                    f"discounts = {expected} (tolerance ±0.01)",
                ))
    return out


def _rates(doc: InvoiceDocument, bp: str, b: Body):
    """(path-maker, rate) of lines, cassa and summaries; paths are built only when used."""
    for i, ln in enumerate(b.lines, 1):
        yield (lambda i=i: _line_path(doc, bp, i)), ln.vat_rate, ln.natura
    for i, pf in enumerate(b.pension_funds, 1):
        yield (lambda i=i: _cassa_path(bp, i)), pf.vat_rate, pf.natura
    for i, s in enumerate(b.vat_summary, 1):
        yield (lambda i=i: f"{bp}/DatiBeniServizi/DatiRiepilogo[{i}]"), s.rate, s.natura


def c00424(doc, ctx):
    leaf = "DatiIVA/Aliquota" if doc.format == "FSM10" else "AliquotaIVA"
    for bp, b in _bodies(doc, ctx):
        if not _facts(b, ctx).features & F_FRACTION_RATE:
            continue
        for path, rate, _natura in _rates(doc, bp, b):
            if rate is not None and ZERO < rate < ONE_EURO:
                yield (
                    f"{path()}/{leaf}",
                    f"AliquotaIVA {rate} is not a percentage (22.00, not 0.22)",
                )


def _has_digit(text: str) -> bool:
    # str.isdigit, as SdI's "at least one numeric character"; compiled, a loop beats any()
    for ch in text:  # noqa: SIM110
        if ch.isdigit():
            return True
    return False


def c00425(doc, ctx):
    out = []
    for bp, b in _bodies(doc, ctx):
        if not _has_digit(b.number or ""):
            out.append((f"{_dgd(bp)}/Numero", f"Numero {b.number!r} contains no digit"))
    return out


def c00429(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        for i, s in enumerate(b.vat_summary, start=1):
            if _is_zero(s.rate) and not s.natura:
                yield (
                    _summary_path(bp, i, "Natura"),
                    "DatiRiepilogo: Natura missing with AliquotaIVA 0.00",
                )


def c00430(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        for i, s in enumerate(b.vat_summary, start=1):
            if s.natura and _nonzero(s.rate):
                yield (
                    _summary_path(bp, i, "Natura"),
                    f"DatiRiepilogo: Natura {s.natura} present with AliquotaIVA {s.rate}",
                )


def c00437(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        for i, d in enumerate(b.discounts, start=1):
            if d.percentage is None and d.amount is None:
                yield (
                    f"{_dgd(bp)}/ScontoMaggiorazione[{i}]",
                    "ScontoMaggiorazione with Tipo but neither Percentuale nor Importo",
                )


def c00438(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        if not _facts(b, ctx).discounts:
            continue
        for i, ln in enumerate(b.lines, start=1):
            for j, d in enumerate(ln.discounts, start=1):
                if d.percentage is None and d.amount is None:
                    yield (
                        f"{_line_path(doc, bp, i)}/ScontoMaggiorazione[{j}]",
                        "line ScontoMaggiorazione with Tipo but neither Percentuale nor Importo",
                    )


_GENERIC_NATURA = {"N2", "N3", "N6"}


def c00445(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        if not _facts(b, ctx).features & F_GENERIC_NATURA:
            continue
        for path, _rate, natura in _rates(doc, bp, b):
            if natura in _GENERIC_NATURA:
                yield (
                    f"{path()}/Natura",
                    f"generic Natura {natura} no longer allowed (use {natura}.x)",
                )


def c00460(doc, ctx):
    if doc.supplier.regime_fiscale in ("RF19", "RF20"):
        return
    for bp, b in _bodies(doc, ctx):
        total = sum((ln.total_price for ln in b.lines if ln.total_price is not None), ZERO)
        if total > FSM_LIMIT:
            yield (
                f"{bp}/DatiBeniServizi",
                f"simplified invoice total {total} over the limit of {FSM_LIMIT}",
            )


_NOT_SELF = {"TD16", "TD17", "TD18", "TD19", "TD20", "TD22", "TD23", "TD28"}
_MUST_SELF = {"TD21", "TD27"}
_NEEDS_CUSTOMER_VAT = {
    "TD16", "TD17", "TD18", "TD19", "TD20", "TD21", "TD22", "TD23", "TD27", "TD28"
}


# every TipoDocumento that 00471-00475 look at (their F_SPECIAL_TYPE precondition)
_SPECIAL_TYPES = frozenset(
    _NOT_SELF | _MUST_SELF | _NEEDS_CUSTOMER_VAT | {"TD17", "TD18", "TD19", "TD21", "TD28"}
)


def c00471(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        if b.document_type in _NOT_SELF and _same_party(doc.supplier, doc.customer):
            yield (
                f"{_dgd(bp)}/TipoDocumento",
                f"supplier and customer must differ for {b.document_type}",
            )


def c00472(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        if b.document_type in _MUST_SELF and not _same_party(doc.supplier, doc.customer):
            yield (
                f"{_dgd(bp)}/TipoDocumento",
                f"supplier and customer must be the same for {b.document_type}",
            )


def c00473(doc, ctx):
    country = doc.supplier.vat.country if doc.supplier.vat else None
    if country is None:
        return
    for _bp, b in _bodies(doc, ctx):
        t = b.document_type
        bad = (
            (t in ("TD17", "TD19") and country == "IT")
            or (t == "TD18" and (country == "IT" or country not in EU))
            or (t == "TD28" and country != "SM")
        )
        if bad:
            yield (
                f"{_supplier_path(doc)}/IdFiscaleIVA/IdPaese",
                f"supplier IdPaese {country} not allowed for {t}",
            )


def c00474(doc, ctx):
    for bp, b in _bodies(doc, ctx):
        if b.document_type == "TD21":
            for i, ln in enumerate(b.lines, start=1):
                if _is_zero(ln.vat_rate):
                    yield (
                        f"{_line_path(doc, bp, i)}/AliquotaIVA",
                        "TD21 does not allow lines with AliquotaIVA 0.00",
                    )


def c00475(doc, ctx):
    if doc.customer.vat is not None:
        return
    for _bp, b in _bodies(doc, ctx):
        if b.document_type in _NEEDS_CUSTOMER_VAT:
            yield (
                f"{_customer_path(doc)}/IdFiscaleIVA",
                f"{b.document_type} requires the customer's IdFiscaleIVA",
            )


def c00476(doc, ctx):
    s, c = doc.supplier, doc.customer
    s_country = s.vat.country if s.vat else "IT"
    c_country = c.vat.country if c.vat else "IT"
    if s_country != "IT" and c_country != "IT":
        return [(
            f"{_customer_path(doc)}/IdFiscaleIVA/IdPaese",
            f"supplier ({s_country}) and customer ({c_country}) cannot both be foreign",
        )]
    return ()


def c00409(doc, ctx):
    seen: dict[tuple, int] = {}
    for i, (bp, b) in enumerate(_bodies(doc, ctx), start=1):
        key = (b.document_type, b.number, b.date)
        if key in seen:
            yield (
                f"{_dgd(bp)}/Numero",
                f"duplicate invoice in the lotto: {b.document_type} {b.number} of {b.date} "
                f"is also body {seen[key]}",
            )
        else:
            seen[key] = i


# ---------------------------------------------------------------- the table

CHECKS: tuple[Check, ...] = (
    Check("00001", "file name not valid", c00001, needs_document=False, when=F_FILE_NAME),
    Check("00003", "file over 5 MB", c00003, needs_document=False, when=F_TOO_BIG),
    Check("00100", "signing certificate expired at the signing time (with a trust store)",
          c00100, needs_document=False, when=F_SIGNATURE),
    Check("00102", "signature not valid", c00102, needs_document=False,
          when=F_SIGNATURE),
    Check("00200", "file not conforming to the format (XSD)", c00200, needs_document=False,
          when=F_SCHEMA),
    Check("00300", "IdTrasmittente/IdCodice not valid (syntax/check digit)", c00300),
    Check("00301", "CedentePrestatore IdFiscaleIVA/IdCodice not valid (check digit)", c00301),
    Check("00302", "CedentePrestatore CodiceFiscale not valid (check character)", c00302),
    Check("00305", "CessionarioCommittente IdFiscaleIVA/IdCodice not valid (check digit)", c00305),
    Check("00306", "CessionarioCommittente CodiceFiscale not valid (check character)", c00306),
    Check("00311", "CodiceDestinatario not valid (syntax)", c00311),
    Check("00313", "CodiceDestinatario XXXXXXX only for non-resident customers", c00313,
          when=F_XXXXXXX),
    Check("00400", "line: Natura missing with AliquotaIVA 0", c00400, ORD,
          when=F_ZERO_NO_NATURA),
    Check("00401", "line: Natura present with AliquotaIVA not 0 (except TD16)", c00401, ORD,
          when=F_NATURA_WITH_RATE),
    Check("00403", "Data after the reception date", c00403),
    Check("00409", "duplicate invoice within the lotto", c00409, when=F_LOTTO),
    Check("00411", "DatiRitenuta missing with a line Ritenuta SI", c00411, ORD, when=F_WITHHOLDING),
    Check("00413", "cassa: Natura missing with AliquotaIVA 0", c00413, ORD, when=F_CASSA),
    Check("00414", "cassa: Natura present with AliquotaIVA not 0", c00414, ORD, when=F_CASSA),
    Check("00415", "DatiRitenuta missing with cassa Ritenuta SI", c00415, ORD, when=F_CASSA),
    Check("00417", "customer without IdFiscaleIVA and CodiceFiscale", c00417),
    Check("00418", "Data before the date of a linked invoice", c00418, when=F_LINKED),
    Check("00419", "DatiRiepilogo missing for an AliquotaIVA of lines or cassa", c00419, ORD,
          when=F_SUMMARY_MISMATCH),
    Check("00420", "Natura N6.x with EsigibilitaIVA S", c00420, ORD, when=F_SUMMARY_NATURA),
    Check("00421", "Imposta not computed per the rules", c00421, ORD),
    Check("00422", "ImponibileImporto not computed per the rules", c00422, ORD),
    Check("00423", "PrezzoTotale not computed per the rules", c00423, ORD),
    Check("00424", "AliquotaIVA not expressed as a percentage", c00424, when=F_FRACTION_RATE),
    Check("00425", "Numero without any digit", c00425),
    Check("00427", "CodiceDestinatario length inconsistent with FormatoTrasmissione", c00427),
    Check("00428", "FormatoTrasmissione inconsistent with versione", c00428),
    Check("00429", "DatiRiepilogo: Natura missing with AliquotaIVA 0", c00429, ORD,
          when=F_SUMMARY_ZERO),
    Check("00430", "DatiRiepilogo: Natura present with AliquotaIVA not 0", c00430, ORD,
          when=F_SUMMARY_NATURA),
    Check("00437", "ScontoMaggiorazione (document) without Percentuale and Importo", c00437, ORD,
          when=F_DOC_DISCOUNT),
    Check("00438", "ScontoMaggiorazione (line) without Percentuale and Importo", c00438, ORD,
          when=F_LINE_DISCOUNT),
    Check("00443", "AliquotaIVA of DatiRiepilogo not matching lines or cassa", c00443, ORD,
          when=F_SUMMARY_MISMATCH),
    Check("00444", "Natura of lines or cassa missing from DatiRiepilogo", c00444, ORD,
          when=F_SUMMARY_MISMATCH),
    Check("00445", "generic Natura N2, N3, N6 no longer allowed", c00445,
          start=date(2021, 1, 1), when=F_GENERIC_NATURA),
    Check("00460", "simplified invoice over the amount limit", c00460, SIMPLE),
    Check("00471", "supplier equal to customer not allowed for this TipoDocumento", c00471,
          when=F_SPECIAL_TYPE),
    Check("00472", "TD21/TD27 require supplier equal to customer", c00472, when=F_SPECIAL_TYPE),
    Check("00473", "supplier IdPaese not allowed for this TipoDocumento", c00473,
          when=F_SPECIAL_TYPE),
    Check("00474", "TD21 with lines at AliquotaIVA 0", c00474, ORD, when=F_SPECIAL_TYPE),
    Check("00475", "TipoDocumento requires the customer's IdFiscaleIVA", c00475,
          when=F_SPECIAL_TYPE),
    Check("00476", "supplier and customer both foreign", c00476),
)
CHECKS_BY_CODE = {c.code: c for c in CHECKS}


@lru_cache(maxsize=256)
def _applicable(fmt: str | None, received: date, features: int = -1) -> tuple[Check, ...]:
    """The checks to call for a format, a reception date and the file's feature bits (-1:
    all of them). Cached by those structural keys, never by content."""
    return tuple(
        c for c in CHECKS
        if (not c.needs_document or (fmt is not None and fmt in c.formats))
        and (c.start is None or received >= c.start)
        and (not c.when or c.when & features)
    )


def _features(doc: InvoiceDocument | None, ctx: CheckContext) -> int:
    """The feature bits of a file (see `Check.when`), from the per-body facts the checks
    share. Each bit is the exact precondition of its checks: without it they find nothing."""
    f = 0
    if ctx.file_name is not None:
        f |= F_FILE_NAME
    if ctx.signature is not None or (doc is not None and doc.format == "FPA12"):
        f |= F_SIGNATURE
    if ctx.schema_errors:
        f |= F_SCHEMA
    if ctx.size is not None and ctx.size > MAX_FILE_BYTES:
        f |= F_TOO_BIG
    if doc is None:
        return f
    if doc.transmission.codice_destinatario == "XXXXXXX":
        f |= F_XXXXXXX
    bodies = _bodies(doc, ctx)
    if len(bodies) > 1:
        f |= F_LOTTO
    for _bp, b in bodies:
        f |= _facts(b, ctx).features
    return f


def run_checks(doc: InvoiceDocument | None, ctx: CheckContext) -> list[CheckResult]:
    """Every applicable check of the table; a crashing check is reported, never raised.

    Checks whose preconditions (`Check.when`) the file does not show are not called: they
    could not find anything. Should the features themselves not compute (values the
    tolerant extraction could not convert), every check is called, as before."""
    try:
        features = _features(doc, ctx)
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        features = -1
    out: list[CheckResult] = []
    for check in _applicable(doc.format if doc is not None else None, ctx.received, features):
        try:
            for path, message in check.func(doc, ctx):
                out.append(CheckResult(check.code, message, path))
        except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            # A value the lenient extraction could not convert; the XSD errors say why.
            out.append(
                CheckResult(check.code, f"could not evaluate ({type(exc).__name__}: {exc})")
            )
    return out
