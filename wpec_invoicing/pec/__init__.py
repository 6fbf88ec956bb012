"""PEC (Posta Elettronica Certificata): classify, verify, unwrap and build provider messages.

Pure: bytes in, values out. `inspect(raw)` reads any message; `wpec_invoicing.pec.builder`
makes every kind a provider makes.

May import: `cms`, `sdi`, `fatturapa`, `errors`; never `store`, services, `app/` or the
interfaces (no I/O).
"""

from wpec_invoicing.pec.daticert import Daticert, DaticertError, Destinatario, parse_daticert
from wpec_invoicing.pec.kinds import Kind
from wpec_invoicing.pec.message import Attachment, Bounce, PecMessage, inspect, list_attachments

__all__ = [
    "Attachment",
    "Bounce",
    "Daticert",
    "DaticertError",
    "Destinatario",
    "Kind",
    "PecMessage",
    "inspect",
    "list_attachments",
    "parse_daticert",
]
