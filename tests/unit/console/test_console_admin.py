"""Utenti and Token API pages: an admin manages console users and API tokens from the console,
through the same app functions as `wpec user` / `wpec token`, audited under their name."""

import re

from fastapi.testclient import TestClient

from tests.unit.console.conftest import PASSWORD, csrf_of, login
from wpec_invoicing.app import audit, tokens, users
from wpec_invoicing.web.console import create_console_app

NEW_PASSWORD = "a brand new password"


def _audited(ctx, action: str) -> list:
    return [e for e in audit.list_audit(ctx, limit=200).items if e.action == action]


def test_only_an_admin_reaches_users_and_tokens(client, ctx):
    login(client, "otto")
    assert client.get("/utenti").status_code == 403
    assert client.get("/token").status_code == 403
    assert "/utenti" not in client.get("/").text
    response = client.post("/utenti", data={"name": "mallory", "role": "admin",
                                            "password": NEW_PASSWORD,
                                            "csrf_token": csrf_of(client)})
    assert response.status_code == 403
    assert "mallory" not in [u.name for u in users.list_users(ctx)]


def test_admin_adds_a_user_who_can_then_log_in(client, ctx):
    login(client, "ada")
    assert 'href="/utenti"' in client.get("/").text
    token = csrf_of(client, "/utenti")
    refused = client.post("/utenti", data={"name": "pia", "role": "operator",
                                           "password": "short", "csrf_token": token})
    assert refused.status_code == 422 and "at least 10 characters" in refused.text
    assert 'value="pia"' in refused.text  # the form is kept
    taken = client.post("/utenti", data={"name": "vera", "role": "viewer",
                                         "password": NEW_PASSWORD, "csrf_token": token})
    assert taken.status_code == 409
    added = client.post("/utenti", data={"name": "pia", "role": "operator", "language": "en",
                                         "password": NEW_PASSWORD, "csrf_token": token},
                        follow_redirects=False)
    assert added.status_code == 303
    pia = next(u for u in users.list_users(ctx) if u.name == "pia")
    assert (pia.role, pia.locale, pia.disabled) == ("operator", "en", False)
    entry = _audited(ctx, "user.add")[0]
    assert (entry.actor, entry.target, entry.address) == ("console:ada", "pia", "testclient")
    other = TestClient(create_console_app(ctx))
    assert login(other, "pia", NEW_PASSWORD).status_code == 303


def test_role_password_disable_and_enable(client, ctx):
    login(client, "ada")
    victim = TestClient(create_console_app(ctx))
    login(victim, "vera")
    assert victim.get("/fatture-ricevute").status_code == 200
    token = csrf_of(client, "/utenti")
    client.post("/utenti/vera/ruolo", data={"role": "operator", "csrf_token": token})
    assert next(u for u in users.list_users(ctx) if u.name == "vera").role == "operator"
    assert _audited(ctx, "user.role")[0].detail == "viewer -> operator"
    client.post("/utenti/vera/password", data={"password": NEW_PASSWORD, "csrf_token": token})
    assert victim.get("/fatture-ricevute", follow_redirects=False).status_code == 303  # ended
    assert login(victim, "vera", PASSWORD).status_code == 401
    assert login(victim, "vera", NEW_PASSWORD).status_code == 303
    client.post("/utenti/vera/disattiva", data={"csrf_token": token})
    assert victim.get("/", follow_redirects=False).status_code == 303
    assert login(victim, "vera", NEW_PASSWORD).status_code == 401
    assert "disattivato" in client.get("/utenti").text
    client.post("/utenti/vera/riattiva", data={"csrf_token": token})
    assert login(victim, "vera", NEW_PASSWORD).status_code == 303
    assert [e.actor for e in _audited(ctx, "user.disable")] == ["console:ada"]
    assert [e.actor for e in _audited(ctx, "user.enable")] == ["console:ada"]


def test_the_last_admin_cannot_be_disabled_or_demoted(client, ctx):
    login(client, "ada")
    token = csrf_of(client, "/utenti")
    for path, data in (("/utenti/ada/disattiva", {}), ("/utenti/ada/ruolo", {"role": "viewer"})):
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 409 and "only enabled admin" in response.text
    ada = next(u for u in users.list_users(ctx) if u.name == "ada")
    assert (ada.role, ada.disabled) == ("admin", False)
    client.post("/utenti/otto/ruolo", data={"role": "admin", "csrf_token": token})
    assert client.post("/utenti/ada/ruolo", data={"role": "viewer", "csrf_token": token},
                       follow_redirects=False).status_code == 303


def test_a_token_secret_is_shown_once_then_revoked(client, ctx):
    login(client, "ada")
    token = csrf_of(client, "/token")
    page = client.post("/token", data={"name": "gestionale", "role": "integrator",
                                       "csrf_token": token})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    secret = re.search(r'readonly value="(wpec_[^"]+)"', page.text).group(1)
    assert tokens.authenticate(ctx, secret).name == "gestionale"
    listing = client.get("/token").text
    assert "gestionale" in listing and secret not in listing and secret[:12] in listing
    twice = client.post("/token", data={"name": "gestionale", "role": "viewer",
                                        "csrf_token": token})
    assert twice.status_code == 409
    client.post("/token/gestionale/revoca", data={"csrf_token": token})
    assert tokens.authenticate(ctx, secret) is None
    assert "revocato" in client.get("/token").text
    assert [e.actor for e in _audited(ctx, "token.create")] == ["console:ada"]
    assert [e.actor for e in _audited(ctx, "token.revoke")] == ["console:ada"]
    assert client.post("/token/gestionale/revoca").status_code == 403  # no CSRF token
