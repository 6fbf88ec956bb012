"""The mailbox: IMAP sync (`sync.Mailbox`: fetch each new message once, store it raw, run
the ingestion pipeline, then move/flag on the server), SMTP sending, and the retry of messages
whose processing failed.

May import: `ingest`, `rules`, `store`, `exporters`, formats, `config`, `errors`; never
`outbox` (it hears about received messages through `ingest.observers`), `app/` or the
interfaces.
"""
