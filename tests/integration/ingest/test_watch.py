"""`sync --watch`: IMAP IDLE picks up new mail; a dropped connection is survived (reconnect
with backoff). The drop is real: the client talks to Dovecot through a loopback TCP relay
that the test cuts."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from tests.integration.ingest.conftest import append, make_config, open_store
from wpec_invoicing.mailbox.sync import Mailbox
from wpec_invoicing.store.models import Message


class Relay:
    """127.0.0.1:<port> → target; `cut()` drops every open connection."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.accepted += 1
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns = []

    def close(self) -> None:
        self.cut()
        self.listener.close()


def _wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_watch_idles_and_survives_a_dropped_connection(dovecot_server, mailbox, factory,
                                                        tmp_path: Path) -> None:
    login, password = mailbox
    relay = Relay(dovecot_server.imaps_port)
    config = make_config(tmp_path, login=login, imap={
        "host": "127.0.0.1", "port": relay.port, "ca_file": str(dovecot_server.ca_path),
        "password": password})
    store = open_store(config)
    stop = threading.Event()
    results = []
    box = Mailbox(config, config.account(), store)
    thread = threading.Thread(target=box.watch, kwargs={
        "stop": stop, "idle_seconds": 5.0, "max_backoff": 0.5, "on_result": results.append},
        daemon=True)

    def count() -> int:
        with store.session() as s:
            return s.scalar(select(func.count()).select_from(Message))

    try:
        thread.start()
        assert _wait_for(lambda: results), "the first sync never ran"
        append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
               [factory.receipt()])
        # IDLE wakes the watcher well before the 5 s idle timeout.
        started = time.monotonic()
        assert _wait_for(lambda: count() == 1)
        assert time.monotonic() - started < 4.5
        relay.cut()
        append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
               [factory.sdi_notification("RC", ident="77")])
        assert _wait_for(lambda: count() == 2), "no reconnect after the drop"
        assert relay.accepted >= 2
    finally:
        stop.set()
        relay.close()
        thread.join(timeout=10)
        store.close()
    assert not thread.is_alive()


def test_watch_polls_every_folder_each_round(dovecot_server, mailbox, factory,
                                             tmp_path: Path) -> None:
    """IDLE watches only the first folder; the second one is polled after each IDLE timeout.
    Each round also runs the after-sync checks (the outbox's no-acceptance alert)."""
    from tests.integration.ingest.test_after_sync import add_sent_item

    login, password = mailbox
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           [], folder="PEC/Altro")  # create the second folder
    config = make_config(tmp_path, login=login, imap={
        "host": "127.0.0.1", "port": dovecot_server.imaps_port,
        "ca_file": str(dovecot_server.ca_path), "password": password})
    config = config.model_copy(update={"accounts": [config.account().model_copy(
        update={"folders": ["INBOX", "PEC/Altro"]})]})
    store = open_store(config)
    add_sent_item(store, minutes_ago=120, n=1)
    stop = threading.Event()
    results = []
    box = Mailbox(config, config.account(), store)
    thread = threading.Thread(target=box.watch, kwargs={
        "stop": stop, "idle_seconds": 0.5, "on_result": results.append}, daemon=True)

    def folders() -> set[str]:
        from wpec_invoicing.store.models import MessageLocation

        with store.session() as s:
            return set(s.scalars(select(MessageLocation.folder)))

    try:
        thread.start()
        assert _wait_for(lambda: results), "the first sync never ran"
        assert results[0].alerts == 1  # the watch round raised the overdue alert
        append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
               [factory.receipt()], folder="PEC/Altro")
        assert _wait_for(lambda: folders() == {"PEC/Altro"}), "the second folder is not polled"
        assert all(not f.error for r in results for f in r.folders)
    finally:
        stop.set()
        thread.join(timeout=10)
        store.close()
    assert not thread.is_alive()


def test_watch_hears_mail_in_every_folder_without_waiting_for_the_poll(
        dovecot_server, mailbox, factory, tmp_path: Path) -> None:
    """Each configured folder has an IDLE listener: with the poll set to an hour, mail put in
    the second folder (and then in the first) is still synced, so only IDLE can have woken
    the watcher."""
    from wpec_invoicing.store.models import MessageLocation

    login, password = mailbox
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           [], folder="PEC/Altro")
    config = make_config(tmp_path, login=login, imap={
        "host": "127.0.0.1", "port": dovecot_server.imaps_port,
        "ca_file": str(dovecot_server.ca_path), "password": password})
    config = config.model_copy(update={"accounts": [config.account().model_copy(
        update={"folders": ["INBOX", "PEC/Altro"]})]})
    store = open_store(config)
    stop = threading.Event()
    results = []
    box = Mailbox(config, config.account(), store)
    thread = threading.Thread(target=box.watch, kwargs={
        "stop": stop, "idle_seconds": 3600.0, "on_result": results.append}, daemon=True)

    def folders() -> list[str]:
        with store.session() as s:
            return sorted(s.scalars(select(MessageLocation.folder)))

    try:
        thread.start()
        assert _wait_for(lambda: results), "the first sync never ran"
        time.sleep(1.0)  # let the listeners reach IDLE (what arrives earlier is found anyway)
        append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
               [factory.receipt()], folder="PEC/Altro")
        assert _wait_for(lambda: folders() == ["PEC/Altro"], timeout=60), \
            "mail in the second folder waited for the hourly poll"
        append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
               [factory.sdi_notification("RC", ident="78")])
        assert _wait_for(lambda: folders() == ["INBOX", "PEC/Altro"], timeout=60), \
            "mail in the first folder waited for the hourly poll"
    finally:
        stop.set()
        thread.join(timeout=15)
        store.close()
    assert not thread.is_alive()
