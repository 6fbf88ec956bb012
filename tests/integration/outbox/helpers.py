"""Helpers for the outbox tests: a store + outbox on a config dict, PEC messages from a
provider built with the PEC engine (signed with a throwaway CA)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from wpec_invoicing.config import config_from_dict
from wpec_invoicing.outbox.queue import Outbox
from wpec_invoicing.pec import builder, inspect

COMPANY = {"name": "Azienda Demo S.r.l.", "vat": "IT01234567897", "fiscal_code": "01234567897"}
SUPPLIER_ADDRESS = {"street": "Via Roma", "number": "1", "postal_code": "00100",
                    "city": "Roma", "province": "RM"}
ADDRESS = "azienda@pec.sandbox.test"


def make_outbox(tmp_path: Path, store_url: str | None = None, **outbox_options) -> Outbox:
    data = {
        "data_dir": str(tmp_path / "data"),
        **({"store_url": store_url} if store_url else {}),
        "company": COMPANY,
        "accounts": [{
            "name": "main", "address": ADDRESS, "password_env": "WPEC_TEST_UNUSED",
            "smtp": {"host": "127.0.0.1", "port": 1, "tls": "implicit"},
        }],
        "outbox": {"supplier": SUPPLIER_ADDRESS, **outbox_options},
    }
    return Outbox(config_from_dict(data, base=tmp_path))


@cache
def provider(domain: str = "pec.sandbox.test") -> builder.Provider:
    from wpec_invoicing.cms.certs import issue_certificate, make_ca

    ca_key, ca_cert = make_ca("Test PEC CA")
    key, cert = issue_certificate(ca_key, ca_cert, f"Gestore {domain}",
                                  email=f"posta-certificata@{domain}")
    return builder.Provider(domain=domain, gestore=f"Gestore {domain}",
                            signer=builder.Signer(key, cert))


def store_and_observe(outbox: Outbox, raw: bytes):
    """What the sync does with one message: archive + record it, then call the observer,
    as the pipeline does: only when it `concerns` the outbox and the group look-up
    (`prepare`) finds it matches something sent (a filter that missed a match fails here)."""
    from wpec_invoicing.ingest import store_raw_message
    from wpec_invoicing.outbox.correlate import concerns, on_message, prepare

    pec = inspect(raw)
    store = outbox.store
    with store.session() as s:
        msg, _created = store_raw_message(s, store.archive, raw, source="import")
        msg.kind = pec.kind.value
        msg.ref_message_id = pec.ref_message_id
        s.flush()
        if concerns(pec) and prepare(s, [pec])(pec):
            on_message(s, msg, pec)
    return pec


def sync_until(sync, ready, *, timeout: float = 30.0, what: str = "the receipts"):
    """Call `sync()` until `ready()` is truthy (returned) or `timeout` seconds pass (fail).

    WHY: `Sandbox.wait_idle` waits for SdI's queue only; the provider's receipts (accettazione,
    consegna) are written by other threads and may land after it returns, more so on a loaded
    CI machine. A single sync would then see half of them: the test must wait for what it
    asserts, with a bound so a real failure still fails."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        sync()
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.3)
