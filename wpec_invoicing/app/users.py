"""Console users and their sessions: add, list, change password, disable; log in and out.

Why here and not in the web layer: `wpec user ...` (the CLI) and the console are two faces of
the same accounts, and who may do what (`role_allows`) is decided once.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
profile). A session is a random token in an HttpOnly cookie; the store keeps only its sha256,
its CSRF token and its expiry: idle after `IDLE`, at most `ABSOLUTE` from the login. After
`MAX_FAILURES` wrong passwords in a row a name is locked for `LOCKOUT`, doubling with every
further failure, so guessing online costs hours per handful of tries. And because spraying
one common password over many names never trips a per-name lock, a client address with
`ADDRESS_MAX_FAILURES` failed logins (any names) within `ADDRESS_WINDOW` is refused every
login until the oldest of them leaves the window. Those failures are counted from the audit
log (every refused login is there with its address): one truth, shared by every process that
serves the console, no table of its own. Behind a reverse proxy, `wpec serve --behind-proxy`
takes the client's address from X-Forwarded-For (else every client would share the proxy's).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import AppError, Conflict, Forbidden, InvalidRequest, NotFound
from wpec_invoicing.app.models import Model

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[str, ...] = ("viewer", "operator", "admin")
LOCALES: tuple[str, ...] = ("it", "en")
IDLE = timedelta(hours=2)
ABSOLUTE = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen is written at most this often (reads stay reads)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)
MIN_PASSWORD = 10
ADDRESS_MAX_FAILURES = 20
ADDRESS_WINDOW = timedelta(minutes=15)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


class LoginRefused(AppError):
    """Wrong name or password, a disabled user, or a name locked after too many failures.
    The message never says which of the first three it was."""

    problem_type = "login-refused"
    status = 401
    exit_code = 2


class UserOut(Model):
    id: int
    name: str
    role: str
    locale: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None = None


class SessionOut(Model):
    """A live session: the user, the CSRF token its forms carry, and (at login only) the
    cookie token, which is never stored."""

    user: UserOut
    csrf_token: str
    expires_at: datetime
    token: str | None = None


def role_allows(role: str, needed: str) -> bool:
    """viewer < operator < admin: each role can do what the ones before it can."""
    return ROLES.index(role) >= ROLES.index(needed)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes for timezone-aware columns: they were written in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise InvalidRequest(f"user name {name!r}: 1-100 letters, digits or . _ @ -, "
                             "starting with a letter or digit")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidRequest(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def _check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise InvalidRequest(f"language {locale!r}: expected one of {', '.join(LOCALES)}")
    return locale


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidRequest(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def _out(user) -> UserOut:
    return UserOut(id=user.id, name=user.name, role=user.role, locale=user.locale,
                   disabled=user.disabled, created_at=_aware(user.created_at),
                   last_login_at=_aware(user.last_login_at))


def _get(s, name: str):
    from sqlalchemy import select

    from wpec_invoicing.store.console_models import ConsoleUser

    user = s.scalar(select(ConsoleUser).where(ConsoleUser.name == name))
    if user is None:
        raise NotFound(f"no console user named {name!r}")
    return user


def _audit(s, actor: str, action: str, target: str, result: str = "ok",
           detail: str | None = None, address: str | None = None) -> None:
    from wpec_invoicing.app.audit import write_audit

    write_audit(s, actor=actor, action=action, target=target, result=result, detail=detail,
                address=address)


def add_user(ctx: AppContext, name: str, *, role: str, password: str, locale: str = "it",
             actor: str = "cli", address: str | None = None) -> UserOut:
    """A new console user; the name must be free."""
    from sqlalchemy import select

    from wpec_invoicing.store.console_models import ConsoleUser

    name, role = _check_name(name), _check_role(role)
    locale, password = _check_locale(locale), _check_password(password)
    password_hash = _hasher().hash(password)
    with ctx.session() as s:
        if s.scalar(select(ConsoleUser.id).where(ConsoleUser.name == name)) is not None:
            raise Conflict(f"a console user named {name!r} exists already")
        user = ConsoleUser(name=name, role=role, locale=locale, password_hash=password_hash,
                           disabled=False, failed_logins=0, created_at=_now())
        s.add(user)
        s.flush()
        _audit(s, actor, "user.add", name, detail=f"role {role}", address=address)
        return _out(user)


def list_users(ctx: AppContext) -> list[UserOut]:
    from sqlalchemy import select

    from wpec_invoicing.store.console_models import ConsoleUser

    with ctx.session() as s:
        return [_out(u) for u in s.scalars(select(ConsoleUser).order_by(ConsoleUser.name))]


def _end_sessions(s, user_id: int) -> None:
    from sqlalchemy import delete

    from wpec_invoicing.store.console_models import ConsoleSession

    s.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user_id))


def set_password(ctx: AppContext, name: str, password: str, *, actor: str = "cli",
                 address: str | None = None) -> UserOut:
    """A new password; the user's open sessions end and a lock-out is lifted."""
    password_hash = _hasher().hash(_check_password(password))
    with ctx.session() as s:
        user = _get(s, name)
        user.password_hash = password_hash
        user.failed_logins, user.locked_until = 0, None
        _end_sessions(s, user.id)
        _audit(s, actor, "user.passwd", name, address=address)
        return _out(user)


def _keep_an_admin(s, user, change: str) -> None:
    """Conflict when `change` would leave no enabled admin: nobody could then manage users
    from the console (only the CLI, on the server, could repair it)."""
    from sqlalchemy import func, select

    from wpec_invoicing.store.console_models import ConsoleUser

    if user.role != "admin" or user.disabled:
        return
    admins = s.scalar(select(func.count()).select_from(ConsoleUser).where(
        ConsoleUser.role == "admin", ConsoleUser.disabled.is_(False)))
    if admins <= 1:
        raise Conflict(f"{user.name} is the only enabled admin: {change} would leave no one "
                       "to manage users (make another admin first)")


def disable_user(ctx: AppContext, name: str, *, actor: str = "cli",
                 address: str | None = None) -> UserOut:
    """The user can no longer log in; their open sessions end now. The last enabled admin
    cannot be disabled."""
    with ctx.session() as s:
        user = _get(s, name)
        _keep_an_admin(s, user, "disabling them")
        user.disabled = True
        _end_sessions(s, user.id)
        _audit(s, actor, "user.disable", name, address=address)
        return _out(user)


def enable_user(ctx: AppContext, name: str, *, actor: str = "cli",
                address: str | None = None) -> UserOut:
    """A disabled user can log in again (with the password they had; a lock-out is lifted)."""
    with ctx.session() as s:
        user = _get(s, name)
        user.disabled = False
        user.failed_logins, user.locked_until = 0, None
        _audit(s, actor, "user.enable", name, address=address)
        return _out(user)


def set_role(ctx: AppContext, name: str, role: str, *, actor: str = "cli",
             address: str | None = None) -> UserOut:
    """A new role, effective on the user's next request (sessions read the role afresh).
    The last enabled admin keeps the admin role."""
    role = _check_role(role)
    with ctx.session() as s:
        user = _get(s, name)
        if user.role == role:
            return _out(user)
        if role != "admin":
            _keep_an_admin(s, user, f"making them {role}")
        before, user.role = user.role, role
        _audit(s, actor, "user.role", name, detail=f"{before} -> {role}", address=address)
        return _out(user)


def set_locale(ctx: AppContext, user_id: int, locale: str) -> UserOut:
    """The language the console speaks to this user (it or en)."""
    from wpec_invoicing.store.console_models import ConsoleUser

    locale = _check_locale(locale)
    with ctx.session() as s:
        user = s.get(ConsoleUser, user_id)
        if user is None:
            raise NotFound(f"no console user with id {user_id}")
        user.locale = locale
        return _out(user)


_DUMMY_HASH: str | None = None


def _verify(password_hash: str | None, password: str) -> bool:
    """argon2 verification; for an unknown name a dummy hash is checked so the answer takes
    as long and says nothing about which names exist."""
    from argon2.exceptions import InvalidHashError, VerificationError

    global _DUMMY_HASH
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = _hasher().hash(secrets.token_hex(16))
        password_hash = _DUMMY_HASH
        password = "!" + password  # never matches
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(ctx: AppContext, name: str, password: str, *, address: str | None = None,
          now: datetime | None = None) -> SessionOut:
    """A new session for a right name and password; LoginRefused otherwise (one message for
    every cause but the lock-out, which says when to try again)."""
    from sqlalchemy import select

    from wpec_invoicing.store.console_models import ConsoleSession, ConsoleUser

    now = now or _now()
    refused = LoginRefused("wrong user name or password")
    with ctx.session() as s:
        wait = _address_throttled(s, address, now)
        if wait is not None:
            _audit(s, f"console:{name}"[:120], "login", (name or "")[:200], "throttled",
                   address=address)
            s.commit()
            raise LoginRefused(f"too many failed attempts from {address}: try again in "
                               f"{wait} min")
        user = s.scalar(select(ConsoleUser).where(ConsoleUser.name == (name or "").strip()))
        locked = _aware(user.locked_until) if user is not None else None
        if locked is not None and locked > now:
            _audit(s, f"console:{name}"[:120], "login", (name or "")[:200], "locked",
                   address=address)
            minutes = max(1, int((locked - now).total_seconds() // 60) + 1)
            raise LoginRefused(f"too many failed attempts: try again in {minutes} min")
        ok = _verify(user.password_hash if user is not None else None, password or "")
        if user is None or not ok or user.disabled:
            if user is not None and not ok:
                user.failed_logins += 1
                if user.failed_logins >= MAX_FAILURES:
                    user.locked_until = now + LOCKOUT * 2 ** (user.failed_logins - MAX_FAILURES)
            _audit(s, f"console:{name}"[:120], "login", (name or "")[:200], "refused",
                   address=address)
            s.commit()  # the failure counts even though we raise
            raise refused
        user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + IDLE
        s.add(ConsoleSession(token_sha256=_digest(token), user_id=user.id, csrf_token=csrf,
                             created_at=now, last_seen_at=now, expires_at=expires))
        _audit(s, f"console:{user.name}", "login", user.name, "ok", address=address)
        return SessionOut(user=_out(user), csrf_token=csrf, expires_at=expires, token=token)


def _address_throttled(s, address: str | None, now: datetime) -> int | None:
    """Minutes until `address` may try again, or None when it may now: it is throttled while
    the audit log holds `ADDRESS_MAX_FAILURES` refused logins from it within the window."""
    from sqlalchemy import select

    from wpec_invoicing.store.app_models import AuditEntry

    if not address:
        return None
    times = s.scalars(
        select(AuditEntry.at).where(
            AuditEntry.at >= now - ADDRESS_WINDOW, AuditEntry.at <= now,
            AuditEntry.action == "login", AuditEntry.result == "refused",
            AuditEntry.address == address)
        .order_by(AuditEntry.at.desc()).limit(ADDRESS_MAX_FAILURES)).all()
    if len(times) < ADDRESS_MAX_FAILURES:
        return None
    free_at = _aware(times[-1]) + ADDRESS_WINDOW  # when the oldest counted one leaves
    return max(1, int((free_at - now).total_seconds() // 60) + 1)


def current_session(ctx: AppContext, token: str | None, *,
                    now: datetime | None = None) -> SessionOut | None:
    """The live session of a cookie token, sliding its idle expiry; None when unknown,
    expired (idle or absolute) or its user is disabled."""
    from wpec_invoicing.store.console_models import ConsoleSession, ConsoleUser

    if not token or len(token) > 200:
        return None
    now = now or _now()
    with ctx.session() as s:
        row = s.get(ConsoleSession, _digest(token))
        if row is None:
            return None
        user = s.get(ConsoleUser, row.user_id)
        if (user is None or user.disabled or _aware(row.expires_at) <= now
                or _aware(row.created_at) + ABSOLUTE <= now):
            s.delete(row)
            return None
        expires = min(now + IDLE, _aware(row.created_at) + ABSOLUTE)
        if now - _aware(row.last_seen_at) >= TOUCH_EVERY:
            row.last_seen_at, row.expires_at = now, expires
        else:
            expires = _aware(row.expires_at)
        return SessionOut(user=_out(user), csrf_token=row.csrf_token, expires_at=expires)


def logout(ctx: AppContext, token: str | None) -> None:
    """End the session of this cookie token (nothing happens for an unknown one)."""
    from wpec_invoicing.store.console_models import ConsoleSession, ConsoleUser

    if not token:
        return
    with ctx.session() as s:
        row = s.get(ConsoleSession, _digest(token))
        if row is not None:
            user = s.get(ConsoleUser, row.user_id)
            s.delete(row)
            _audit(s, f"console:{user.name if user else '?'}", "logout",
                   user.name if user else "?")


def require_role(session: SessionOut, needed: str) -> None:
    """Forbidden unless the session's role reaches `needed`."""
    if not role_allows(session.user.role, needed):
        raise Forbidden(f"this needs the {needed} role; {session.user.name} is "
                        f"{session.user.role}")
