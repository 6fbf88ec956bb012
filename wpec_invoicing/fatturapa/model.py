"""The normalized invoice: what accounting software needs, without knowing FatturaPA.

One model serves the three formats (FPA12, FPR12 ordinary invoices; FSM10 simplified ones).
Values are immutable (frozen dataclasses, tuples) so a document can be shared, hashed into
sets and compared: the writer/reader round trip is checked with plain `==`.
Money, rates and quantities are `Decimal` (never float); dates are `datetime.date`.
Official FatturaPA codes (TipoDocumento, Natura, RegimeFiscale, ModalitaPagamento…) are kept
as the official strings: they are what every accountant and every other tool speaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

FORMATS = ("FPA12", "FPR12", "FSM10")

NAMESPACE_ORDINARIA = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"
NAMESPACE_SEMPLIFICATA = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.0"


@dataclass(frozen=True)
class VatId:
    """IdFiscaleIVA: country (IdPaese) + code (IdCodice)."""

    country: str
    code: str

    def __str__(self) -> str:
        return f"{self.country}{self.code}"


@dataclass(frozen=True)
class Address:
    """Sede / StabileOrganizzazione."""

    street: str  # Indirizzo
    postal_code: str  # CAP
    city: str  # Comune
    country: str = "IT"  # Nazione
    number: str | None = None  # NumeroCivico
    province: str | None = None  # Provincia


@dataclass(frozen=True)
class Party:
    """CedentePrestatore (supplier) or CessionarioCommittente (customer).

    A company has `company_name` (Denominazione); a person `first_name` + `last_name`
    (Nome + Cognome). `regime_fiscale` is meaningful for the supplier only.
    """

    vat: VatId | None = None
    fiscal_code: str | None = None
    company_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    address: Address | None = None
    regime_fiscale: str | None = None

    @property
    def name(self) -> str:
        if self.company_name:
            return self.company_name
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class Transmission:
    """DatiTrasmissione: who transmits, the sequence number, where SdI delivers."""

    sender: VatId  # IdTrasmittente
    progressivo: str  # ProgressivoInvio
    codice_destinatario: str
    formato: str  # FormatoTrasmissione: FPA12 / FPR12 / FSM10
    pec_destinatario: str | None = None


@dataclass(frozen=True)
class Discount:
    """ScontoMaggiorazione: kind "SC" (discount) or "MG" (surcharge)."""

    kind: str
    percentage: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True)
class ArticleCode:
    """CodiceArticolo: e.g. ("EAN", "8001234567890")."""

    kind: str
    value: str


@dataclass(frozen=True)
class Line:
    """DettaglioLinee (FPA12/FPR12) or one DatiBeniServizi (FSM10).

    For FSM10 only `description`, `total_price` (Importo), `vat_rate` (Aliquota, optional),
    `vat_amount` (Imposta) and `natura` exist; `unit_price` is None.
    """

    number: int
    description: str
    total_price: Decimal  # PrezzoTotale (FSM10: Importo)
    vat_rate: Decimal | None  # AliquotaIVA (FSM10: DatiIVA/Aliquota)
    unit_price: Decimal | None = None  # PrezzoUnitario
    quantity: Decimal | None = None
    unit: str | None = None  # UnitaMisura
    natura: str | None = None
    withholding: bool = False  # Ritenuta = SI
    discounts: tuple[Discount, ...] = ()
    codes: tuple[ArticleCode, ...] = ()
    period_start: date | None = None
    period_end: date | None = None
    vat_amount: Decimal | None = None  # FSM10 only: DatiIVA/Imposta
    legal_reference: str | None = None  # FSM10 only: RiferimentoNormativo


@dataclass(frozen=True)
class VatSummary:
    """DatiRiepilogo: one per VAT rate (and Natura)."""

    rate: Decimal
    taxable: Decimal  # ImponibileImporto
    tax: Decimal  # Imposta
    natura: str | None = None
    esigibilita: str | None = None  # I / D / S
    legal_reference: str | None = None  # RiferimentoNormativo
    expenses: Decimal | None = None  # SpeseAccessorie
    rounding: Decimal | None = None  # Arrotondamento


@dataclass(frozen=True)
class Withholding:
    """DatiRitenuta."""

    kind: str  # TipoRitenuta RT01…RT06
    amount: Decimal
    rate: Decimal
    causale_pagamento: str


@dataclass(frozen=True)
class PensionFund:
    """DatiCassaPrevidenziale."""

    kind: str  # TipoCassa TC01…TC22
    rate: Decimal  # AlCassa
    amount: Decimal  # ImportoContributoCassa
    vat_rate: Decimal  # AliquotaIVA
    taxable: Decimal | None = None  # ImponibileCassa
    withholding: bool = False
    natura: str | None = None


@dataclass(frozen=True)
class StampDuty:
    """DatiBollo (FSM10: BolloVirtuale only, so `amount` is None)."""

    amount: Decimal | None = None


@dataclass(frozen=True)
class PaymentDetail:
    """DettaglioPagamento."""

    method: str  # ModalitaPagamento MP01…MP23
    amount: Decimal
    due_date: date | None = None
    iban: str | None = None
    bic: str | None = None
    bank_name: str | None = None  # IstitutoFinanziario
    beneficiary: str | None = None
    term_days: int | None = None


@dataclass(frozen=True)
class Payment:
    """DatiPagamento: conditions TP01 (instalments), TP02 (full), TP03 (advance)."""

    conditions: str
    details: tuple[PaymentDetail, ...]


LINKED_KINDS = (
    "DatiOrdineAcquisto",
    "DatiContratto",
    "DatiConvenzione",
    "DatiRicezione",
    "DatiFattureCollegate",
)


@dataclass(frozen=True)
class LinkedDocument:
    """Orders, contracts, conventions, receptions, linked invoices (DatiDocumentiCorrelati).

    For FSM10 the corrected invoice (DatiFatturaRettificata) is kind "DatiFatturaRettificata"
    with `description` = ElementiRettificati.
    """

    kind: str
    id: str  # IdDocumento
    date: date | None = None
    line_numbers: tuple[int, ...] = ()
    num_item: str | None = None
    codice_commessa: str | None = None
    cup: str | None = None
    cig: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Attachment:
    """Allegati, decoded."""

    name: str
    data: bytes = field(repr=False)
    compression: str | None = None
    format: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Body:
    """FatturaElettronicaBody: one invoice (a file may carry several: a "lotto")."""

    document_type: str  # TipoDocumento
    currency: str  # Divisa
    date: date
    number: str
    lines: tuple[Line, ...]
    vat_summary: tuple[VatSummary, ...] = ()  # FSM10: always empty
    total: Decimal | None = None  # ImportoTotaleDocumento
    rounding: Decimal | None = None
    causale: tuple[str, ...] = ()
    withholdings: tuple[Withholding, ...] = ()
    pension_funds: tuple[PensionFund, ...] = ()
    stamp_duty: StampDuty | None = None
    discounts: tuple[Discount, ...] = ()
    payments: tuple[Payment, ...] = ()
    linked_documents: tuple[LinkedDocument, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    def computed_total(self) -> Decimal:
        """Total as a reader would recompute it: taxable + tax (FSM10: sum of Importo)."""
        if not self.vat_summary:
            return sum((ln.total_price for ln in self.lines), Decimal("0"))
        return sum(
            (s.taxable + s.tax for s in self.vat_summary), Decimal("0")
        ) + (self.rounding or Decimal("0"))


@dataclass(frozen=True)
class InvoiceDocument:
    """A whole FatturaPA file: header (transmission, parties) and one or more bodies."""

    format: str  # the root's versione: FPA12 / FPR12 / FSM10
    transmission: Transmission
    supplier: Party
    customer: Party
    bodies: tuple[Body, ...]

    @property
    def simplified(self) -> bool:
        return self.format == "FSM10"


_SPECS: dict[type, tuple[dict, frozenset]] = {}


def fast_new(cls: type, /, **values):
    """Build a model value without its dataclass `__init__` (a frozen init costs ~10x more:
    one `object.__setattr__` per field) — the reader builds thousands of values per file.
    The result is indistinguishable from `cls(**values)` (fields, equality, hash, repr);
    unknown or missing fields raise TypeError as `__init__` would."""
    spec = _SPECS.get(cls)
    if spec is None:
        from dataclasses import MISSING, fields

        spec = (
            {f.name: f.default for f in fields(cls) if f.default is not MISSING},
            frozenset(f.name for f in fields(cls)),
        )
        _SPECS[cls] = spec
    obj = object.__new__(cls)
    d = obj.__dict__
    d.update(spec[0])
    d.update(values)
    if d.keys() != spec[1]:
        raise TypeError(f"{cls.__name__}: wrong fields {sorted(d.keys() ^ spec[1])}")
    return obj


def field_defaults(cls: type) -> tuple[dict, frozenset[str]]:
    """A model class's fields that have a default ({name: default}, in field order) and the
    names of those that have none: what a reader driven by `fields.GROUPS` starts from
    and must fill."""
    from dataclasses import MISSING, fields

    every = fields(cls)
    return ({f.name: f.default for f in every if f.default is not MISSING},
            frozenset(f.name for f in every if f.default is MISSING))
