"""The core tables (migration `0001_core`): messages, where they sit on servers, folder sync
state, received invoices with their lines, suppliers, export bookkeeping, the rule action log
and quarantined attachments.

Why a message is keyed by the sha256 of its raw bytes and its server positions live in a
separate table: the same message met twice (a re-run, a UIDVALIDITY change, a copy in two
folders, an .eml imported by hand) is one record with several locations, never two records.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wpec_invoicing.store.db import Base, utcnow


class Message(Base):
    """One raw message, archived under `sha256`, with what the PEC engine made of it."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    # archived → processed | error. "archived" means the bytes are safe but rules did not run.
    status: Mapped[str] = mapped_column(String(16), default="archived", index=True)
    kind: Mapped[str | None] = mapped_column(String(40), index=True)
    subject: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(320))
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    ref_message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    identificativo: Mapped[str | None] = mapped_column(String(998), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(16), default="imap")  # imap | import
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSON)  # PecMessage.to_json() (no bytes)

    locations: Mapped[list[MessageLocation]] = relationship(back_populates="message")


class MessageLocation(Base):
    """Where a message sits (or sat) on a server: account, folder, UIDVALIDITY, UID."""

    __tablename__ = "message_locations"
    __table_args__ = (UniqueConstraint("account", "folder", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"),
                                            index=True)
    account: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set once a server action took this copy away (moved/deleted): the location is history.
    gone: Mapped[bool] = mapped_column(Boolean, default=False)

    message: Mapped[Message] = relationship(back_populates="locations")


class FolderState(Base):
    """Sync position per account and folder: new mail is UID > last_uid under uidvalidity."""

    __tablename__ = "folder_states"
    __table_args__ = (UniqueConstraint("account", "folder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RuleAction(Base):
    """The log of what rules did (or must still do) with a message.

    Server actions (move/flag) are written here as `pending` in the same transaction as the
    processing result and performed afterwards; a crash in between leaves a pending row the
    next run completes, so no server action ever happens before the message is committed.
    """

    __tablename__ = "rule_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"),
                                            index=True)
    action: Mapped[str] = mapped_column(String(40))  # save, move, flag, export, auto_reply…
    target: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="done", index=True)
    detail: Mapped[str | None] = mapped_column(Text)
    location_id: Mapped[int | None] = mapped_column(
        ForeignKey("message_locations.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class QuarantinedAttachment(Base):
    """An attachment refused by the accepted-formats allow-list (kept in the archive only)."""

    __tablename__ = "quarantined_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    declared_type: Mapped[str | None] = mapped_column(String(200))
    sniffed_type: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Supplier(Base):
    """The supplier registry: `known` or `blocked`; anyone absent is `unknown` (to review)."""

    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vat: Mapped[str | None] = mapped_column(String(40), unique=True)  # IdPaese+IdCodice
    fiscal_code: Mapped[str | None] = mapped_column(String(20), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="known")  # known | blocked
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReceivedInvoice(Base):
    """A supplier invoice file (XML or p7m) received by PEC or imported, kept byte-for-byte."""

    __tablename__ = "received_invoices"
    __table_args__ = (
        Index("ix_received_invoices_dupkey", "supplier_vat", "number", "invoice_date",
              "document_type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # pec | import
    source_path: Mapped[str | None] = mapped_column(Text)
    identificativo_sdi: Mapped[str | None] = mapped_column(String(64), index=True)
    metadata_file_name: Mapped[str | None] = mapped_column(Text)
    metadata_sha256: Mapped[str | None] = mapped_column(String(64))
    # What the FatturaPA engine read (first body for a lotto; `bodies` counts them).
    readable: Mapped[bool] = mapped_column(Boolean, default=False)
    valid: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[str | None] = mapped_column(String(10))
    supplier_vat: Mapped[str | None] = mapped_column(String(40), index=True)
    supplier_fiscal_code: Mapped[str | None] = mapped_column(String(20))
    supplier_name: Mapped[str | None] = mapped_column(Text)
    customer_vat: Mapped[str | None] = mapped_column(String(40))
    customer_fiscal_code: Mapped[str | None] = mapped_column(String(20))
    customer_name: Mapped[str | None] = mapped_column(Text)
    document_type: Mapped[str | None] = mapped_column(String(8))
    number: Mapped[str | None] = mapped_column(String(40))
    invoice_date: Mapped[date | None] = mapped_column(Date)
    currency: Mapped[str | None] = mapped_column(String(3))
    total: Mapped[Decimal | None] = mapped_column(Numeric(18, 2, asdecimal=True))
    taxable: Mapped[Decimal | None] = mapped_column(Numeric(18, 2, asdecimal=True))
    tax: Mapped[Decimal | None] = mapped_column(Numeric(18, 2, asdecimal=True))
    bodies: Mapped[int] = mapped_column(Integer, default=1)
    # Verdict: verified | needs-review | refused, with the reasons (codes + text).
    status: Mapped[str] = mapped_column(String(16), index=True)
    reasons: Mapped[list | None] = mapped_column(JSON)
    duplicate_of: Mapped[int | None] = mapped_column(
        ForeignKey("received_invoices.id", ondelete="SET NULL"))
    signature: Mapped[dict | None] = mapped_column(JSON)  # p7m signature verdict
    envelope_signature: Mapped[dict | None] = mapped_column(JSON)  # PEC envelope verdict
    report: Mapped[dict | None] = mapped_column(JSON)  # InvoiceReport.to_json()
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                  index=True)

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", cascade="all, delete-orphan", order_by="InvoiceLine.id")


class InvoiceLine(Base):
    """DettaglioLinee of a received invoice (all bodies), for the CSV line export."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("received_invoices.id", ondelete="CASCADE"), index=True)
    body_index: Mapped[int] = mapped_column(Integer, default=0)
    line_number: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(21, 8, asdecimal=True))
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(21, 8, asdecimal=True))
    total: Mapped[Decimal | None] = mapped_column(Numeric(21, 8, asdecimal=True))
    vat_rate: Mapped[Decimal | None] = mapped_column(Numeric(6, 2, asdecimal=True))
    natura: Mapped[str | None] = mapped_column(String(8))

    invoice: Mapped[ReceivedInvoice] = relationship(back_populates="lines")


class ExportRecord(Base):
    """Bookkeeping: invoice X went to exporter Y (once, unless asked again)."""

    __tablename__ = "exports"
    __table_args__ = (UniqueConstraint("exporter", "invoice_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exporter: Mapped[str] = mapped_column(String(200))
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("received_invoices.id", ondelete="CASCADE"), index=True)
    exported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    detail: Mapped[str | None] = mapped_column(Text)
