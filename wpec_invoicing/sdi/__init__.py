"""SdI (Sistema di Interscambio) over PEC: notification files of both families, and what an SdI
mail carries. Pure: bytes in, values out.

May import: `cms`, `fatturapa`, `errors`; never `store`, services, `app/` or the
interfaces (no I/O).
"""

from wpec_invoicing.sdi.messages import (
    B2B_NS,
    PA_NS,
    NotificationError,
    RiferimentoFattura,
    SdiError,
    SdiNotification,
    build_notification,
    decode_notification,
    mail_subject,
    notification_file_name,
    parse_notification_name,
)
from wpec_invoicing.sdi.payload import (
    SdiPayload,
    is_invoice_file_name,
    is_sdi_address,
    sdi_payload,
)

__all__ = [
    "B2B_NS",
    "PA_NS",
    "NotificationError",
    "RiferimentoFattura",
    "SdiError",
    "SdiNotification",
    "SdiPayload",
    "build_notification",
    "decode_notification",
    "is_invoice_file_name",
    "is_sdi_address",
    "mail_subject",
    "notification_file_name",
    "parse_notification_name",
    "sdi_payload",
]
