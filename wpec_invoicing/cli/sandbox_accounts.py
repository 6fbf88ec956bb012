"""`wpec sandbox account ...`: drive the sandbox provider's mailbox lifecycle and its clock.

    wpec sandbox account list
    wpec sandbox account expire|suspend|recover|deactivate ADDRESS
    wpec sandbox account renew ADDRESS --until DATE
    wpec sandbox account reactivate ADDRESS --request FILE.p7m --fiscal-code CF [--trust FILE|DIR]
    wpec sandbox account clock DAYS          # the provider's clock moves forward

The state is kept in the sandbox folder (--dir), so these work on a sandbox running in another
process (`wpec sandbox up` applies them within a fraction of a second) or not running at all.
An illegal move exits 1 with the provider's reason.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from wpec_invoicing.cli.groups import sandbox_app
from wpec_invoicing.cli.options import JsonOpt

account_app = typer.Typer(help="The sandbox boxes' lifecycle (suspended, deactivated, purged) "
                               "and the provider's clock.",
                          no_args_is_help=True, add_completion=False, rich_markup_mode=None)
sandbox_app.add_typer(account_app, name="account")

DirOpt = Annotated[Path, typer.Option("--dir", metavar="DIR", help="Sandbox folder.")]
AddressArg = Annotated[str, typer.Argument(help="The sandbox mailbox address.",
                                           metavar="ADDRESS")]


def _lc(directory: Path):
    from wpec_invoicing.errors import InputError
    from wpec_invoicing.sandbox.lifecycle import SandboxLifecycle

    if not directory.is_dir():
        raise InputError(f"--dir {directory}: no such sandbox folder")
    return SandboxLifecycle(directory)


def _row(address: str, lc, now) -> dict:
    from wpec_invoicing.accounts.lifecycle import Timings

    return {"address": address, "state": lc.state.value,
            "expires_on": lc.expires_on.isoformat() if lc.expires_on else None,
            "since": lc.since.isoformat(), "days_left": lc.days_left(now, Timings()),
            "clock": now.isoformat()}


def _move(directory: Path, address: str, json_out: bool, fn) -> None:
    from wpec_invoicing.sandbox.lifecycle import IllegalTransition

    lc = _lc(directory)
    try:
        new = fn(lc)
    except IllegalTransition as exc:
        print(f"wpec: error: sandbox box {address}: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    row = _row(address, new, lc.now())
    if json_out:
        print(json.dumps(row))
    else:
        print(f"{address}: {row['state']}" + (f", expires {row['expires_on']}"
                                              if row["expires_on"] else ""))


@account_app.command("list")
def account_list(directory: DirOpt = Path("sandbox"), json_out: JsonOpt = False) -> None:
    """Every box whose lifecycle was touched, with its state on the provider's clock."""
    lc = _lc(directory)
    now = lc.now()
    rows = [_row(a, v, now) for a, v in sorted(lc.boxes().items())]
    if json_out:
        print(json.dumps({"clock": now.isoformat(), "boxes": rows}))
        return
    print(f"provider clock: {now:%Y-%m-%d %H:%M} UTC")
    for r in rows:
        print(f"{r['address']:<34} {r['state']:<12} expires {r['expires_on'] or '-'}"
              + (f"  {r['days_left']} d left" if r["days_left"] is not None else ""))


@account_app.command("expire")
def account_expire(address: AddressArg, directory: DirOpt = Path("sandbox"),
                   json_out: JsonOpt = False) -> None:
    """The contract ends now: the box is suspended (read-only) for 30 days."""
    _move(directory, address, json_out, lambda lc: lc.expire(address))


@account_app.command("suspend")
def account_suspend(address: AddressArg, directory: DirOpt = Path("sandbox"),
                    json_out: JsonOpt = False) -> None:
    """Soft close: read-only for 30 days."""
    _move(directory, address, json_out, lambda lc: lc.suspend(address))


@account_app.command("recover")
def account_recover(address: AddressArg, directory: DirOpt = Path("sandbox"),
                    json_out: JsonOpt = False) -> None:
    """Back to active within the 30 days (the contract must still run: else renew)."""
    _move(directory, address, json_out, lambda lc: lc.recover(address))


@account_app.command("renew")
def account_renew(address: AddressArg,
                  until: Annotated[str, typer.Option("--until", metavar="DATE",
                                                      help="New expiry (YYYY-MM-DD).")],
                  directory: DirOpt = Path("sandbox"), json_out: JsonOpt = False) -> None:
    """Set the contract's expiry; a suspended box is recovered by a renewal."""
    from wpec_invoicing.errors import InputError

    try:
        day = date.fromisoformat(until)
    except ValueError:
        raise InputError(f"--until {until!r}: not a date (YYYY-MM-DD)") from None
    _move(directory, address, json_out, lambda lc: lc.set_expiry(address, day))


@account_app.command("deactivate")
def account_deactivate(address: AddressArg, directory: DirOpt = Path("sandbox"),
                       json_out: JsonOpt = False) -> None:
    """No access any more; the provider keeps the mail 180 days."""
    _move(directory, address, json_out, lambda lc: lc.deactivate(address))


@account_app.command("reactivate")
def account_reactivate(
    address: AddressArg,
    request: Annotated[Path, typer.Option(
        "--request", metavar="FILE", help="Signed activation request (CAdES .p7m).")],
    fiscal_code: Annotated[str, typer.Option(
        "--fiscal-code", metavar="CODE", help="The holder's codice fiscale.")],
    trust: Annotated[Path | None, typer.Option(
        "--trust", metavar="FILE|DIR", show_default=False,
        help="PEM of the CA(s) trusted for the signature (default: the sandbox CA).")] = None,
    until: Annotated[str | None, typer.Option("--until", metavar="DATE", show_default=False,
                                                   help="New expiry (default: one "
                                                              "year).")] = None,
    directory: DirOpt = Path("sandbox"), json_out: JsonOpt = False,
) -> None:
    """Within 180 days of deactivation, on the holder's signed request (checked here as the
    provider would: intact, trusted, signed by the holder's codice fiscale, naming the box)."""
    from datetime import timedelta

    from wpec_invoicing.accounts.request import check_request
    from wpec_invoicing.cli.paths import load_trust_store
    from wpec_invoicing.cms import TrustStore
    from wpec_invoicing.errors import InputError
    from wpec_invoicing.inputs import read_file

    try:
        data = read_file(request, max_bytes=10 * 1024 * 1024)
        store = (load_trust_store(str(trust)) if trust is not None
                 else TrustStore.from_pem(read_file(directory / "ca" / "ca.pem")))
    except OSError as exc:
        raise InputError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
    verdict = check_request(data, holder_fiscal_code=fiscal_code, address=address,
                            trust=store)
    if not verdict.ok:
        print(f"wpec: error: sandbox box {address}: reactivation request refused: "
              f"{verdict.reason}", file=sys.stderr)
        raise typer.Exit(1)
    lc = _lc(directory)
    day = date.fromisoformat(until) if until else lc.now().date() + timedelta(days=365)
    _move(directory, address, json_out, lambda lc: lc.reactivate(address, day))


@account_app.command("clock")
def account_clock(days: Annotated[float, typer.Argument(help="Days to move forward.",
                                                           metavar="DAYS", min=0)],
                  directory: DirOpt = Path("sandbox"), json_out: JsonOpt = False) -> None:
    """Move the provider's clock forward (expiries, 30 and 180 days follow)."""
    now = _lc(directory).advance_clock(days)
    if json_out:
        print(json.dumps({"clock": now.isoformat()}))
    else:
        print(f"provider clock: {now:%Y-%m-%d %H:%M} UTC")

