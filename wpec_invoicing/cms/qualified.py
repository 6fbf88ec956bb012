"""Qualified certificates: read the QcStatements extension (ETSI EN 319 412-5).

Why: an Italian accounts office needs to know whether a supplier signed with a *qualified*
certificate (the eIDAS level that gives a signature the legal value of a handwritten one).
The certificate says so in its QcStatements extension: `QcCompliance` (issued as qualified),
`QcSSCD` (the key lives in a qualified signature creation device) and `QcType` (e-signature,
e-seal, web). cryptography does not decode this extension, so asn1crypto reads it here.

Pure: a certificate in, a small value out; a damaged extension reads as "no statements".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asn1crypto import core

QC_STATEMENTS = "1.3.6.1.5.5.7.1.3"
QC_COMPLIANCE = "0.4.0.1862.1.1"
QC_SSCD = "0.4.0.1862.1.4"
QC_TYPE = "0.4.0.1862.1.6"
QC_TYPES = {
    "0.4.0.1862.1.6.1": "esign",
    "0.4.0.1862.1.6.2": "eseal",
    "0.4.0.1862.1.6.3": "web",
}


class _QcStatement(core.Sequence):
    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("statement_id", core.ObjectIdentifier),
        ("statement_info", core.Any, {"optional": True}),
    ]


class _QcStatements(core.SequenceOf):
    _child_spec = _QcStatement


class _QcTypes(core.SequenceOf):
    _child_spec = core.ObjectIdentifier


@dataclass(frozen=True)
class QcInfo:
    """What a certificate's QcStatements say (all False/empty when it has none)."""

    compliance: bool = False
    sscd: bool = False
    types: tuple[str, ...] = ()

    @property
    def qualified(self) -> bool:
        """A qualified certificate: the CA declares it issued as such (QcCompliance)."""
        return self.compliance

    def to_json(self) -> dict[str, Any]:
        return {"qc_compliance": self.compliance, "qc_sscd": self.sscd,
                "qc_types": list(self.types)}


def qc_info(asn1_cert: Any) -> QcInfo:
    """The QcStatements of an asn1crypto certificate (never raises)."""
    try:
        extensions = asn1_cert["tbs_certificate"]["extensions"]
        if extensions.native is None:
            return QcInfo()
        for ext in extensions:
            if ext["extn_id"].dotted != QC_STATEMENTS:
                continue
            raw = ext["extn_value"].contents  # OCTET STRING wrapping the DER
            return _parse(raw)
    except Exception:  # noqa: S110 - a broken extension says nothing
        pass
    return QcInfo()


def _parse(raw: bytes) -> QcInfo:
    statements = _QcStatements.load(raw)
    compliance = sscd = False
    types: list[str] = []
    for statement in statements:
        oid = statement["statement_id"].dotted
        if oid == QC_COMPLIANCE:
            compliance = True
        elif oid == QC_SSCD:
            sscd = True
        elif oid == QC_TYPE:
            info = statement["statement_info"]
            if info.native is not None:
                for type_oid in _QcTypes.load(info.dump()):
                    types.append(QC_TYPES.get(type_oid.dotted, type_oid.dotted))
    return QcInfo(compliance=compliance, sscd=sscd, types=tuple(types))


def qc_statements_der(*, compliance: bool = True, sscd: bool = True,
                      types: tuple[str, ...] = ("esign",)) -> bytes:
    """The DER of a QcStatements extension value (to issue test and sandbox certificates)."""
    by_name = {v: k for k, v in QC_TYPES.items()}
    items = []
    if compliance:
        items.append(_QcStatement({"statement_id": QC_COMPLIANCE}))
    if sscd:
        items.append(_QcStatement({"statement_id": QC_SSCD}))
    if types:
        oids = _QcTypes([by_name[t] for t in types])
        items.append(_QcStatement({"statement_id": QC_TYPE,
                                   "statement_info": core.Any.load(oids.dump())}))
    return _QcStatements(items).dump()


__all__ = ["QcInfo", "qc_info", "qc_statements_der"]
