"""`wpec events --after ID [--follow]`: the event stream integrators follow, one per line."""

from __future__ import annotations

from typing import Annotated

import typer

from wpec_invoicing.cli.tokens import ConfigOpt, JsonOpt, _ctx, _dump, _when


def events_command(
    after: Annotated[int, typer.Option("--after", metavar="ID", min=0,
                                       help="Only events after this id.")] = 0,
    follow: Annotated[bool, typer.Option("--follow", "-f",
                                         help="Keep printing new events (Ctrl-C to stop).")
                      ] = False,
    types: Annotated[list[str] | None, typer.Option(
        "--type", metavar="TYPE", help="Only this type; a value ending in '.' is a prefix "
        "(repeatable).")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, max=500,
                                       help="At most this many (without --follow).")] = 500,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Events after an id, oldest first (with --json: one JSON object per line)."""
    from wpec_invoicing.app import events

    def show(e) -> None:
        if json_out:
            _dump(e.model_dump(mode="json"))
        else:
            payload = " ".join(f"{k}={v}" for k, v in (e.payload or {}).items()
                               if v not in (None, [], ""))
            print(f"{e.id}\t{_when(e.at)}\t{e.type}\t{e.subject_type}:{e.subject_id}\t{payload}",
                  flush=True)

    with _ctx(config) as ctx:
        if not follow:
            for e in events.list_events(ctx, after=after, limit=limit, types=types).items:
                show(e)
            return
        try:
            for e in events.follow(ctx, after=after, types=types):
                show(e)
        except KeyboardInterrupt:
            return


def register(app: typer.Typer) -> None:
    app.command("events")(events_command)
