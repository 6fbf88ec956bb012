"""Console users: argon2id hashes, login, lock-out after failures, session expiry, disable."""

from datetime import UTC, datetime, timedelta

import pytest

from wpec_invoicing.app import users
from wpec_invoicing.app.errors import Conflict, Forbidden, InvalidRequest

PASSWORD = "correct horse battery"


def _add(ctx, name="anna", role="operator"):
    return users.add_user(ctx, name, role=role, password=PASSWORD)


def test_add_list_and_argon2id_hash(ctx):
    _add(ctx)
    _add(ctx, "bruno", "viewer")
    assert [(u.name, u.role, u.disabled) for u in users.list_users(ctx)] == [
        ("anna", "operator", False), ("bruno", "viewer", False)]
    from sqlalchemy import select

    from wpec_invoicing.store.console_models import ConsoleUser

    with ctx.session() as s:
        stored = s.scalar(select(ConsoleUser.password_hash).where(ConsoleUser.name == "anna"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(Conflict):
        _add(ctx)


@pytest.mark.parametrize("name,role,password", [
    ("anna", "root", PASSWORD), ("../x", "viewer", PASSWORD), ("anna", "viewer", "short")])
def test_bad_input_is_refused_with_a_reason(ctx, name, role, password):
    with pytest.raises(InvalidRequest):
        users.add_user(ctx, name, role=role, password=password)


def test_login_gives_a_session_only_for_the_right_password(ctx):
    _add(ctx)
    session = users.login(ctx, "anna", PASSWORD)
    assert session.token and session.csrf_token and session.user.role == "operator"
    again = users.current_session(ctx, session.token)
    assert again is not None and again.csrf_token == session.csrf_token
    assert again.token is None  # the cookie token is never read back from the store
    for name, password in (("anna", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(users.LoginRefused, match="wrong user name or password"):
            users.login(ctx, name, password)
    users.logout(ctx, session.token)
    assert users.current_session(ctx, session.token) is None


def test_lock_out_after_repeated_failures_even_with_the_right_password(ctx):
    _add(ctx)
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for _ in range(users.MAX_FAILURES):
        with pytest.raises(users.LoginRefused):
            users.login(ctx, "anna", "not the password", now=now)
    with pytest.raises(users.LoginRefused, match="too many failed attempts"):
        users.login(ctx, "anna", PASSWORD, now=now + timedelta(minutes=1))
    # After the lock-out the right password works again (and resets the count).
    assert users.login(ctx, "anna", PASSWORD, now=now + users.LOCKOUT + timedelta(seconds=1))


def test_sessions_expire_when_idle_and_after_the_absolute_limit(ctx):
    _add(ctx)
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    idle = users.login(ctx, "anna", PASSWORD, now=t0)
    assert users.current_session(ctx, idle.token, now=t0 + users.IDLE - timedelta(minutes=1))
    assert users.current_session(ctx, idle.token, now=t0 + users.IDLE * 2) is None

    busy = users.login(ctx, "anna", PASSWORD, now=t0)
    t = t0
    while t < t0 + users.ABSOLUTE - users.IDLE:  # active all day: the idle limit slides
        t += timedelta(minutes=30)
        assert users.current_session(ctx, busy.token, now=t) is not None
    assert users.current_session(ctx, busy.token, now=t0 + users.ABSOLUTE) is None


def test_disable_and_new_password_end_open_sessions(ctx):
    _add(ctx)
    first = users.login(ctx, "anna", PASSWORD)
    users.set_password(ctx, "anna", "another long password")
    assert users.current_session(ctx, first.token) is None
    second = users.login(ctx, "anna", "another long password")
    users.disable_user(ctx, "anna")
    assert users.current_session(ctx, second.token) is None
    with pytest.raises(users.LoginRefused):
        users.login(ctx, "anna", "another long password")


def test_roles_are_ordered(ctx):
    viewer = users.login(ctx, _add(ctx, "vera", "viewer").name, PASSWORD)
    users.require_role(viewer, "viewer")
    with pytest.raises(Forbidden):
        users.require_role(viewer, "operator")
    assert users.role_allows("admin", "operator") and not users.role_allows("operator", "admin")


def test_an_address_spraying_many_names_is_throttled_but_not_others(ctx, monkeypatch):
    """Spraying one password over many names never trips a per-name lock: the client's
    address is throttled after ADDRESS_MAX_FAILURES failures (lowered here to keep the test
    quick; each failure costs an argon2 verification)."""
    monkeypatch.setattr(users, "ADDRESS_MAX_FAILURES", 4)
    _add(ctx)
    for n in range(4):
        with pytest.raises(users.LoginRefused, match="wrong user name or password"):
            users.login(ctx, f"guess{n}", "Password2026!", address="203.0.113.9")
    with pytest.raises(users.LoginRefused, match=r"too many failed attempts from 203\.0\.113\.9"):
        users.login(ctx, "anna", PASSWORD, address="203.0.113.9")  # even the right password
    assert users.login(ctx, "anna", PASSWORD, address="198.51.100.7")  # another client
    later = datetime.now(UTC) + users.ADDRESS_WINDOW + timedelta(minutes=1)
    assert users.login(ctx, "anna", PASSWORD, address="203.0.113.9", now=later)
    from wpec_invoicing.app.audit import list_audit

    results = [e.result for e in list_audit(ctx, limit=50).items if e.action == "login"]
    assert "throttled" in results
