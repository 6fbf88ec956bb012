"""Errors the application layer raises, each mapped once by every interface.

The CLI turns them into one line and an exit code (`exit_code`), the REST API into an RFC 9457
problem document (`problem_type`, `status`). A verdict about input (an invalid invoice) is a
value, not one of these: these mean the request itself cannot be carried out.
"""

from __future__ import annotations

from wpec_invoicing.errors import WpecError


class AppError(WpecError):
    """Base of the application errors: a stable problem type, an HTTP status, an exit code."""

    problem_type = "about:blank"
    status = 400
    exit_code = 2


class NotFound(AppError):
    """The thing named (an invoice, a message, a token...) does not exist."""

    problem_type = "not-found"
    status = 404
    exit_code = 2


class Conflict(AppError):
    """The request contradicts the current state (already approved, idempotency key reused
    with another body, an illegal lifecycle transition...)."""

    problem_type = "conflict"
    status = 409
    exit_code = 1


class InvalidRequest(AppError):
    """The arguments are unusable (a bad filter, a malformed cursor, a date in the future)."""

    problem_type = "invalid-request"
    status = 422
    exit_code = 2


class Forbidden(AppError):
    """The caller's role does not allow this."""

    problem_type = "forbidden"
    status = 403
    exit_code = 2


class Rejected(AppError):
    """The input was read and judged: it cannot be queued (an invalid invoice, a refused
    recipient). `diagnostics` says why, item by item, as `wpec invoice validate --json`."""

    problem_type = "rejected"
    status = 422
    exit_code = 1

    def __init__(self, message: str, diagnostics: list[dict] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


class Unavailable(AppError):
    """Something this request needs is not configured or not reachable (no account, no
    signing key...): fix the configuration."""

    problem_type = "unavailable"
    status = 503
    exit_code = 2
