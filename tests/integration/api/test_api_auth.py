"""Every route of the OpenAPI contract × no token / a bad token / each role: 401 without a
valid token, 403 below the declared role, never 401/403 at or above it."""

from __future__ import annotations

import re

import httpx

from wpec_invoicing.app.tokens import ROLES, role_allows


def operations(spec: dict) -> list[tuple[str, str, str]]:
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            out.append((method.upper(), path, op["x-required-role"]))
    return out


def call(client, method: str, url: str, **kwargs) -> httpx.Response:
    """One request; a stream (SSE) is answered with its status and headers, then closed."""
    if url.endswith("/stream"):
        with client.stream(method, url, **kwargs) as response:
            if response.status_code != 200:
                response.read()  # a problem document: short
            return response
    return client.request(method, url, **kwargs)


def concrete(path: str) -> str:
    """A path with its parameters filled (ids that may not exist: 404 is fine here)."""
    path = path.replace("{sha256}", "0" * 64)
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_declares_a_role_and_enforces_it(api):
    spec = httpx.get(api.url + "/api/v1/openapi.json").json()
    ops = operations(spec)
    assert len(ops) >= 30
    assert {role for *_, role in ops} <= {*ROLES, "none"}
    clients = {role: api.client(role) for role in ROLES}
    anonymous = api.client(None)
    forged = api.client(None, headers={"Authorization": "Bearer wpec_not-a-real-token"})
    try:
        for method, path, needed in ops:
            url = concrete(path).removeprefix("/api/v1")
            if needed == "none":
                assert anonymous.request(method, url).status_code == 200
                continue
            for who in (anonymous, forged):
                got = call(who, method, url, json={}, params={"wait": 0})
                assert got.status_code == 401, (method, path, got.text)
                assert got.headers["content-type"] == "application/problem+json"
                assert "Bearer" in got.headers["www-authenticate"]
            for role, client in clients.items():
                got = call(client, method, url, params={"wait": 0}, json={})
                if role_allows(role, needed):
                    assert got.status_code not in (401, 403), (role, method, path, got.text)
                else:
                    assert got.status_code == 403, (role, method, path, got.text)
                    assert got.json()["type"] == "urn:wpec:problem:forbidden"
    finally:
        for c in (*clients.values(), anonymous, forged):
            c.close()


def test_a_revoked_token_is_refused_and_mutations_are_audited(api):
    from wpec_invoicing.app.tokens import create_token, revoke_token

    secret = create_token(api.ctx, "short-lived", "operator").secret
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=api.url + "/api/v1", headers=headers) as c:
        assert c.post("/suppliers", json={"vat": "IT01234567897"}).status_code == 201
        revoke_token(api.ctx, "short-lived")
        assert c.get("/suppliers").status_code == 401
    with api.client("admin") as admin:
        entries = admin.get("/audit").json()["items"]
    created = next(e for e in entries if e["action"] == "POST /api/v1/suppliers")
    assert (created["actor"], created["result"], created["address"]) == (
        "token:short-lived", "201", "127.0.0.1")
    assert any(e["action"] == "token.revoke" for e in entries)


def test_bad_tokens_from_one_address_are_slowed_down():
    """The throttle's arithmetic (timing itself is not asserted: shared CI machines)."""
    from wpec_invoicing.web.api.auth import FailureThrottle

    throttle = FailureThrottle(free=3, base=0.5, cap=4)
    delays = []
    for _ in range(8):
        delays.append(throttle.delay("10.0.0.1"))
        throttle.failed("10.0.0.1")
    assert delays == [0, 0, 0, 0.5, 1, 2, 4, 4]
    assert throttle.delay("10.0.0.2") == 0  # another address is not affected
    throttle.succeeded("10.0.0.1")
    assert throttle.delay("10.0.0.1") == 0
