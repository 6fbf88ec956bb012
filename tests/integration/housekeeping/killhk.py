"""Run `wpec ARGS...` and SIGKILL it around its K-th IMAP command.

    python killhk.py K before|after ARGS...

WHY a wrapper and not a hook in the product: the interesting crash points of housekeeping are
between IMAP commands (after the audit commit and before UID STORE, between STORE and UID
EXPUNGE, after EXPUNGE and before the `done` commit); counting the commands this process sends
and killing itself with a real SIGKILL just before one is sent, or just after it is sent (its
answer not yet read), lands exactly there without any test switch in production code.
"""

from __future__ import annotations

import imaplib
import os
import signal
import sys


def main() -> None:
    limit, mode, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    original = imaplib.IMAP4._command
    calls = {"n": 0}

    def command(self, *a, **kw):
        calls["n"] += 1
        if mode == "before" and calls["n"] >= limit:
            os.kill(os.getpid(), signal.SIGKILL)
        tag = original(self, *a, **kw)
        if mode == "after" and calls["n"] >= limit:
            os.kill(os.getpid(), signal.SIGKILL)
        return tag

    imaplib.IMAP4._command = command
    sys.argv = ["wpec", *args]
    from wpec_invoicing.cli import main as wpec_main

    wpec_main()


if __name__ == "__main__":
    main()
