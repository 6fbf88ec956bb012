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
`errors`; never `mailbox`, `outbox`, `app` or the interfaces (other services hear from
ingestion through `observers`).
"""

from wpec_invoicing.ingest.context import IngestContext, load_trust
from wpec_invoicing.ingest.pipeline import MAX_PROCESS_BYTES, Outcome, Pipeline
from wpec_invoicing.ingest.store_raw import store_raw_message

__all__ = ["MAX_PROCESS_BYTES", "IngestContext", "Outcome", "Pipeline", "load_trust",
           "store_raw_message"]
