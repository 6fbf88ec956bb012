"""A message the sandbox provider took in charge: the facts every receipt about it repeats.

A module of its own because both the provider (which takes messages in) and the notice
builder (`pecmail`, which the provider calls) need it: here, neither imports the other's
caller. May import: `sandbox.accounts`, the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from wpec_invoicing.sandbox.accounts import Gestore


@dataclass(frozen=True)
class Submission:
    """A message the provider took in charge: the facts every receipt about it repeats."""

    identificativo: str
    sender: str
    recipients: tuple[str, ...]
    raw: bytes
    message_id: str | None
    subject: str
    timestamp: datetime
    receipt_type: str
    gestore: Gestore
    # Recipients whose INBOX got the envelope (filled in as deliveries happen).
    delivered: list[str] = field(default_factory=list, compare=False)
