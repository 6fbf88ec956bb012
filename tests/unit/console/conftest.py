"""The console over HTTP (Starlette's test client, no browser): a SQLite store with users, a
supplier invoice imported for real and a hostile message."""

from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wpec_invoicing.app import received, users
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.config import config_from_dict
from wpec_invoicing.fatturapa import invoice_file_name, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.web.console import create_console_app

PASSWORD = "console test password"
HOSTILE_SUBJECT = '<script>window.__xss="subject"</script> Fattura'
HOSTILE_HTML = ('<p>Buongiorno <img src="x" onerror="window.__xss=\'img\'">'
                '<script>window.__xss="body"</script><b>allegata</b></p>')


def hostile_eml() -> bytes:
    msg = EmailMessage()
    msg["From"] = "attaccante@example.test"
    msg["To"] = "azienda@pec.sandbox.test"
    msg["Subject"] = HOSTILE_SUBJECT
    msg["Message-ID"] = "<hostile-1@example.test>"
    msg.set_content("testo semplice")
    msg.add_alternative(HOSTILE_HTML, subtype="html")
    return msg.as_bytes()


@pytest.fixture
def ctx(tmp_path: Path):
    # Paths made absolute as load_config makes them: rules save files under data_dir, never
    # in the current folder.
    config = config_from_dict({"data_dir": "data"}, base=tmp_path)
    with AppContext(config) as context:
        for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
            users.add_user(context, name, role=role, password=PASSWORD)
        doc = sample_invoice(progressivo="00042")
        outcome = received.import_files(context, [
            (invoice_file_name("IT", "01234567890", "00042"), write_invoice(doc)),
            ("hostile.eml", hostile_eml())])
        assert outcome.imported == 2, outcome.items
        yield context


@pytest.fixture
def client(ctx):
    return TestClient(create_console_app(ctx))


def login(client: TestClient, name: str, password: str = PASSWORD):
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf_token": token, "next": "/"},
                       follow_redirects=False)


def csrf_of(client: TestClient, path: str = "/") -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)
