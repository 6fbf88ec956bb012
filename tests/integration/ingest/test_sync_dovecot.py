"""Sync against a real Dovecot: archive, classify, rules, idempotency, server actions."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from tests.integration.ingest.conftest import append, folder_contents, make_config, open_store
from wpec_invoicing.mailbox.sync import Mailbox
from wpec_invoicing.store.archive import sha256_hex
from wpec_invoicing.store.models import (
    Message,
    MessageLocation,
    QuarantinedAttachment,
    ReceivedInvoice,
    RuleAction,
)


def _imap(dovecot_server, account) -> dict:
    _login, password = account
    return {"host": "127.0.0.1", "port": dovecot_server.imaps_port,
            "ca_file": str(dovecot_server.ca_path), "password": password}


def test_sync_archives_classifies_and_is_idempotent(dovecot_server, mailbox, factory,
                                                     db_url, tmp_path: Path) -> None:
    login, password = mailbox
    messages = factory.mixed(14)
    messages.append(messages[0])  # the same bytes twice on the server → one record
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           messages)
    config = make_config(
        tmp_path, db_url=db_url, imap=_imap(dovecot_server, mailbox), login=login,
        ca_pem=factory.ca_pem,
        extra={"rules": {"kinds": {
            "accettazione": {"move_to": "PEC/Ricevute"},
            "avvenuta-consegna": {"move_to": "PEC/Ricevute", "flag": ["\\Seen"]},
            "sdi-invoice": {"save": ["attachments"], "flag": ["$Fattura"]},
            "posta-certificata": {"save": ["header", "body", "attachments"]},
        }}})
    store = open_store(config)
    try:
        result = Mailbox(config, config.account(), store).sync()
        assert result.archived == 14 and result.known == 1
        assert result.errors == 0 and result.invoices == 2
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Message)) == 14
            assert s.scalar(select(func.count()).select_from(MessageLocation)) == 15
            kinds = {k: n for k, n in s.execute(
                select(Message.kind, func.count()).group_by(Message.kind))}
            assert kinds == {"sdi-invoice": 2, "accettazione": 2, "avvenuta-consegna": 2,
                             "sdi-notification": 2, "anomalia": 2, "posta-certificata": 2,
                             "non-pec": 2}
            for msg in s.scalars(select(Message)):
                assert store.archive.get(msg.sha256) and msg.status == "processed"
                assert msg.error is None  # every observer (the outbox's too) was happy
            invoices = list(s.scalars(select(ReceivedInvoice)))
            assert len(invoices) == 2
            # The supplier is not in the registry yet: each invoice waits for a human.
            assert {i.status for i in invoices} == {"needs-review"}
            assert all(r["code"] == "supplier-unknown" for i in invoices for r in i.reasons)
            assert all(i.identificativo_sdi and i.envelope_signature["trusted"]
                       for i in invoices)
        # Server side: receipts moved, invoices flagged, nothing else touched, nothing \Seen
        # by reading (BODY.PEEK).
        boxes = folder_contents("127.0.0.1", dovecot_server.imaps_port,
                                dovecot_server.ca_path, login, password)
        assert len(boxes["PEC/Ricevute"]) == 4
        assert len(boxes["INBOX"]) == 11
        flagged = [raw for raw, flags in boxes["INBOX"] if b"$Fattura" in flags]
        assert len(flagged) == 3  # two invoices, one of them present twice
        seen_inbox = [f for _r, f in boxes["INBOX"] if b"\\Seen" in f]
        assert seen_inbox == []
        # Saved files: the invoice files (not the MT only) under the save folder.
        saved = sorted(p.name for p in (config.rules.save_dir).rglob("*.xml"))
        invoices_saved = [n for n in saved if n.startswith("IT01234567897_") and "_MT_" not in n]
        assert len(invoices_saved) == 2
        certified = config.rules.save_dir / "posta-certificata"
        header = next(certified.rglob("header.json"))
        assert json.loads(header.read_text())["kind"] == "posta-certificata"
        assert any(p.name == "contratto.pdf" for p in certified.rglob("*"))
        assert any(p.name == "body.txt" for p in certified.rglob("*"))

        # Second sync: nothing new, no body fetched, nothing changes.
        again = Mailbox(config, config.account(), store).sync()
        assert again.bodies_fetched == 0 and again.archived == 0 and again.server_actions == 0
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Message)) == 14
            pending = s.scalar(select(func.count()).select_from(RuleAction).where(
                RuleAction.status == "pending"))
            assert pending == 0
    finally:
        store.close()


def test_sync_of_the_moved_copy_adds_a_location_not_a_record(dovecot_server, mailbox,
                                                             factory, tmp_path: Path) -> None:
    login, password = mailbox
    receipt = factory.receipt()
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           [receipt])
    imap = _imap(dovecot_server, mailbox)
    config = make_config(tmp_path, imap=imap, login=login, extra={"rules": {"kinds": {
        "avvenuta-consegna": {"move_to": "Ricevute"}}}})
    store = open_store(config)
    try:
        Mailbox(config, config.account(), store).sync()
        both = config.account().model_copy(update={"folders": ["INBOX", "Ricevute"]})
        result = Mailbox(config, both, store).sync()
        assert result.archived == 0 and result.known == 1
        with store.session() as s:
            msg = s.scalar(select(Message))
            assert msg.sha256 == sha256_hex(receipt)
            locations = {(loc.folder, loc.gone) for loc in msg.locations}
            assert locations == {("INBOX", True), ("Ricevute", False)}
    finally:
        store.close()


def test_hostile_attachment_is_quarantined_not_saved(dovecot_server, mailbox, factory,
                                                     tmp_path: Path) -> None:
    login, password = mailbox
    exe = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200
    raw = factory.certified(subject="Fattura", attachments=[
        ("fattura.pdf", "application/pdf", exe),
        ("../../../etc/cron.d/x.pdf", "application/pdf", b"%PDF-1.4\nok\n"),
        ("script.exe", "application/octet-stream", exe)])
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           [raw])
    config = make_config(tmp_path, imap=_imap(dovecot_server, mailbox), login=login)
    store = open_store(config)
    try:
        assert Mailbox(config, config.account(), store).sync().quarantined == 2
        with store.session() as s:
            q = {(a.file_name, a.reason) for a in s.scalars(select(QuarantinedAttachment))}
        assert {name for name, _ in q} == {"fattura.pdf", "script.exe"}
        saved = [p for p in config.rules.save_dir.rglob("*") if p.is_file()]
        names = {p.name for p in saved}
        assert "fattura.pdf" not in names and "script.exe" not in names
        assert "x.pdf" in names  # the traversal name lost its path
        assert all(p.resolve().is_relative_to(config.rules.save_dir.resolve()) for p in saved)
        assert (config.quarantine_dir).exists()
    finally:
        store.close()


def test_big_messages_are_streamed_byte_exact(dovecot_server, mailbox, factory, tmp_path: Path,
                                              monkeypatch) -> None:
    from wpec_invoicing.mailbox import sync as sync_module

    # Shrink the thresholds so ordinary messages take the ranged path (many ranges each).
    monkeypatch.setattr(sync_module, "STREAM_ABOVE_BYTES", 1000)
    monkeypatch.setattr(sync_module, "STREAM_CHUNK_BYTES", 997)
    login, password = mailbox
    messages = [factory.sdi_invoice(), factory.plain(body="x" * 5000), factory.receipt()]
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           messages)
    config = make_config(tmp_path, imap=_imap(dovecot_server, mailbox), login=login)
    store = open_store(config)
    try:
        box = Mailbox(config, config.account(), store)
        ranges = []
        real = sync_module.ImapConnection.fetch_body_chunks

        def counting(self, uid, size, chunk):
            for piece in real(self, uid, size, chunk):
                ranges.append(len(piece))
                yield piece

        monkeypatch.setattr(sync_module.ImapConnection, "fetch_body_chunks", counting)
        result = box.sync()
        assert result.archived == 3 and result.errors == 0
        assert len(ranges) > 6 and max(ranges) == 997
        with store.session() as s:
            stored = {m.sha256 for m in s.scalars(select(Message))}
        assert stored == {sha256_hex(m) for m in messages}
        assert all(store.archive.get(sha256_hex(m)) == m for m in messages)
    finally:
        store.close()


def test_new_uids_are_listed_a_window_at_a_time(dovecot_server, mailbox, factory,
                                                tmp_path: Path, monkeypatch) -> None:
    """A big folder's UIDs are never listed whole: windows of UID_WINDOW numbers up to the
    UIDNEXT seen at SELECT, then an open-ended one that also catches what arrived during the
    sync. Every message is fetched once, and a second sync fetches nothing."""
    from wpec_invoicing.mailbox import sync as sync_module

    monkeypatch.setattr(sync_module, "UID_WINDOW", 3)
    login, password = mailbox
    messages = factory.mixed(8)
    late = factory.plain(subject="arrived during the sync")
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           messages)
    config = make_config(tmp_path, imap=_imap(dovecot_server, mailbox), login=login)
    store = open_store(config)
    try:
        listed: list[tuple[int, int | None, int]] = []
        real = sync_module.ImapConnection.uids_between

        def recording(self, first, last):
            if not listed:  # a message arrives while the first window is being fetched
                append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path,
                       login, password, [late])
            uids = real(self, first, last)
            listed.append((first, last, len(uids)))
            return uids

        monkeypatch.setattr(sync_module.ImapConnection, "uids_between", recording)
        result = Mailbox(config, config.account(), store).sync()
        assert result.archived == 9 and result.errors == 0 and result.bodies_fetched == 9
        assert listed[:3] == [(1, 3, 3), (4, 6, 3), (7, None, 3)]  # 7, 8 and the late one
        with store.session() as s:
            stored = {m.sha256 for m in s.scalars(select(Message))}
        assert stored == {sha256_hex(m) for m in [*messages, late]}
        again = Mailbox(config, config.account(), store).sync()
        assert again.archived == 0 and again.bodies_fetched == 0
    finally:
        store.close()


def test_uidvalidity_change_rescans_without_duplicating(dovecot_server, mailbox, factory,
                                                        tmp_path: Path) -> None:
    import ssl

    from imapclient import IMAPClient

    login, password = mailbox
    first = factory.mixed(4)
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           first, folder="Archivio")
    imap = _imap(dovecot_server, mailbox)
    config = make_config(tmp_path, imap=imap, login=login)
    account = config.account().model_copy(update={"folders": ["Archivio"]})
    store = open_store(config)
    try:
        assert Mailbox(config, account, store).sync().archived == 4
        # Delete and re-create the folder: the server renumbers it (new UIDVALIDITY).
        ctx = ssl.create_default_context(cafile=str(dovecot_server.ca_path))
        with IMAPClient("127.0.0.1", port=dovecot_server.imaps_port, ssl_context=ctx) as c:
            c.login(login, password)
            old = c.folder_status("Archivio", ["UIDVALIDITY"])[b"UIDVALIDITY"]
            c.delete_folder("Archivio")
        append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
               [*first, factory.receipt()], folder="Archivio")
        with IMAPClient("127.0.0.1", port=dovecot_server.imaps_port, ssl_context=ctx) as c:
            c.login(login, password)
            assert c.folder_status("Archivio", ["UIDVALIDITY"])[b"UIDVALIDITY"] != old
        again = Mailbox(config, account, store).sync()
        assert again.archived == 1 and again.known == 4
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Message)) == 5
            assert s.scalar(select(func.count()).select_from(MessageLocation)) == 9
    finally:
        store.close()


def test_starttls_endpoint_works_too(dovecot_server, mailbox, factory, tmp_path: Path) -> None:
    login, password = mailbox
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           [factory.receipt()])
    imap = {**_imap(dovecot_server, mailbox), "port": dovecot_server.imap_port,
            "tls": "starttls"}
    config = make_config(tmp_path, imap=imap, login=login)
    store = open_store(config)
    try:
        assert Mailbox(config, config.account(), store).sync().archived == 1
    finally:
        store.close()


def test_a_missing_folder_is_reported_and_the_others_still_sync(dovecot_server, mailbox,
                                                                factory, tmp_path: Path) -> None:
    login, password = mailbox
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           [factory.receipt()])
    config = make_config(tmp_path, imap=_imap(dovecot_server, mailbox), login=login)
    account = config.account().model_copy(update={"folders": ["Nonexistent", "INBOX"]})
    store = open_store(config)
    try:
        result = Mailbox(config, account, store).sync()
        assert result.archived == 1
        missing = result.folders[0]
        assert missing.folder == "Nonexistent" and "Nonexistent" in missing.error
    finally:
        store.close()


def test_oversized_message_is_archived_not_classified(dovecot_server, mailbox, factory,
                                                      tmp_path: Path, monkeypatch) -> None:
    from wpec_invoicing.ingest import pipeline

    monkeypatch.setattr(pipeline, "MAX_PROCESS_BYTES", 2000)
    login, password = mailbox
    big = factory.plain(body="y" * 5000)
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           [big, factory.plain()])
    config = make_config(tmp_path, imap=_imap(dovecot_server, mailbox), login=login)
    store = open_store(config)
    try:
        result = Mailbox(config, config.account(), store).sync()
        assert result.archived == 2 and result.errors == 1
        with store.session() as s:
            msg = s.scalar(select(Message).where(Message.sha256 == sha256_hex(big)))
        assert msg.status == "error" and "classification limit" in msg.error
        assert store.archive.get(msg.sha256) == big
    finally:
        store.close()


def test_a_refused_server_action_stays_pending_and_others_go_on(dovecot_server, mailbox,
                                                                 factory, tmp_path: Path
                                                                 ) -> None:
    login, password = mailbox
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           [factory.receipt(), factory.receipt(), factory.plain()])
    # An invalid flag name (atom-specials are not allowed): Dovecot answers BAD.
    config = make_config(tmp_path, imap=_imap(dovecot_server, mailbox), login=login,
                         extra={"rules": {"kinds": {
                             "avvenuta-consegna": {"flag": ["bad(flag"]},
                             "non-pec": {"move_to": "Posta"}}}})
    store = open_store(config)
    try:
        result = Mailbox(config, config.account(), store).sync()
        assert result.server_actions == 1  # the move went through
        with store.session() as s:
            rows = {a.action: a for a in s.scalars(select(RuleAction).where(
                RuleAction.action.in_(("flag", "move"))))}
        assert rows["move"].status == "done"
        assert rows["flag"].status == "pending" and "server refused" in rows["flag"].detail
    finally:
        store.close()


def test_two_syncs_of_one_account_at_once_record_everything_once(
        dovecot_server, mailbox, factory, db_url: str, tmp_path: Path) -> None:
    """A cron job overlapping a `--watch`: same account, same store, at the same moment."""
    import threading

    login, password = mailbox
    messages = factory.mixed(30)
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           messages)
    config = make_config(tmp_path, db_url=db_url, imap=_imap(dovecot_server, mailbox),
                         login=login, extra={"rules": {"kinds": {
                             "avvenuta-consegna": {"move_to": "Ricevute"}}}})
    config = config.model_copy(update={"accounts": [config.account().model_copy(
        update={"batch_size": 4})]})
    stores = [open_store(config), open_store(config)]
    results, errors = [], []
    barrier = threading.Barrier(2)

    def run(store) -> None:
        try:
            barrier.wait()
            results.append(Mailbox(config, config.account(), store).sync())
        except Exception as exc:  # any exception here is the bug
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(st,)) for st in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert sum(r.archived for r in results) == 30
        assert sum(r.errors for r in results) == 0
        with stores[0].session() as s:
            assert s.scalar(select(func.count()).select_from(Message)) == 30
            assert s.scalar(select(func.count()).select_from(ReceivedInvoice)) == 5
            statuses = set(s.scalars(select(Message.status)))
        assert statuses == {"processed"}
    finally:
        for st in stores:
            st.close()


def test_copies_in_later_batches_get_the_rules_server_actions_too(dovecot_server, mailbox,
                                                                   factory, tmp_path: Path
                                                                   ) -> None:
    """The sync classifies committed batches while later ones are still being fetched: a copy
    of the same bytes recorded before its original was classified, or after, still gets the
    rule's flag on the server, and the bytes stay one record."""
    login, password = mailbox
    receipt = factory.receipt()
    others = [factory.plain(subject=f"News {i}") for i in range(4)]
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           [receipt, others[0], others[1], receipt, others[2], others[3], receipt])
    config = make_config(tmp_path, imap=_imap(dovecot_server, mailbox), login=login,
                         extra={"rules": {"kinds": {
                             "avvenuta-consegna": {"flag": ["$Ricevuta"]}}}})
    config = config.model_copy(update={"accounts": [config.account().model_copy(
        update={"batch_size": 1})]})
    store = open_store(config)
    try:
        result = Mailbox(config, config.account(), store).sync()
        assert (result.archived, result.known, result.errors) == (5, 2, 0)
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Message)) == 5
            assert s.scalar(select(func.count()).select_from(MessageLocation)) == 7
        boxes = folder_contents("127.0.0.1", dovecot_server.imaps_port,
                                dovecot_server.ca_path, login, password)
        flagged = [b"$Ricevuta" in flags for raw, flags in boxes["INBOX"] if raw == receipt]
        assert flagged == [True, True, True]
        assert not any(b"$Ricevuta" in flags for raw, flags in boxes["INBOX"] if raw != receipt)
    finally:
        store.close()
