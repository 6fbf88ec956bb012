"""Run `wpec ARGS...` and SIGKILL it at an exact point of its N-th SMTP submission.

    python killwrap.py after N ARGS...    # right after the provider's 250, before the commit
    python killwrap.py before N ARGS...   # after the claim was committed, before any byte

WHY a wrapper and not a hook in the product: these are the two crash points that matter for
"never lost, never twice" (the provider has the message but we never recorded it; we claimed
it but never sent it), and a kill from outside cannot be timed to land there. Wrapping
`SmtpClient.send` in this test-only process gives the same real SIGKILL at the same place
without any test switch in production code.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def main() -> None:
    mode, limit, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if mode not in ("after", "before"):
        raise SystemExit(f"mode must be 'after' or 'before', not {mode!r}")
    from wpec_invoicing.mailbox import smtp

    original = smtp.SmtpClient.send
    lock = threading.Lock()
    calls = {"n": 0}

    def send(self, *a, **kw):
        if mode == "before":
            with lock:
                calls["n"] += 1
                if calls["n"] >= limit:
                    os.kill(os.getpid(), signal.SIGKILL)
        result = original(self, *a, **kw)
        if mode == "after":
            with lock:
                calls["n"] += 1
                if calls["n"] >= limit:
                    os.kill(os.getpid(), signal.SIGKILL)
        return result

    smtp.SmtpClient.send = send  # type: ignore[method-assign]
    sys.argv = ["wpec", *args]
    from wpec_invoicing.cli import main as wpec_main

    wpec_main()


if __name__ == "__main__":
    main()
