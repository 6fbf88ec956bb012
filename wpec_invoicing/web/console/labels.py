"""Words the templates translate from data (states, roles, decisions, timeline events), listed
here so the catalog extraction (`babel.cfg`, keyword N_) sees them."""


def N_(message: str) -> str:  # gettext's conventional marker name
    return message


LABELS = (
    # roles
    N_("viewer"), N_("operator"), N_("admin"), N_("integrator"),
    # received invoices
    N_("verified"), N_("needs-review"), N_("refused"), N_("approved"),
    # sent invoices (SdI and queue states)
    N_("queued"), N_("sent"), N_("accepted"), N_("delivered-to-sdi"), N_("delivered"),
    N_("not-delivered"), N_("rejected"), N_("not-accepted"), N_("send-failed"),
    N_("accepted-by-pa"), N_("refused-by-pa"), N_("terms-expired"),
    N_("transmission-attested"), N_("failed"), N_("sending"),
    # messages
    N_("processed"), N_("error"), N_("archived"),
    # suppliers
    N_("known"), N_("blocked"), N_("unknown"),
    # timeline events: the outbox's own, the provider's receipts, SdI's notifications
    N_("requeued"), N_("replaces"), N_("throttled"), N_("uncertain"), N_("verify-later"),
    N_("not-found-yet"), N_("orphaned"), N_("recipient"), N_("account-failed"),
    N_("no-acceptance"), N_("accettazione"), N_("non-accettazione"), N_("presa-in-carico"),
    N_("avvenuta-consegna"), N_("errore-consegna"), N_("preavviso-errore-consegna"),
    N_("rilevazione-virus"), N_("RC"), N_("NS"), N_("MC"), N_("NE"), N_("DT"), N_("AT"),
    N_("EC"),
    # retention groups and message kinds (Caselle)
    N_("receipts"), N_("sdi-notification"), N_("sdi-invoice"), N_("posta-certificata"),
    N_("anomalia"), N_("non-pec"),
    # error page titles
    N_("Forbidden"), N_("Not found"), N_("Not possible now"), N_("Login refused"),
    N_("Request refused"),
)

CSRF_FAILED = N_("This form has expired or did not come from this console: reload the page "
                 "and try again.")
