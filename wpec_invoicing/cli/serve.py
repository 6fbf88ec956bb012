"""`wpec serve`: the REST API (see README "REST API"). Loopback unless told otherwise; a
public address needs TLS or --behind-proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.options import ConfigOpt, JsonOpt


def serve_command(
    host: Annotated[str | None, typer.Option("--host", metavar="ADDRESS",
                                             help="Address to listen on (default "
                                             "[api] host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", metavar="N", min=1, max=65535,
                                             help="Port (default [api] port, 8040).")] = None,
    certfile: Annotated[Path | None, typer.Option("--certfile", metavar="FILE",
                                                  help="TLS certificate (PEM).")] = None,
    keyfile: Annotated[Path | None, typer.Option("--keyfile", metavar="FILE",
                                                 help="TLS private key (PEM).")] = None,
    behind_proxy: Annotated[bool, typer.Option(
        "--behind-proxy", help="A TLS-terminating proxy is in front: allow a non-loopback "
        "address without TLS and trust its X-Forwarded-For.")] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Serve the REST API (/api/v1, docs at /api/docs) until interrupted."""
    from wpec_invoicing.app.context import AppContext
    from wpec_invoicing.web.server import ServeOptions, check, serve

    ctx = AppContext.load(config)
    api = ctx.config.api
    options = ServeOptions(
        host=host or api.host, port=port or api.port,
        certfile=certfile or api.certfile, keyfile=keyfile or api.keyfile,
        behind_proxy=behind_proxy or api.behind_proxy,
        body_limit=int(api.body_limit_mb * 1024 * 1024))
    check(options)
    scheme = "https" if options.certfile else "http"
    url = f"{scheme}://{options.host}:{options.port}/api/v1"
    if json_out:
        output.dump_json({"serving": url, "docs": url.removesuffix("/v1") + "/docs"})
    else:
        output.note(f"serving {url} (docs at {url.removesuffix('/v1')}/docs); Ctrl-C stops")
    with ctx:
        ctx.store  # noqa: B018 (open and migrate the store before listening)
        serve(ctx, options)

