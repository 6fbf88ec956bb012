"""Stage 1: the raw message into the archive and the store, before anything else happens.

The archive is content-addressed (sha256) and fsynced; the record is keyed by the same hash,
so storing the same bytes twice (a re-import, a retry, another folder) gives the same record.
The sync stores its batches itself (with their server locations) and then runs the rest of
the pipeline; the importer calls this for each `.eml`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wpec_invoicing.store.models import Message


def store_raw_message(session: Session, archive: Any, raw: bytes, *,
                      source: str) -> tuple[Message, bool]:
    """Archive `raw` and return its record (created=True when new)."""
    digest = archive.put(raw)
    msg = session.scalar(select(Message).where(Message.sha256 == digest))
    if msg is not None:
        return msg, False
    msg = Message(sha256=digest, size=len(raw), status="archived", source=source)
    session.add(msg)
    session.flush()
    return msg, True
