"""`wpec user add|list|passwd|disable|enable|role`: the people who log in to the console.

Thin: read the password (never from argv: from `--password-file`, `$WPEC_USER_PASSWORD` or a
prompt without echo), call `app.users`, print one line (or `--json`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.groups import user_app
from wpec_invoicing.cli.mailbox import ConfigOpt, JsonOpt, _dump, _err

PasswordFileOpt = Annotated[Path | None, typer.Option(
    "--password-file", metavar="FILE", show_default=False,
        help="Read the password from this file's first line "
    "(else $WPEC_USER_PASSWORD, else a prompt).")]


def _password(password_file: Path | None) -> str:
    from wpec_invoicing.errors import InputError

    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InputError(f"--password-file {password_file}: {exc.strerror}") from exc
        if not lines or not lines[0]:
            raise InputError(f"--password-file {password_file}: the first line is empty")
        return lines[0]
    if os.environ.get("WPEC_USER_PASSWORD"):
        return os.environ["WPEC_USER_PASSWORD"]
    if not sys.stdin.isatty():
        raise InputError("no password: use --password-file, $WPEC_USER_PASSWORD or a terminal")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _ctx(config: Path | None):
    from wpec_invoicing.app.context import AppContext

    return AppContext.load(config)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Login name.", metavar="NAME")],
    role: Annotated[str, typer.Option("--role", metavar="ROLE",
                                               help="viewer, operator or admin.")] = "viewer",
    language: Annotated[str, typer.Option("--language", metavar="IT|EN",
                                                   help="it or en.")] = "it",
    password_file: PasswordFileOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Add a console user (viewer reads; operator acts; admin also manages)."""
    from wpec_invoicing.app import users

    password = _password(password_file)
    with _ctx(config) as ctx:
        user = users.add_user(ctx, name, role=role, password=password, locale=language)
    if json_out:
        _dump(user.model_dump(mode="json"))
    else:
        output.report(f"user {user.name} added ({user.role})")


@user_app.command("list")
def user_list(json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """List the console users."""
    from wpec_invoicing.app import users

    with _ctx(config) as ctx:
        rows = users.list_users(ctx)
    if json_out:
        _dump([u.model_dump(mode="json") for u in rows])
        return
    for u in rows:
        state = "disabled" if u.disabled else "active"
        last = u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "never"
        print(f"{u.name}\t{u.role}\t{u.locale}\t{state}\tlast login {last}")
    if not rows:
        _err("no console user yet: wpec user add NAME --role admin")


@user_app.command("passwd")
def user_passwd(
    name: Annotated[str, typer.Argument(help="Login name.", metavar="NAME")],
    password_file: PasswordFileOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Set a user's password (their open sessions end; a lock-out is lifted)."""
    from wpec_invoicing.app import users

    password = _password(password_file)
    with _ctx(config) as ctx:
        users.set_password(ctx, name, password)
    output.outcome({"name": name, "password_changed": True},
                   f"password of {name} changed", as_json=json_out)


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="Login name.", metavar="NAME")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Disable a user: no more logins, open sessions end now."""
    from wpec_invoicing.app import users

    with _ctx(config) as ctx:
        users.disable_user(ctx, name)
    output.outcome({"name": name, "disabled": True},
                   f"user {name} disabled", as_json=json_out)


@user_app.command("enable")
def user_enable(
    name: Annotated[str, typer.Argument(help="Login name.", metavar="NAME")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Enable a disabled user again (same password; a lock-out is lifted)."""
    from wpec_invoicing.app import users

    with _ctx(config) as ctx:
        users.enable_user(ctx, name)
    output.outcome({"name": name, "disabled": False},
                   f"user {name} enabled", as_json=json_out)


@user_app.command("role")
def user_role(
    name: Annotated[str, typer.Argument(help="Login name.", metavar="NAME")],
    role: Annotated[str, typer.Argument(help="viewer, operator or admin.", metavar="ROLE")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Change a user's role (the last enabled admin stays admin)."""
    from wpec_invoicing.app import users

    with _ctx(config) as ctx:
        user = users.set_role(ctx, name, role)
    output.outcome({"name": user.name, "role": user.role},
                   f"user {user.name} is now {user.role}", as_json=json_out)
