"""The `print` rule action: file a message's parts as PDFs and/or print them through CUPS.

    [rules.kinds.sdi-invoice]
    actions = [{ action = "print", parts = ["header", "body", "attachments"],
                 folder = "{kind}/{date:%Y}/{sender}", printer = "Ufficio" }]

`folder` is a path template as for `save` (same fields, under `rules.save_dir`); `printer` a
CUPS queue (`server` optionally a CUPS server for `lp -h`). At least one of the two. The action
only queues a job in the message's processing transaction (so it cannot slow down or fail the
sync); `render.printing.run_print_jobs` carries it out after the sync, retrying and alerting.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wpec_invoicing.render.printing import PARTS
from wpec_invoicing.rules.actions import ActionContext

_OPTIONS = {"parts", "folder", "printer", "server"}


def print_factory(options: dict[str, Any]):
    """Check the options once per rule; the action queues one job per message."""
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ValueError(f"print: unknown option(s) {', '.join(unknown)} "
                         f"(use: {', '.join(sorted(_OPTIONS))})")
    parts = options.get("parts", list(PARTS))
    if not isinstance(parts, list) or not parts or any(p not in PARTS for p in parts):
        raise ValueError(f"print: parts must be a non-empty list of {', '.join(PARTS)}")
    folder, printer = options.get("folder"), options.get("printer")
    if not folder and not printer:
        raise ValueError("print: give a folder (path template), a printer, or both")
    for name in ("folder", "printer", "server"):
        if options.get(name) is not None and not isinstance(options[name], str):
            raise ValueError(f"print: {name} must be a string")

    def action(ctx: ActionContext) -> str:
        from wpec_invoicing.rules.files import render_path
        from wpec_invoicing.store.render_models import PrintJob

        target = None
        if folder:
            pec, msg = ctx.pec, ctx.message
            when = pec.timestamp or msg.first_seen_at or datetime.now(UTC)
            target = render_path(folder, root=Path(ctx.config.rules.save_dir), kind=ctx.kind,
                                 date=when, sender=pec.sender,
                                 subject=pec.original_subject or pec.subject,
                                 message_id=msg.id, sha256=msg.sha256)
        job = PrintJob(message_id=ctx.message.id, kind=ctx.kind, parts=list(parts),
                       folder=str(target) if target else None, printer=printer,
                       server=options.get("server"), status="pending", attempts=0)
        ctx.session.add(job)
        ctx.session.flush()
        where = " and ".join(x for x in (f"folder {target}" if target else None,
                                          f"printer {printer}" if printer else None) if x)
        return f"print job {job.id} queued ({', '.join(parts)}) for {where}"

    return action



