"""`wpec jobs [--json]` and `wpec jobs retry ID`: the job queue's state (PostgreSQL).

Thin: call `app.jobs`, print. The table has one line per kind and account with the jobs
queued, running, failed and stalled, then the failed and stalled jobs by id (what `retry`
takes). Exit 1 when any job is failed or stalled, so a monitoring check can use it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from wpec_invoicing.cli import configured, output
from wpec_invoicing.cli.options import ConfigOpt, JsonOpt

jobs_app = typer.Typer(help="The job queue: queued, running, failed and stalled jobs.",
                       invoke_without_command=True, add_completion=False,
                       rich_markup_mode=None)


def _ctx(config: str | None):
    from wpec_invoicing.app.context import AppContext

    return AppContext(configured.require(config, "jobs"))


@jobs_app.callback()
def jobs_list(typer_ctx: typer.Context, json_out: JsonOpt = False,
              config: ConfigOpt = None) -> None:
    """Jobs per kind and account: queued, running, failed, stalled; the failed and stalled
    ones by id. Exit 1 when any is failed or stalled."""
    if typer_ctx.invoked_subcommand is not None:
        return
    from wpec_invoicing.app.jobs import overview

    with _ctx(config) as ctx:
        data = overview(ctx)
    if json_out:
        output.dump_json(data.model_dump(mode="json"))
    else:
        print(f"workers: {data.workers_alive} alive"
              + (f", {data.workers_silent} silent" if data.workers_silent else ""))
        if not data.counts:
            print("no job queued, running or failed")
        else:
            print(f"{'kind':<10} {'account':<24} {'queued':>6} {'running':>7} {'failed':>6} "
                  f"{'stalled':>7}")
            for c in data.counts:
                print(f"{c.kind:<10} {c.account or '-':<24} {c.queued:>6} {c.running:>7} "
                      f"{c.failed:>6} {c.stalled:>7}")
        for j in data.failed_or_stalled:
            print(f"{j.state.upper()} job {j.id}: {j.kind} {j.account or ''} after "
                  f"{j.attempts} attempt(s), last change {output.when(j.changed_at)} "
                  f"(`wpec jobs retry {j.id}`)")
    if data.failed_or_stalled:
        raise typer.Exit(output.EXIT_SOME_BAD)


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[int, typer.Argument(metavar="ID", min=1, max=2**63 - 1,
                                          help="The job's id (see `wpec jobs`).")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Queue a failed or stalled job again, to run now."""
    from wpec_invoicing.app.jobs import retry

    with _ctx(config) as ctx:
        job = retry(ctx, job_id)
    if json_out:
        output.dump_json(job.model_dump(mode="json"))
    else:
        output.report(f"job {job.id} ({job.kind} {job.account or ''}) queued again")
