"""The application layer: what a user or an integrator can do, one function per use case.

Every interface (the `wpec` CLI, the REST API, the console, the worker, the demo) calls this
package and nothing below it: no module under `cli/`, `web/` or `demo.py` imports `store/` or
SQLAlchemy (a test enforces it). Keeping one door means the four faces of the product cannot
drift apart, and each rule (who may do what, which event an integrator sees) is written once.

Conventions every module here follows:
- A module per use-case area (`received`, `sent`, `messages`, `suppliers`, `accounts`,
  `alerts`, `events`, `tokens`, `audit`, `render`, `housekeeping`, `trust`, ...).
- Functions take an `AppContext` first (`context.py`: the configuration and the store, opened
  once per process or request) and then plain arguments or pydantic models; they return
  pydantic models (`models.py` holds the shared ones) and raise the errors of `errors.py`.
- A function owns its transaction (`with ctx.session() as s:`), and a change that matters to an
  integrator writes its event in that same transaction.
- Listing functions take filters, a `cursor` and a `limit`, and return a `Page` (items and the
  `next_cursor`): keyset pagination, so page 500 costs what page 1 does.

May import: services, storage and formats. Must not import: `cli/`, `web/`.
"""
