"""The REST API (`wpec serve`): FastAPI over `app/`, under `/api/v1`.

`create_app(ctx)` builds it: one router per resource (`routes/`), bearer tokens and roles
(`auth.py`), problem+json errors (`problems.py`), body limit, Idempotency-Key and audit
(`middleware.py`). The console (another interface) mounts its own router at `/` through
`create_app(..., extra_routers=[...])`, and PDF routes join when `app/render.py` exists.
"""

from wpec_invoicing.web.api.application import create_app

__all__ = ["create_app"]
