"""`wpec archive verify|export` and `wpec messages hold|unhold|restore`.

Thin: parse arguments, call `app.housekeeping`, print. `--json` goes to stdout, the rest to
stderr. Exit codes: 0 all well; 1 a blob missing or corrupt (verify), a message that could not
be restored; 2 a bad request (unknown id, bad date).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.groups import messages_app
from wpec_invoicing.cli.mailbox import ConfigOpt, JsonOpt, _dump, _err

archive_app = typer.Typer(help="The archive of raw messages and invoice files: verify, export, "
                               "migrate.",
                          no_args_is_help=True, add_completion=False, rich_markup_mode=None)

IdsArg = Annotated[list[int], typer.Argument(help="Message ids (see `messages list --status "
                                                  "all`).", metavar="ID...", min=1,
                                             max=2**63 - 1)]


def _ctx(config):
    from wpec_invoicing.app.context import AppContext

    return AppContext.load(config)


def _date(value: str, option: str) -> date:
    from wpec_invoicing.errors import InputError

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {value!r}: not a date (YYYY-MM-DD)") from None


@archive_app.command("verify")
def archive_verify(json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Re-hash every blob of the archive; report the missing and corrupt ones (exit 1)."""
    from wpec_invoicing.app.housekeeping import verify_archive

    with _ctx(config) as ctx:
        report = verify_archive(ctx)
    if json_out:
        _dump(report.model_dump(mode="json"))
    else:
        for entry in report.missing + report.corrupt:
            output.report(f"{entry['sha256']}: {entry['problem']} (used by {entry['used_by']})")
        output.report(f"checked {report.checked} blob(s): {len(report.missing)} missing, "
             f"{len(report.corrupt)} corrupt")
    if not report.ok:
        raise typer.Exit(1)


@archive_app.command("export")
def archive_export(
    since: Annotated[str, typer.Option("--since", metavar="DATE",
                                       help="First day (YYYY-MM-DD).")],
    until: Annotated[str, typer.Option("--until", metavar="DATE",
                                       help="Last day, included (YYYY-MM-DD).")],
    out_dir: Annotated[str, typer.Option(
        "--out", "-o", metavar="DIR",
        help="Folder to write the .zip into (wpec-archive-SINCE-UNTIL.zip).")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Write the raw messages and invoice originals archived in a period, with index.csv and
    a SHA256SUMS manifest: the hand-over a conservation service takes."""
    from wpec_invoicing.app.housekeeping import export_archive
    from wpec_invoicing.errors import InputError

    start, end = _date(since, "--since"), _date(until, "--until")
    folder = Path(out_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {out_dir}: not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"wpec-archive-{start.isoformat()}-{end.isoformat()}.zip"
    with _ctx(config) as ctx:
        report = export_archive(ctx, since=start, until=end, out=out)
    if json_out:
        _dump(report.model_dump(mode="json"))
    else:
        for p in report.problems:
            _err(p)
        output.report(f"{out}: {report.messages} message(s), {report.invoices} invoice file(s), "
             f"{report.bytes} bytes")
    if report.problems:
        raise typer.Exit(1)


@archive_app.command("migrate")
def archive_migrate(
    to: Annotated[str, typer.Option("--to", metavar="BACKEND",
                                    help="Where the blobs go: postgresql (the store's "
                                         "database) or filesystem (the data folder).")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Copy every blob from the other backend into BACKEND, re-hashing each on both sides.
    Safe to stop and run again (blobs already there are verified, not copied twice). The
    source is kept; then set [archive] backend in wpec.toml. Exit 1 when a source blob is
    missing or corrupt (named; the others are copied)."""
    import sys

    from rich.progress import Progress

    from wpec_invoicing.app.housekeeping import migrate_archive
    from wpec_invoicing.cli.mailbox import _stderr_console

    with _ctx(config) as ctx, Progress(transient=True, console=_stderr_console(),
                                       disable=json_out or not sys.stderr.isatty()) as bar:
        task = bar.add_task(f"to {to}", total=None)

        def progress(done: int, copied: int) -> None:
            bar.update(task, completed=done, description=f"to {to}: {copied} copied")

        report = migrate_archive(ctx, to=to, progress=progress)
    if json_out:
        _dump(report.model_dump(mode="json"))
    else:
        for entry in report.bad:
            _err(f"{entry['sha256']}: {entry['problem']} (not copied)")
        output.report(f"{report.target}: {report.blobs} blob(s) from {report.source}: "
                      f"{report.copied} copied ({report.bytes_copied} bytes), {report.already} "
                      f"already there, {report.repaired} repaired, {len(report.bad)} bad")
        if report.configured != to and report.ok:
            output.report(f'now set [archive] backend = "{to}" in wpec.toml')
    if not report.ok:
        raise typer.Exit(1)


@messages_app.command("hold")
def messages_hold(
    ids: IdsArg,
    reason: Annotated[str | None, typer.Option("--reason", metavar="TEXT", show_default=False,
                                               help="Why (kept with the hold).")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Keep messages on the server: housekeeping never deletes a held message."""
    from wpec_invoicing.app.housekeeping import hold

    with _ctx(config) as ctx:
        new = hold(ctx, ids, reason=reason)
    if json_out:
        _dump({"held": list(new), "already_held": len(set(ids)) - len(new)})
        return
    output.report(f"held {len(new)} message(s)" + (f"; {len(set(ids)) - len(new)} already held"
                                         if len(set(ids)) > len(new) else ""))


@messages_app.command("unhold")
def messages_unhold(ids: IdsArg, json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Release holds: the retention policy applies again."""
    from wpec_invoicing.app.housekeeping import unhold

    with _ctx(config) as ctx:
        released = unhold(ctx, ids)
    if json_out:
        _dump({"released": list(released)})
        return
    output.report(f"released {len(released)} hold(s)")


@messages_app.command("restore")
def messages_restore(
    ids: IdsArg,
    folder: Annotated[str | None, typer.Option(
        "--folder", metavar="NAME", show_default=False,
            help="Put them here (default: the folder they were deleted from).")] = None,
    account: Annotated[str | None, typer.Option(
        "--account", "-a", metavar="NAME", show_default=False,
            help="Into this account (default: the one they came from).")
    ] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """APPEND archived messages back to the server with their original flags and date."""
    from wpec_invoicing.app.housekeeping import restore

    with _ctx(config) as ctx:
        outcomes = restore(ctx, ids, folder=folder, account=account)
    if json_out:
        _dump([o.model_dump(mode="json") for o in outcomes])
    else:
        for o in outcomes:
            output.report(f"message {o.message}: restored to {o.account}/{o.folder}" if o.ok
                 else f"message {o.message}: not restored: {o.error}")
    if any(not o.ok for o in outcomes):
        raise typer.Exit(1)

