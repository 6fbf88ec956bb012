"""Caselle: each box's contract (state, expiry, days left) and the admin's lifecycle moves,
each a CSRF-protected form; an illegal move is a message on the page, not a crash."""

import pytest
from fastapi.testclient import TestClient

from tests.unit.console.conftest import PASSWORD, csrf_of, login
from wpec_invoicing.app import lifecycle, users
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.config import config_from_dict
from wpec_invoicing.web.console import create_console_app


@pytest.fixture
def ctx(tmp_path):
    config = config_from_dict({
        "data_dir": "data",
        "accounts": [{"name": "main", "address": "azienda@pec.example.it",
                      "password_env": "WPEC_TEST_UNUSED",
                      "imap": {"host": "127.0.0.1", "port": 993},
                      "smtp": {"host": "127.0.0.1", "port": 465}}],
        "housekeeping": {"accounts": {"main": {"days": {"receipts": 10},
                                               "usage_target_percent": 70}}},
    }, base=tmp_path)
    with AppContext(config) as context:
        for name, role in (("vera", "viewer"), ("otto", "operator"), ("ada", "admin")):
            users.add_user(context, name, role=role, password=PASSWORD)
        lifecycle.list_accounts(context)  # the box is followed from now on
        yield context


@pytest.fixture
def client(ctx):
    return TestClient(create_console_app(ctx))


def _post(client, path, **kwargs):
    return client.post(path, data={"csrf_token": csrf_of(client, "/caselle")},
                       follow_redirects=False, **kwargs)


def test_admin_sees_state_expiry_and_the_actions(client):
    login(client, "ada")
    page = client.get("/caselle").text
    assert "Contratto" in page and "/caselle/main/sospendi" in page
    assert "/caselle/main/riattiva" in page and 'enctype="multipart/form-data"' in page


@pytest.mark.parametrize("user", ["vera", "otto"])
def test_others_see_no_buttons_and_are_refused(client, user):
    login(client, user)
    page = client.get("/caselle").text
    assert "/caselle/main/sospendi" not in page
    assert _post(client, "/caselle/main/sospendi").status_code == 403


def test_suspend_then_recover(client, ctx):
    login(client, "ada")
    assert _post(client, "/caselle/main/sospendi").status_code == 303
    assert lifecycle.show_account(ctx, "main").state == "suspended"
    assert _post(client, "/caselle/main/recupera").status_code == 303
    assert lifecycle.show_account(ctx, "main").state == "active"


def test_an_illegal_move_is_a_message_on_the_page(client):
    login(client, "ada")
    response = _post(client, "/caselle/main/recupera")  # an active box cannot be recovered
    assert response.status_code == 409
    assert "non è possibile nello stato attuale della casella" in response.text


def test_a_move_without_the_token_is_refused(client, ctx):
    login(client, "ada")
    response = client.post("/caselle/main/sospendi", follow_redirects=False)
    assert response.status_code == 403
    assert lifecycle.show_account(ctx, "main").state == "active"


def test_the_retention_housekeeping_applies_is_shown(client):
    login(client, "vera")
    page = client.get("/caselle").text
    assert "ricevute PEC 10 giorni" in page  # the box's own setting over the default 30
    assert "fatture dallo SdI 180 giorni" in page  # a default
    assert "posta certificata finché un operatore non li elimina" in page
    assert "supera il 70% di occupazione" in page
