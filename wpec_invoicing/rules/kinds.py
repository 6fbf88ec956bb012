"""Rule kinds: what kind of message this is for the rules, and which rule applies to it.

The rule *kind* of a message is its PEC kind, or `sdi-invoice` / `sdi-notification` when
SdI's payload is inside, or a plugin document type (entry point group
`wpec_invoicing.doctypes`). The kind's rule is `[rules.kinds.<kind>]` from the config, else the
plugin's default rule, else the defaults below.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

SDI_INVOICE = "sdi-invoice"
SDI_NOTIFICATION = "sdi-notification"

# Out of the box: keep a readable copy of certified mail and anomalies (header, body, files),
# file SdI invoices for the accounting software (the invoice + its metadata, and hand them to
# the exporters), keep only header and text of ordinary mail (its attachments come from
# anyone), leave receipts and SdI notifications alone (the outbox follows them; the archive
# keeps every byte). Nothing is moved or flagged unless configured. A kind configured in
# wpec.toml replaces its default entirely.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "posta-certificata": {"save": ["header", "body", "attachments"]},
    "anomalia": {"save": ["header", "body", "attachments"]},
    "non-pec": {"save": ["header", "body"]},
    SDI_INVOICE: {"save": ["header", "attachments"], "export": True},
}

_DOCTYPES: list[Any] | None = None


def doctypes() -> list[Any]:
    """Plugin document types: objects with `name`, `recognize(pec, raw) -> bool` and optional
    `default_rule` (dict like a `[rules.kinds.x]` table) and `process(ctx) -> str | None`."""
    global _DOCTYPES
    if _DOCTYPES is None:
        from importlib.metadata import entry_points

        found = []
        for ep in entry_points(group="wpec_invoicing.doctypes"):
            try:
                obj = ep.load()
                found.append(obj() if isinstance(obj, type) else obj)
            except Exception as exc:  # a broken plugin must not stop the sync
                log.error("document type plugin %s cannot be loaded: %s", ep.name, exc)
        _DOCTYPES = found
    return _DOCTYPES


def register_doctype(doctype: Any) -> None:
    """Add a document type at run time (tests, embedding applications)."""
    doctypes().append(doctype)


def rule_kind(pec: Any, raw: bytes) -> tuple[str, Any]:
    """The rule kind of a message (and the plugin doctype when one recognised it)."""
    for doctype in doctypes():
        try:
            if doctype.recognize(pec, raw):
                return doctype.name, doctype
        except Exception as exc:
            log.warning("document type %s failed to recognise: %s", doctype.name, exc)
    sdi = getattr(pec, "sdi", None)
    if sdi is not None:
        return (SDI_INVOICE if sdi.kind == "invoice" else SDI_NOTIFICATION), None
    kind = getattr(pec, "kind", "non-pec")
    return str(getattr(kind, "value", kind)), None


def effective_rule(config: Any, kind: str, doctype: Any = None) -> Any:
    """The rule of `kind`: the configured one, else the plugin's default, else ours."""
    from wpec_invoicing.config import KindRule

    kinds = config.rules.kinds
    if kind in kinds:
        return kinds[kind]
    if doctype is not None and getattr(doctype, "default_rule", None):
        return KindRule.model_validate(doctype.default_rule)
    return _default_rule(kind)


@functools.lru_cache(maxsize=64)
def _default_rule(kind: str) -> Any:
    """Our default rule of `kind`, validated once (twice a message otherwise, in a sync).
    Shared: callers only read a rule."""
    from wpec_invoicing.config import KindRule

    return KindRule.model_validate(DEFAULT_RULES.get(kind, {}))


def rule_for_stored(config: Any, kind: str | None) -> Any:
    """The rule of an already classified message (its kind may be a plugin's)."""
    doctype = next((d for d in doctypes() if d.name == kind), None)
    return effective_rule(config, kind or "non-pec", doctype)
