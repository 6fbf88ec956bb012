"""Serve the console on a loopback port (uvicorn), and `wpec demo --serve`'s demo user.

Binds 127.0.0.1 by default: put a TLS-terminating proxy in front to reach it from other
machines (the session cookie is then marked Secure, with uvicorn's proxy headers on).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from wpec_invoicing.app.context import AppContext

DEMO_USER = "demo"


def serve(ctx: AppContext, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run `wpec serve`'s server (the API at /api/v1, the console at /) until interrupted."""
    from wpec_invoicing.web.server import ServeOptions
    from wpec_invoicing.web.server import serve as serve_all

    serve_all(ctx, ServeOptions(host=host, port=port))


def serve_demo(work_dir: Path, *, port: int = 8080,
               echo: Callable[[str], None] = print) -> None:
    """After `wpec demo`: the console on the demo's data, with a fresh admin user whose
    password is made now and printed once (the demo folder is thrown away on the next run)."""
    from wpec_invoicing.app import users

    ctx = AppContext.load(Path(work_dir) / "wpec.toml")
    password = secrets.token_urlsafe(12)
    users.add_user(ctx, DEMO_USER, role="admin", password=password, actor="demo")
    echo(f"console: http://127.0.0.1:{port}/  user: {DEMO_USER}  password: {password}  "
         "(Ctrl-C to stop)")
    serve(ctx, port=port)


def app_from_env():  # -> FastAPI; for `uvicorn --factory` (config from $WPEC_CONFIG)
    """What `wpec serve` serves (API + console) for the `wpec.toml` that `$WPEC_CONFIG` (or
    ./wpec.toml) names."""
    from wpec_invoicing.web.api import create_app
    from wpec_invoicing.web.console import mount_console

    ctx = AppContext.load()
    app = create_app(ctx)
    mount_console(app, ctx)
    return app
