"""`wpec housekeep`: free space on the server by the retention policy, archive first.

Thin: parse arguments, call `app.housekeeping.housekeep`, print. `--json` prints one document
(a list, one report per account) to stdout; human output goes to stderr. Exit 0 when every
account was housekept (or planned), 1 when one had errors or a bad archive copy it could not
fetch again.
"""

from __future__ import annotations

from typing import Annotated

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.mailbox import ConfigOpt, JsonOpt, _dump, _err


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def housekeep(
    account: Annotated[str | None, typer.Option("--account", "-a", metavar="NAME",
                                                show_default=False,
                                                help="Only this account.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List exactly what would be deleted and the space it frees; "
                          "change nothing.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Delete from the server what the retention policy allows, once the archive copy is
    re-verified (sha256 and size); a bad archive copy is fetched again instead."""
    from wpec_invoicing.app.context import AppContext
    from wpec_invoicing.app.housekeeping import housekeep as run

    with AppContext.load(config) as ctx:
        reports = run(ctx, account=account, dry_run=dry_run)
    failed = any(r.errors or r.refetch_failed for r in reports)
    if json_out:
        _dump([r.model_dump(mode="json") for r in reports])
    else:
        for r in reports:
            verb = "would delete" if r.dry_run else "deleted"
            q = r.quota_before
            where = (f"{q.percent:.1f}% of {_size(q.limit_bytes)}" if q and q.percent is not None
                     else f"{_size(q.used_bytes)} used (no quota known)" if q else "?")
            if r.dry_run:
                for p in r.deleted:
                    output.report(f"  {p.folder} UID {p.uid}  message {p.message}  "
                                  f"{p.kind or '?'}  {_size(p.size)}  {p.reason}")
            for p in r.refetched:
                _err(f"  message {p.message}: {p.reason}")
            for f in r.refetch_failed:
                _err(f"  message {f['message']}: {f['reason']}: cannot fetch again: "
                     f"{f['error']}")
            after = ""
            if not r.dry_run and r.quota_after and r.quota_after.percent is not None:
                after = f", now {r.quota_after.percent:.1f}%"
            output.report(f"{r.account}: {where}; {verb} {len(r.deleted)} message(s), "
                          f"{_size(r.freed_bytes)}{after}; kept {r.kept}"
                          + (f"; settled {r.settled} left by an interrupted pass"
                             if r.settled else "")
                          + (f"; {r.vanished} already gone" if r.vanished else ""))
            if r.alert:
                q = r.quota_after or r.quota_before
                _err(f"{r.account}: quota {r.alert}: {q.percent:.1f}% used (thresholds "
                     "[housekeeping] warning_percent / critical_percent); see `wpec alerts`")
            if r.target_met is False:
                _err(f"{r.account}: usage target not met: nothing else is eligible")
            for e in r.errors:
                _err(f"{r.account}: {e}")
    if failed:
        raise typer.Exit(1)

