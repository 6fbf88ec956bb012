"""Ingestion: the one path every received message takes, whether synced, imported or retried.

Stages, each a module with one job, run in this order by `pipeline.Pipeline`:

1. `store_raw`   — the raw bytes into the archive (fsynced) and one record per sha256;
2. `recognise`   — what the message is (PEC kind, SdI payload, plugin document type);
3. `verify`      — what is wrong with it (unreadable, a file cut short) and the envelope's
                   proof of origin handed to its invoices;
4. `invoices`    — the supplier invoices it carries, registered and verified (`rules.passive`);
5. decide        — `rules.plan.decide`, a pure function: message facts + config → a plan;
6. `act`         — the plan carried out (files saved, quarantine, actions, server actions
                   queued for the sync, exports queued);
7. `events`      — what happened, told to whoever registered for it (`observers`).

The store is passed once, in the `IngestContext`.

May import: formats (`pec`, `sdi`, `fatturapa`, `cms`), `store`, `rules`, `config`, `inputs`,
`errors`, `collector` (in its own worker processes); never `mailbox`, `outbox`, `app` or the
interfaces (other services hear from ingestion through `observers`).
"""

from typing import Any

# Lazy: `startup` registers observers through `ingest.observers` at every command's start,
# and a command that never ingests must not pay for the store and the PEC engine.
_EXPORTS = {
    "IngestContext": "context", "load_trust": "context", "MAX_PROCESS_BYTES": "pipeline",
    "Outcome": "pipeline", "Pipeline": "pipeline", "store_raw_message": "store_raw",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(f"wpec_invoicing.ingest.{_EXPORTS[name]}"), name)
    raise AttributeError(name)
