"""What every `wpec` command shares when it speaks: streams, JSON, errors, exit codes.

The convention (README, "Conventions"), in one place so every command module (and the API
engineer's, the console's) says things the same way:
- reports and data go to stdout (`report`, `dump_json`), diagnostics to stderr (`note`, `error`);
- `--json` prints one JSON document per line on stdout; on failure the error is a JSON object
  on stdout too (`json_error`), besides the one line on stderr;
- one error prefix, `wpec: error: ...` (`error`);
- one exit-code table (the `EXIT_*` constants), the same for every command.

Imports only the standard library: `wpec --help` must not pay for more.
"""

from __future__ import annotations

import json
import sys
from typing import Any

EXIT_OK = 0
EXIT_SOME_BAD = 1  # the command ran; some items were bad (invalid, failed, refused)
EXIT_USAGE = 2  # usage, configuration or unreadable input: fix the command or the file
EXIT_TEMPORARY = 3  # a temporary failure (server unreachable, run stopped): retry later
EXIT_REFUSED = 4  # a server refused us (credentials, paused account): fix the account

EXIT_CODES: dict[int, str] = {
    EXIT_OK: "ok",
    EXIT_SOME_BAD: "some items bad",
    EXIT_USAGE: "usage, configuration or unreadable input",
    EXIT_TEMPORARY: "temporary failure: retry later",
    EXIT_REFUSED: "refused by a server: fix credentials or account",
}
# The `error.type` of a JSON error object, by exit code (an AppError brings its own).
_ERROR_TYPES = {EXIT_SOME_BAD: "failed", EXIT_USAGE: "usage", EXIT_TEMPORARY: "temporary",
                EXIT_REFUSED: "refused"}

PREFIX = "wpec: error: "


def dump_json(data: Any) -> None:
    """One JSON document on ONE line on stdout: parseable whole and line by line."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def report(text: str) -> None:
    """A line of a report (what the user asked to see): stdout, so `| less` and `> file` work."""
    print(text, flush=True)


def outcome(data: Any, text: str, *, as_json: bool) -> None:
    """The result of a command that changed something: its JSON document with --json, else
    one report line (one place for the choice every such command makes)."""
    if as_json:
        dump_json(data)
    else:
        report(text)


def note(text: str) -> None:
    """A diagnostic (progress, a hint, a warning about one item): stderr."""
    print(text, file=sys.stderr, flush=True)


def error(message: str) -> None:
    """The one error line: `wpec: error: <what, where, why>` on stderr."""
    note(PREFIX + message)


def error_object(message: str, exit_code: int, error_type: str | None = None) -> dict[str, Any]:
    """The JSON error object printed on stdout under `--json` when a command fails."""
    return {"error": {"type": error_type or _ERROR_TYPES.get(exit_code, "error"),
                      "message": message, "exit_code": exit_code}}


def json_error(message: str, exit_code: int, error_type: str | None = None) -> None:
    dump_json(error_object(message, exit_code, error_type))


def fail(message: str, exit_code: int, *, as_json: bool = False,
         error_type: str | None = None) -> int:
    """Say why a command failed (stderr; and stdout as JSON under --json); return the code."""
    error(message)
    if as_json:
        json_error(message, exit_code, error_type)
    return exit_code


def wants_json(args: list[str]) -> bool:
    """Whether `--json` is among the options (not after `--`, where it would be a file name)."""
    if "--" in args:
        args = args[: args.index("--")]
    return "--json" in args


def when(value: Any) -> str:
    """A moment for a table: `YYYY-MM-DD HH:MM:SS` in UTC (what every table's "(UTC)" column
    shows); '' for none. Naive datetimes from the store are UTC."""
    from datetime import UTC, datetime

    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def when_json(value: Any) -> str | None:
    """A moment for JSON: ISO 8601 with its offset (UTC), as every `--json` writes it."""
    from datetime import UTC, datetime

    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()
