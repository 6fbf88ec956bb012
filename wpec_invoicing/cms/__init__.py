"""CMS (PKCS#7) signatures: verify S/MIME and CAdES `.p7m`, sign, judge trust, make certs.

Pure: bytes in, values out. PEC envelopes/receipts and signed invoices share this layer.

May import: `errors`, `resources` and the other formats' pure helpers; never `store`,
services, `app/` or the interfaces (no I/O: the caller reads the trust store's files).
"""

from .sign import sign_attached, sign_detached
from .trust import TrustStore
from .verify import CmsError, SignatureVerdict, open_signed_data, verify_detached

__all__ = [
    "CmsError",
    "SignatureVerdict",
    "TrustStore",
    "open_signed_data",
    "sign_attached",
    "sign_detached",
    "verify_detached",
]
