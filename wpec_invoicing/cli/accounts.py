"""`wpec accounts list|show|renew|suspend|recover|deactivate|reactivate`: where each mailbox
stands in the provider's lifecycle, and the operator's moves.

Thin: parse arguments, call `app.lifecycle`, print. An illegal move (recover after 30 days,
reactivate after 180, a request unsigned, tampered or signed by someone else) exits 1 with
the reason on one line.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.mailbox import ConfigOpt, JsonOpt, _dump, _err

accounts_app = typer.Typer(help="The mailboxes' lifecycle: active, suspended, deactivated, "
                                "purged; renew, recover, reactivate.",
                           no_args_is_help=True, add_completion=False, rich_markup_mode=None)

NameArg = Annotated[str, typer.Argument(help="The account's name (see `accounts list`).",
                                        metavar="NAME")]


def _ctx(config):
    from wpec_invoicing.app.context import AppContext

    return AppContext.load(config)


def _line(a) -> str:
    quota = f"{a.quota_percent:.1f}%" if a.quota_percent is not None else "-"
    left = f"{a.days_left} d left" if a.days_left is not None else ""
    return (f"{a.name:<16} {a.address:<32} {a.state:<12} expires {a.expires_on or '-'}  "
            f"{left:<11} quota {quota}")


@accounts_app.command("list")
def accounts_list(json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Every account: address, created, expiry, state, days left in it, quota used."""
    from wpec_invoicing.app.lifecycle import list_accounts

    with _ctx(config) as ctx:
        rows = list_accounts(ctx)
    if json_out:
        _dump([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        _err("no account configured")
    for r in rows:
        print(_line(r))


@accounts_app.command("show")
def accounts_show(name: NameArg, json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """One account with its lifecycle history and the notices sent."""
    from wpec_invoicing.app.lifecycle import show_account

    with _ctx(config) as ctx:
        d = show_account(ctx, name)
    if json_out:
        _dump(d.model_dump(mode="json"))
        return
    print(_line(d))
    for e in d.history:
        print(f"  {e.at:%Y-%m-%d %H:%M}  {e.from_state or '-'} → {e.to_state}  {e.event}"
              + (f": {e.detail}" if e.detail else ""))
    for a in d.alerts:
        print(f"  ALERT #{a.id} {a.kind} since {a.created_at:%Y-%m-%d %H:%M}: {a.message}")
    for n in d.notices:
        print(f"  notice {n.key} by {n.channel} to {n.recipient or '-'}: {n.status}"
              + (f" ({n.detail})" if n.detail else ""))


def _date(value: str, option: str) -> date:
    from wpec_invoicing.errors import InputError

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {value!r}: not a date (YYYY-MM-DD)") from None


def _done(status, json_out: bool) -> None:
    if json_out:
        _dump(status.model_dump(mode="json"))
    else:
        output.report(f"account {status.name}: {status.state}"
             + (f", expires {status.expires_on}" if status.expires_on else ""))


@accounts_app.command("renew")
def accounts_renew(
    name: NameArg,
    until: Annotated[str, typer.Option("--until", metavar="DATE",
                                       help="New expiry (YYYY-MM-DD).")],
    json_out: JsonOpt = False, config: ConfigOpt = None,
) -> None:
    """A renewed contract; a suspended box is recovered by it."""
    from wpec_invoicing.app.lifecycle import renew

    with _ctx(config) as ctx:
        _done(renew(ctx, name, until=_date(until, "--until")), json_out)


@accounts_app.command("suspend")
def accounts_suspend(name: NameArg, json_out: JsonOpt = False,
                     config: ConfigOpt = None) -> None:
    """Soft close: read-only for 30 days (sending waits, sync goes on)."""
    from wpec_invoicing.app.lifecycle import suspend

    with _ctx(config) as ctx:
        _done(suspend(ctx, name), json_out)


@accounts_app.command("recover")
def accounts_recover(name: NameArg, json_out: JsonOpt = False,
                     config: ConfigOpt = None) -> None:
    """Back to active within the 30 days of suspension."""
    from wpec_invoicing.app.lifecycle import recover

    with _ctx(config) as ctx:
        _done(recover(ctx, name), json_out)


@accounts_app.command("deactivate")
def accounts_deactivate(name: NameArg, json_out: JsonOpt = False,
                        config: ConfigOpt = None) -> None:
    """Close the box: no access; the provider keeps the mail 180 days."""
    from wpec_invoicing.app.lifecycle import deactivate

    with _ctx(config) as ctx:
        _done(deactivate(ctx, name), json_out)


@accounts_app.command("reactivate")
def accounts_reactivate(
    name: NameArg,
    request: Annotated[Path, typer.Option("--request", metavar="FILE",
        help="The activation request signed "
                                                            "by the holder (CAdES .p7m).")],
    until: Annotated[str | None, typer.Option("--until", metavar="DATE", show_default=False,
                                              help="New expiry (default: one year)."
                                              )] = None,
    json_out: JsonOpt = False, config: ConfigOpt = None,
) -> None:
    """Back to active within 180 days of deactivation, on the holder's signed request."""
    from wpec_invoicing.app.lifecycle import reactivate
    from wpec_invoicing.errors import InputError
    from wpec_invoicing.inputs import read_file

    try:
        data = read_file(request, max_bytes=10 * 1024 * 1024)
    except OSError as exc:
        raise InputError(f"--request {request}: cannot read it: {exc.strerror or exc}") from None
    with _ctx(config) as ctx:
        _done(reactivate(ctx, name, request=data,
                         until=_date(until, "--until") if until else None), json_out)

