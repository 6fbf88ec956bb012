"""Rules: what to do with each kind of received message, and how a supplier invoice is judged.

The rules *decide*: `kinds` (what kind a message is, which rule applies), `plan.decide` (a
pure function: message facts + config → a plan of actions), `files` (safe names, path
templates, the accepted-formats allow-list), `actions` (the registry of named actions). The
invoice verdict lives in `passive` (strict validation, the company, the supplier registry
of `suppliers`, duplicates, totals, signatures) and its presentation in `invoices`. The
ingestion pipeline (`ingest/`) carries the plans out.

May import: `store`, formats, `config`, `inputs`, `errors`; never `ingest`, `mailbox`, `outbox`,
`app/` or the interfaces (actions of other services register themselves by name).
"""
