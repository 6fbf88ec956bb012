"""The two IMAP servers of the sandbox, talked to with imapclient over verified TLS."""

from __future__ import annotations

import imaplib
import ssl
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.integration.conftest import DOVECOT_USERS, mark_ran, tls_context
from wpec_invoicing.sandbox.ca import SandboxCA
from wpec_invoicing.sandbox.dovecot import DovecotServer, DovecotUser
from wpec_invoicing.sandbox.imap_server import EmbeddedImapServer

# CRLF everywhere, odd folding and trailing blanks: a server that re-serializes changes it.
RAW = (
    b"From: Mario Rossi <mario@example.test>\r\n"
    b"Subject: =?utf-8?q?Fattura_n=C2=B0_1?=\r\n"
    b"  folded   continuation\r\n"
    b"Message-ID: <raw-1@example.test>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"body with trailing blanks   \r\n"
    b"\r\n"
    b"last line\r\n"
)


def _roundtrip(client: IMAPClient) -> None:
    client.append("INBOX", RAW)
    client.create_folder("PEC/Ricevute")
    client.select_folder("INBOX")
    uids = client.search()
    assert len(uids) == 1
    data = client.fetch(uids, ["BODY.PEEK[]", "RFC822.SIZE", "FLAGS"])[uids[0]]
    assert data[b"BODY[]"] == RAW
    assert data[b"RFC822.SIZE"] == len(RAW)
    assert b"\\Seen" not in data[b"FLAGS"]
    client.copy(uids, "PEC/Ricevute")
    client.select_folder("PEC/Ricevute")
    copied = client.search()
    assert client.fetch(copied, ["BODY.PEEK[]"])[copied[0]][b"BODY[]"] == RAW


def test_embedded_server_serves_users_over_tls_and_keeps_bytes(tmp_path: Path,
                                                               sandbox_ca: SandboxCA) -> None:
    tls = sandbox_ca.tls_server()
    users = {"a@pec.sandbox.test": "pw-a", "b@pec.sandbox.test": "pw-b"}
    with EmbeddedImapServer(tmp_path / "imap", users, cert_file=tls.cert_path,
                            key_file=tls.key_path) as server:
        mark_ran("embedded (pymap)")
        ctx = tls_context(sandbox_ca.ca_path)
        with IMAPClient("127.0.0.1", port=server.imaps_port, ssl_context=ctx) as client:
            client.login("a@pec.sandbox.test", "pw-a")
            _roundtrip(client)
        with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as client:
            client.starttls(ctx)
            client.login("b@pec.sandbox.test", "pw-b")
            client.select_folder("INBOX")
            assert client.search() == []  # mailboxes are separate
        with IMAPClient("127.0.0.1", port=server.imaps_port, ssl_context=ctx) as client, \
                pytest.raises(imaplib.IMAP4.error):
            client.login("a@pec.sandbox.test", "wrong")
        server.add_user("c@pec.sandbox.test", "pw-c")
        with IMAPClient("127.0.0.1", port=server.imaps_port, ssl_context=ctx) as client:
            client.login("c@pec.sandbox.test", "pw-c")
    # Data lives on disk under the folder: a restarted server still has the message.
    with EmbeddedImapServer(tmp_path / "imap", users, cert_file=tls.cert_path,
                            key_file=tls.key_path) as server, \
            IMAPClient("127.0.0.1", port=server.imaps_port,
                       ssl_context=tls_context(sandbox_ca.ca_path)) as client:
        client.login("a@pec.sandbox.test", "pw-a")
        client.select_folder("INBOX")
        assert len(client.search()) == 1


def test_embedded_server_certificate_is_verified(tmp_path: Path, sandbox_ca: SandboxCA) -> None:
    tls = sandbox_ca.tls_server()
    # A client that does not trust the sandbox CA refuses the server.
    with EmbeddedImapServer(tmp_path / "imap", {"a@x.test": "pw"}, cert_file=tls.cert_path,
                            key_file=tls.key_path) as server, \
            pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient("127.0.0.1", port=server.imaps_port,
                   ssl_context=ssl.create_default_context())


@pytest.mark.dovecot
def test_dovecot_fixture_users_login_and_bytes_are_kept(dovecot_server: DovecotServer,
                                                        dovecot_account: tuple[str, str]) -> None:
    ctx = tls_context(dovecot_server.ca_path)  # type: ignore[attr-defined]
    name, password = dovecot_account
    with IMAPClient("127.0.0.1", port=dovecot_server.imaps_port, ssl_context=ctx) as client:
        client.login(name, password)
        _roundtrip(client)
    user, pw = next(iter(DOVECOT_USERS.items()))
    with IMAPClient("127.0.0.1", port=dovecot_server.imap_port, ssl=False) as client:
        client.starttls(ctx)
        client.login(user, pw)


@pytest.mark.dovecot
def test_dovecot_quota_refuses_append_when_full(tmp_path: Path, sandbox_ca: SandboxCA) -> None:
    from tests.integration.conftest import require_dovecot

    require_dovecot()
    tls = sandbox_ca.tls_server()
    users = [DovecotUser("small@pec.sandbox.test", "pw", quota_bytes=4000)]
    with DovecotServer(tmp_path / "dc", users, cert_file=tls.cert_path,
                       key_file=tls.key_path) as server, \
            IMAPClient("127.0.0.1", port=server.imaps_port,
                       ssl_context=tls_context(sandbox_ca.ca_path)) as client:
        client.login("small@pec.sandbox.test", "pw")
        assert b"QUOTA" in client.capabilities()
        client.append("INBOX", RAW)
        with pytest.raises(imaplib.IMAP4.error, match="OVERQUOTA"):
            client.append("INBOX", RAW + b"x" * 5000 + b"\r\n")
        typ, data = client._imap.getquotaroot("INBOX")
        assert typ == "OK" and b"STORAGE" in data[-1][0]
