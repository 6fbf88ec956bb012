"""Mailbox housekeeping: watch the quota, delete what the retention policy allows (only after
re-verifying the archive copy), hold and restore messages, verify and export the archive.

Why a package of its own: a PEC box has a hard quota and a full box bounces invoices and SdI
notifications, so deleting is necessary; but deleting is also the one operation that can lose
a legal document. The decision (`policy`, pure: messages + policy + clock → what goes and why)
is kept apart from the act (`deleter`: re-hash, UID STORE \\Deleted + UID EXPUNGE of our own
UIDs, audited), so the first can be proven exhaustively and the second kept small.

May import: formats, `store/`, `mailbox/` (IMAP), `accounts/` (a box that refuses writes is
a suspended one: its lifecycle is told); never `app/`, `cli/` or `web/`.
"""
