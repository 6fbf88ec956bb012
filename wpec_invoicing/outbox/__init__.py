"""The active cycle: a persistent outbox that sends each invoice or document as its own PEC
message, throttled, retried, never lost, never sent twice, and follows every receipt.

    from wpec_invoicing.outbox import Outbox
    with Outbox(load_config()) as outbox:
        outbox.enqueue([outbox.prepare_invoice_file(data, "IT01234567897_00001.xml")])
        result = outbox.run(until_empty=True)

Modules: `queue` (Outbox: prepare, enqueue, run, status, history), `sender` (rate limit,
workers, retries, crash recovery), `recovery` (receipts and Sent folder decide), `correlate`
(the sync's observer: receipts and SdI notifications → states), `ratelimit`, `outcomes`,
`compose`, `invoices` (records → FatturaPA), `mailmerge`, `autoreply` (rule action).

May import: `store`, `mailbox.smtp` and `mailbox.imap` (the protocols), `rules.actions`,
formats, `config`, `errors`; never `ingest` or `mailbox.sync` (receipts reach it through the
observer registered at start-up), `app/` or the interfaces.
"""

from typing import Any

__all__ = ["Outbox", "Refusal", "Refused", "RunResult"]


def __getattr__(name: str) -> Any:  # lazy: the rules engine imports outbox.autoreply cheaply
    if name in __all__:
        from wpec_invoicing.outbox import queue

        return getattr(queue, name)
    raise AttributeError(name)
