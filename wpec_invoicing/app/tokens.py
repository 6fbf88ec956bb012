"""API tokens: create (the secret is shown once), list, revoke, and authenticate a request.

Why sha256 and not a password hash: a token is 32 random bytes (256 bits), so a fast hash is
already out of brute force's reach, and checking it costs microseconds per request. Only the
hash and a short prefix (to recognise a token in a list) are stored.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import Conflict, InvalidRequest, NotFound
from wpec_invoicing.app.models import Model
from wpec_invoicing.app.timefmt import Aware

ROLES = ("viewer", "integrator", "operator", "admin")
Role = Literal["viewer", "integrator", "operator", "admin"]
TOKEN_PREFIX = "wpec_"  # noqa: S105 (a visible marker, not a secret)


def role_allows(role: str, needed: str) -> bool:
    """Roles are ordered: each one may do everything the ones before it may."""
    return ROLES.index(role) >= ROLES.index(needed)


class TokenOut(Model):
    """A token as listed (never its secret)."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: Aware
    last_used_at: Aware | None = None
    last_used_from: str | None = None
    revoked_at: Aware | None = None


class NewToken(Model):
    """A token just created: `secret` is shown this once and never stored."""

    token: TokenOut
    secret: str


class Caller(Model):
    """Who is calling (an authenticated token)."""

    token_id: int
    name: str
    role: str

    @property
    def actor(self) -> str:
        return f"token:{self.name}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(ctx: AppContext, name: str, role: str, *, actor: str = "cli") -> NewToken:
    from sqlalchemy import select

    from wpec_invoicing.app.audit import write_audit
    from wpec_invoicing.store.app_models import ApiToken, utcnow

    name = name.strip()
    if not name or len(name) > 100 or any(c.isspace() or not c.isprintable() for c in name):
        raise InvalidRequest(f"token name {name!r}: 1-100 printable characters, no spaces")
    if role not in ROLES:
        raise InvalidRequest(f"role {role!r}: expected one of {', '.join(ROLES)}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 32 random bytes
    with ctx.session() as s:
        if s.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            raise Conflict(f"a token named {name!r} exists (revoke it or choose another name)")
        row = ApiToken(name=name, role=role, token_hash=_hash(secret),
                       prefix=secret[:12], created_at=utcnow())
        s.add(row)
        s.flush()
        write_audit(s, actor=actor, action="token.create", target=f"token:{name}",
                    result="ok", detail=f"role {role}")
        out = TokenOut.model_validate(row)
    return NewToken(token=out, secret=secret)


def list_tokens(ctx: AppContext) -> list[TokenOut]:
    from sqlalchemy import select

    from wpec_invoicing.store.app_models import ApiToken

    with ctx.session() as s:
        return [TokenOut.model_validate(t)
                for t in s.scalars(select(ApiToken).order_by(ApiToken.id))]


def revoke_token(ctx: AppContext, name: str, *, actor: str = "cli") -> TokenOut:
    from sqlalchemy import select

    from wpec_invoicing.app.audit import write_audit
    from wpec_invoicing.store.app_models import ApiToken, utcnow

    with ctx.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.name == name))
        if row is None:
            raise NotFound(f"no token named {name!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        _forget_cached()
        write_audit(s, actor=actor, action="token.revoke", target=f"token:{name}",
                    result="ok")
        return TokenOut.model_validate(row)


CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, Caller, str | None]] = {}


def _forget_cached() -> None:
    _cache.clear()


def authenticate(ctx: AppContext, secret: str, *, address: str | None = None) -> Caller | None:
    """The caller behind a bearer secret, or None (unknown or revoked).

    A token found valid is remembered for `CACHE_SECONDS` (per process, keyed by its hash),
    so a busy integrator costs one store lookup every few seconds, not one per request. A
    revocation through this process applies at once; one made by another process (the CLI)
    within those seconds."""
    import time

    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    digest = _hash(secret)
    hit = _cache.get(digest)
    if hit is not None and hit[0] > time.monotonic() and hit[2] == address:
        return hit[1]
    caller = _lookup(ctx, digest, address)
    if caller is not None:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[digest] = (time.monotonic() + CACHE_SECONDS, caller, address)
    return caller


def remembered(secret: str, *, address: str | None = None) -> Caller | None:
    """The caller `authenticate` found valid for this secret and address within the last
    `CACHE_SECONDS`, or None (then ask `authenticate`). Never touches the store, so an async
    server can answer a known token without handing the request to a worker thread."""
    import time

    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    hit = _cache.get(_hash(secret))
    if hit is not None and hit[0] > time.monotonic() and hit[2] == address:
        return hit[1]
    return None


def _lookup(ctx: AppContext, digest: str, address: str | None) -> Caller | None:
    from sqlalchemy import select

    from wpec_invoicing.store.app_models import ApiToken, utcnow

    with ctx.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if row is None or row.revoked_at is not None:
            return None
        if not secrets.compare_digest(row.token_hash, digest):
            return None
        now = utcnow()
        last = row.last_used_at
        # Written at most once a minute: a busy integrator must not turn reads into writes.
        if last is None or (now - (last if last.tzinfo else last.replace(tzinfo=now.tzinfo))
                            ).total_seconds() > 60 or row.last_used_from != address:
            row.last_used_at, row.last_used_from = now, address
        return Caller(token_id=row.id, name=row.name, role=row.role)
