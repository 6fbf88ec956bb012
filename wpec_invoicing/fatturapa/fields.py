"""The invoice described once: each model field, the element it is read from, its type, and
the SdI checks that judge it.

Three readers build the model (`model.py`) from a parsed file, and all three are driven by
this map, so a new spec release is one edit here:

- `extract.py`, the tolerant reader (any file: local names, comments inside values, values
  that do not convert become None with a warning), interprets `GROUPS` at import time;
- `extract_valid.py`, the one-walk reader of XSD-valid FPA12/FPR12 files (the fast path),
  interprets the same groups over `treewalk.walk`'s dicts;
- its compiled twin (`_native.pyx`) includes C functions that `fieldgen.py` generates from
  this map when the accelerators are built (`make native`, setup.py), one per group.

This module imports nothing but the standard library: setup.py loads it from its file to
generate the compiled readers before the package is installed.

A group reads one element into one model class; its fields name a path below that element
(local names joined by "/"; intermediate elements are containers the schema requires) and a
kind (see `KINDS`). A field of the model that no entry names keeps its dataclass default
(e.g. `Line.vat_amount`, read by FSM10 only). `checks` lists the SdI codes (`checks.CHECKS`)
that judge the field's value: documentation a reviewer reads next to the field, and a test
keeps it honest (every code exists; every check of a document names a field).
"""

from __future__ import annotations

from dataclasses import dataclass

# Kinds of value. A leaf's text is always stripped of surrounding blanks; blank is missing.
KINDS = {
    "text": "the text, None when missing",
    "str": "the text, '' when missing",
    "upper": "the text upper-cased, '' when missing",
    "dec": "a Decimal (finite), None when missing",
    "date": "a date from the first 10 characters, None when missing",
    "int": "an int, None when missing",
    "number": "an int the schema requires (NumeroLinea)",
    "si": "True when the text is SI (any case)",
    "texts": "a tuple of the text of every occurrence, blanks skipped",
    "digits": "a tuple of int of every occurrence that is all digits",
    "b64": "bytes, the base64-decoded text (blanks inside ignored)",
    "attr": "an attribute of the group's own element (path '@name'), stripped, '' when missing",
    "tag": "the local name of the group's own element (path '.')",
    "position": "the 1-based position of the group's element among its repeats (path '.')",
    "one": "the group `group` read from the element, None when missing",
    "required": "the group `group` read from the element, which the schema requires",
    "many": "a tuple of `group` read from every occurrence; 'A|B' reads A's then B's",
    "flag": "the group `group` (no fields) when the element says SI, else None",
}


@dataclass(frozen=True)
class Field:
    """One model field: where it is read from, as what, and which SdI checks judge it."""

    name: str
    path: str
    kind: str
    group: str | None = None
    checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    """One element read into one model class (`model.<model>`)."""

    model: str
    fields: tuple[Field, ...]


F = Field
LINKED_TAGS = "DatiOrdineAcquisto|DatiContratto|DatiConvenzione|DatiRicezione|DatiFattureCollegate"
_VAT_CHECKS = ("00301", "00305", "00417", "00471", "00472", "00473", "00474", "00475")
_RATE_CHECKS = ("00400", "00401", "00419", "00424", "00443", "00445")
_NATURA_CHECKS = ("00400", "00401", "00419", "00444", "00445")

GROUPS: dict[str, Group] = {
    # ---------------------------------------------------------------- shared by the formats
    "vat": Group("VatId", (
        F("country", "IdPaese", "upper", checks=("00301", "00305", "00313")),
        F("code", "IdCodice", "str", checks=("00300", "00301", "00305")),
    )),
    "address": Group("Address", (
        F("street", "Indirizzo", "str"),
        F("postal_code", "CAP", "str"),
        F("city", "Comune", "str"),
        F("country", "Nazione", "str", checks=("00313",)),
        F("number", "NumeroCivico", "text"),
        F("province", "Provincia", "text"),
    )),
    "transmission": Group("Transmission", (
        F("sender", "IdTrasmittente", "required", "vat", checks=("00300",)),
        F("progressivo", "ProgressivoInvio", "str"),
        F("codice_destinatario", "CodiceDestinatario", "str",
          checks=("00311", "00313", "00427")),
        F("formato", "FormatoTrasmissione", "str", checks=("00427", "00428")),
        F("pec_destinatario", "PECDestinatario", "text"),
    )),
    "attachment": Group("Attachment", (
        F("name", "NomeAttachment", "str"),
        F("data", "Attachment", "b64"),
        F("compression", "AlgoritmoCompressione", "text"),
        F("format", "FormatoAttachment", "text"),
        F("description", "DescrizioneAttachment", "text"),
    )),
    # ---------------------------------------------------------------- FPA12 / FPR12
    "document": Group("InvoiceDocument", (
        F("format", "@versione", "attr", checks=("00428",)),
        F("transmission", "FatturaElettronicaHeader/DatiTrasmissione", "required",
          "transmission"),
        F("supplier", "FatturaElettronicaHeader/CedentePrestatore", "required", "supplier"),
        F("customer", "FatturaElettronicaHeader/CessionarioCommittente", "required",
          "customer"),
        F("bodies", "FatturaElettronicaBody", "many", "body", checks=("00409",)),
    )),
    "supplier": Group("Party", (
        F("vat", "DatiAnagrafici/IdFiscaleIVA", "one", "vat", checks=_VAT_CHECKS),
        F("fiscal_code", "DatiAnagrafici/CodiceFiscale", "text", checks=("00302",)),
        F("company_name", "DatiAnagrafici/Anagrafica/Denominazione", "text"),
        F("first_name", "DatiAnagrafici/Anagrafica/Nome", "text"),
        F("last_name", "DatiAnagrafici/Anagrafica/Cognome", "text"),
        F("address", "Sede", "one", "address"),
        F("regime_fiscale", "DatiAnagrafici/RegimeFiscale", "text"),
    )),
    "customer": Group("Party", (
        F("vat", "DatiAnagrafici/IdFiscaleIVA", "one", "vat", checks=_VAT_CHECKS),
        F("fiscal_code", "DatiAnagrafici/CodiceFiscale", "text",
          checks=("00306", "00417", "00471", "00472")),
        F("company_name", "DatiAnagrafici/Anagrafica/Denominazione", "text"),
        F("first_name", "DatiAnagrafici/Anagrafica/Nome", "text"),
        F("last_name", "DatiAnagrafici/Anagrafica/Cognome", "text"),
        F("address", "Sede", "one", "address", checks=("00313",)),
    )),
    "body": Group("Body", (
        F("document_type", "DatiGenerali/DatiGeneraliDocumento/TipoDocumento", "str",
          checks=("00401", "00471", "00472", "00473", "00474", "00475", "00476")),
        F("currency", "DatiGenerali/DatiGeneraliDocumento/Divisa", "str"),
        F("date", "DatiGenerali/DatiGeneraliDocumento/Data", "date",
          checks=("00403", "00418", "00409")),
        F("number", "DatiGenerali/DatiGeneraliDocumento/Numero", "str",
          checks=("00425", "00409")),
        F("lines", "DatiBeniServizi/DettaglioLinee", "many", "line"),
        F("vat_summary", "DatiBeniServizi/DatiRiepilogo", "many", "vat_summary"),
        F("total", "DatiGenerali/DatiGeneraliDocumento/ImportoTotaleDocumento", "dec"),
        F("rounding", "DatiGenerali/DatiGeneraliDocumento/Arrotondamento", "dec"),
        F("causale", "DatiGenerali/DatiGeneraliDocumento/Causale", "texts"),
        F("withholdings", "DatiGenerali/DatiGeneraliDocumento/DatiRitenuta", "many",
          "withholding", checks=("00411", "00415")),
        F("pension_funds", "DatiGenerali/DatiGeneraliDocumento/DatiCassaPrevidenziale",
          "many", "pension_fund"),
        F("stamp_duty", "DatiGenerali/DatiGeneraliDocumento/DatiBollo", "one", "stamp_duty"),
        F("discounts", "DatiGenerali/DatiGeneraliDocumento/ScontoMaggiorazione", "many",
          "discount", checks=("00437",)),
        F("payments", "DatiPagamento", "many", "payment"),
        F("linked_documents", f"DatiGenerali/{LINKED_TAGS}", "many", "linked_document",
          checks=("00418",)),
        F("attachments", "Allegati", "many", "attachment"),
    )),
    "line": Group("Line", (
        F("number", "NumeroLinea", "number"),
        F("description", "Descrizione", "str"),
        F("total_price", "PrezzoTotale", "dec", checks=("00423", "00422")),
        F("vat_rate", "AliquotaIVA", "dec", checks=_RATE_CHECKS),
        F("unit_price", "PrezzoUnitario", "dec", checks=("00423",)),
        F("quantity", "Quantita", "dec", checks=("00423",)),
        F("unit", "UnitaMisura", "text"),
        F("natura", "Natura", "text", checks=_NATURA_CHECKS),
        F("withholding", "Ritenuta", "si", checks=("00411",)),
        F("discounts", "ScontoMaggiorazione", "many", "discount", checks=("00438", "00423")),
        F("codes", "CodiceArticolo", "many", "article_code"),
        F("period_start", "DataInizioPeriodo", "date"),
        F("period_end", "DataFinePeriodo", "date"),
    )),
    "discount": Group("Discount", (
        F("kind", "Tipo", "str"),
        F("percentage", "Percentuale", "dec", checks=("00437", "00438")),
        F("amount", "Importo", "dec", checks=("00437", "00438")),
    )),
    "article_code": Group("ArticleCode", (
        F("kind", "CodiceTipo", "str"),
        F("value", "CodiceValore", "str"),
    )),
    "vat_summary": Group("VatSummary", (
        F("rate", "AliquotaIVA", "dec", checks=("00419", "00424", "00429", "00430", "00443")),
        F("taxable", "ImponibileImporto", "dec", checks=("00422",)),
        F("tax", "Imposta", "dec", checks=("00421",)),
        F("natura", "Natura", "text", checks=("00420", "00429", "00430", "00444", "00445")),
        F("esigibilita", "EsigibilitaIVA", "text", checks=("00420",)),
        F("legal_reference", "RiferimentoNormativo", "text"),
        F("expenses", "SpeseAccessorie", "dec", checks=("00422",)),
        F("rounding", "Arrotondamento", "dec", checks=("00421", "00422")),
    )),
    "linked_document": Group("LinkedDocument", (
        F("kind", ".", "tag"),
        F("id", "IdDocumento", "str"),
        F("date", "Data", "date", checks=("00418",)),
        F("line_numbers", "RiferimentoNumeroLinea", "digits"),
        F("num_item", "NumItem", "text"),
        F("codice_commessa", "CodiceCommessaConvenzione", "text"),
        F("cup", "CodiceCUP", "text"),
        F("cig", "CodiceCIG", "text"),
    )),
    "payment": Group("Payment", (
        F("conditions", "CondizioniPagamento", "str"),
        F("details", "DettaglioPagamento", "many", "payment_detail"),
    )),
    "payment_detail": Group("PaymentDetail", (
        F("method", "ModalitaPagamento", "str"),
        F("amount", "ImportoPagamento", "dec"),
        F("due_date", "DataScadenzaPagamento", "date"),
        F("iban", "IBAN", "text"),
        F("bic", "BIC", "text"),
        F("bank_name", "IstitutoFinanziario", "text"),
        F("beneficiary", "Beneficiario", "text"),
        F("term_days", "GiorniTerminiPagamento", "int"),
    )),
    "withholding": Group("Withholding", (
        F("kind", "TipoRitenuta", "str"),
        F("amount", "ImportoRitenuta", "dec"),
        F("rate", "AliquotaRitenuta", "dec"),
        F("causale_pagamento", "CausalePagamento", "str"),
    )),
    "pension_fund": Group("PensionFund", (
        F("kind", "TipoCassa", "str"),
        F("rate", "AlCassa", "dec"),
        F("amount", "ImportoContributoCassa", "dec"),
        F("vat_rate", "AliquotaIVA", "dec", checks=("00413", "00414", "00419", "00443")),
        F("taxable", "ImponibileCassa", "dec"),
        F("withholding", "Ritenuta", "si", checks=("00415",)),
        F("natura", "Natura", "text", checks=("00413", "00414", "00444", "00445")),
    )),
    "stamp_duty": Group("StampDuty", (
        F("amount", "ImportoBollo", "dec"),
    )),
    # ---------------------------------------------------------------- FSM10 (tolerant reader)
    "document_fsm": Group("InvoiceDocument", (
        F("format", "@versione", "attr", checks=("00428",)),
        F("transmission", "FatturaElettronicaHeader/DatiTrasmissione", "required",
          "transmission"),
        F("supplier", "FatturaElettronicaHeader/CedentePrestatore", "required",
          "supplier_fsm"),
        F("customer", "FatturaElettronicaHeader/CessionarioCommittente", "required",
          "customer_fsm"),
        F("bodies", "FatturaElettronicaBody", "many", "body_fsm", checks=("00409",)),
    )),
    "supplier_fsm": Group("Party", (
        F("vat", "IdFiscaleIVA", "one", "vat", checks=_VAT_CHECKS),
        F("fiscal_code", "CodiceFiscale", "text", checks=("00302",)),
        F("company_name", "Denominazione", "text"),
        F("first_name", "Nome", "text"),
        F("last_name", "Cognome", "text"),
        F("address", "Sede", "one", "address"),
        F("regime_fiscale", "RegimeFiscale", "text"),
    )),
    "customer_fsm": Group("Party", (
        F("vat", "IdentificativiFiscali/IdFiscaleIVA", "one", "vat", checks=_VAT_CHECKS),
        F("fiscal_code", "IdentificativiFiscali/CodiceFiscale", "text",
          checks=("00306", "00417")),
        F("company_name", "AltriDatiIdentificativi/Denominazione", "text"),
        F("first_name", "AltriDatiIdentificativi/Nome", "text"),
        F("last_name", "AltriDatiIdentificativi/Cognome", "text"),
        F("address", "AltriDatiIdentificativi/Sede", "one", "address", checks=("00313",)),
    )),
    "body_fsm": Group("Body", (
        F("document_type", "DatiGenerali/DatiGeneraliDocumento/TipoDocumento", "str",
          checks=("00471", "00472", "00473", "00474", "00475", "00476")),
        F("currency", "DatiGenerali/DatiGeneraliDocumento/Divisa", "str"),
        F("date", "DatiGenerali/DatiGeneraliDocumento/Data", "date",
          checks=("00403", "00418", "00409")),
        F("number", "DatiGenerali/DatiGeneraliDocumento/Numero", "str",
          checks=("00425", "00409")),
        F("lines", "DatiBeniServizi", "many", "line_fsm", checks=("00460",)),
        F("stamp_duty", "DatiGenerali/DatiGeneraliDocumento/BolloVirtuale", "flag",
          "stamp_duty_fsm"),
        F("linked_documents", "DatiGenerali/DatiFatturaRettificata", "many",
          "linked_document_fsm", checks=("00418",)),
        F("attachments", "Allegati", "many", "attachment"),
    )),
    "line_fsm": Group("Line", (
        F("number", ".", "position"),
        F("description", "Descrizione", "str"),
        F("total_price", "Importo", "dec", checks=("00460",)),
        F("vat_rate", "DatiIVA/Aliquota", "dec", checks=("00424", "00445")),
        F("vat_amount", "DatiIVA/Imposta", "dec", checks=("00460",)),
        F("natura", "Natura", "text", checks=("00445",)),
        F("legal_reference", "RiferimentoNormativo", "text"),
    )),
    "linked_document_fsm": Group("LinkedDocument", (
        F("kind", ".", "tag"),
        F("id", "NumeroFR", "str"),
        F("date", "DataFR", "date", checks=("00418",)),
        F("description", "ElementiRettificati", "text"),
    )),
    "stamp_duty_fsm": Group("StampDuty", ()),
}

# The group each root element is read with.
ROOT_GROUPS = {"FatturaElettronica": "document",
               "FatturaElettronicaSemplificata": "document_fsm"}


def containers(path: str) -> tuple[str, ...]:
    """The intermediate elements of a path (all but the last step)."""
    return tuple(path.split("/")[:-1])


def leaf(path: str) -> str:
    """The last step of a path: the element (or elements, 'A|B') a field is read from."""
    return path.rpartition("/")[2]
