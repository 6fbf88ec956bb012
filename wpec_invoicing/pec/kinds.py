"""The vocabulary of PEC: message kinds, their headers and their usual Subject prefixes.

One table, shared by the reader (classification) and the builder, so both speak alike.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a message in a PEC box is (names as in daticert `tipo`, plus the two extra ones)."""

    POSTA_CERTIFICATA = "posta-certificata"
    ANOMALIA = "anomalia"
    ACCETTAZIONE = "accettazione"
    NON_ACCETTAZIONE = "non-accettazione"
    PRESA_IN_CARICO = "presa-in-carico"
    AVVENUTA_CONSEGNA = "avvenuta-consegna"
    ERRORE_CONSEGNA = "errore-consegna"
    PREAVVISO_ERRORE_CONSEGNA = "preavviso-errore-consegna"
    RILEVAZIONE_VIRUS = "rilevazione-virus"
    NON_PEC = "non-pec"

    @property
    def is_receipt(self) -> bool:
        """A provider receipt or notice (answers a message that was sent)."""
        return self not in (Kind.POSTA_CERTIFICATA, Kind.ANOMALIA, Kind.NON_PEC)


RECEIPT_KINDS = frozenset(k for k in Kind if k.is_receipt)

# daticert `tipo` values (everything but anomalia / non-pec)
DATICERT_TIPI = frozenset(k.value for k in Kind if k not in (Kind.ANOMALIA, Kind.NON_PEC))

# Subject prefixes the providers write (Italian, upper case). Longest first: "AVVISO DI MANCATA
# CONSEGNA PER SUP. TEMPO MASSIMO: " must win over "AVVISO DI MANCATA CONSEGNA: ".
SUBJECT_PREFIX: dict[Kind, str] = {
    Kind.POSTA_CERTIFICATA: "POSTA CERTIFICATA: ",
    Kind.ANOMALIA: "ANOMALIA MESSAGGIO: ",
    Kind.ACCETTAZIONE: "ACCETTAZIONE: ",
    Kind.NON_ACCETTAZIONE: "AVVISO DI NON ACCETTAZIONE: ",
    Kind.PRESA_IN_CARICO: "PRESA IN CARICO: ",
    Kind.AVVENUTA_CONSEGNA: "CONSEGNA: ",
    Kind.ERRORE_CONSEGNA: "AVVISO DI MANCATA CONSEGNA: ",
    Kind.PREAVVISO_ERRORE_CONSEGNA: "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: ",
    Kind.RILEVAZIONE_VIRUS: "AVVISO DI RILEVAZIONE VIRUS: ",
}
# Variants seen or plausible from other providers, mapped to the kind they announce.
_EXTRA_PREFIXES: dict[str, Kind] = {
    "AVVISO DI MANCATA CONSEGNA PER SUPERAMENTO TEMPO MASSIMO: ": Kind.PREAVVISO_ERRORE_CONSEGNA,
    "PREAVVISO DI MANCATA CONSEGNA: ": Kind.PREAVVISO_ERRORE_CONSEGNA,
    "AVVENUTA CONSEGNA: ": Kind.AVVENUTA_CONSEGNA,
    "NON ACCETTAZIONE: ": Kind.NON_ACCETTAZIONE,
    "ERRORE DI CONSEGNA: ": Kind.ERRORE_CONSEGNA,
}
PREFIXES: list[tuple[str, Kind]] = sorted(
    [(p, k) for k, p in SUBJECT_PREFIX.items()] + list(_EXTRA_PREFIXES.items()),
    key=lambda item: -len(item[0]),
)


def kind_from_subject(subject: str) -> Kind | None:
    """The kind a Subject prefix announces (case-insensitive), or None."""
    upper = subject.lstrip().upper()
    for prefix, kind in PREFIXES:
        if upper.startswith(prefix):
            return kind
    return None


def strip_prefix(subject: str) -> str:
    """The Subject with ONE known prefix removed (prefixes can be doubled: keep the second)."""
    stripped = subject.lstrip()
    upper = stripped.upper()
    for prefix, _kind in PREFIXES:
        if upper.startswith(prefix):
            return stripped[len(prefix) :]
        if upper.startswith(prefix.rstrip()) and len(stripped) == len(prefix.rstrip()):
            return ""
    return subject
