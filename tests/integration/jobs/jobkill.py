"""Run `wpec ARGS...` and SIGKILL it at the N-th call of one job's inner step:

    python jobkill.py send:3 worker ...       # inside the 3rd SMTP submission, after the 250
    python jobkill.py sync:2 worker ...       # inside the 2nd folder fetch of a sync
    python jobkill.py housekeep:1 worker ...  # at the start of the 1st housekeeping pass

WHY a wrapper (as tests/integration/outbox/killwrap.py): a kill from outside cannot be timed
to land inside a job; wrapping the step in this test-only process gives a real SIGKILL
there, with no test switch in the product.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def main() -> None:
    where, _, count = sys.argv[1].partition(":")
    limit, args = int(count), sys.argv[2:]
    lock = threading.Lock()
    calls = {"n": 0}

    def tick() -> None:
        with lock:
            calls["n"] += 1
            if calls["n"] >= limit:
                os.kill(os.getpid(), signal.SIGKILL)

    if where == "send":
        from wpec_invoicing.mailbox import smtp

        original = smtp.SmtpClient.send

        def send(self, *a, **kw):
            result = original(self, *a, **kw)
            tick()  # the provider has it; we never record it: receipts must decide
            return result

        smtp.SmtpClient.send = send  # type: ignore[method-assign]
    elif where == "sync":
        from wpec_invoicing.mailbox.sync import Mailbox

        original_fetch = Mailbox._fetch_folder

        def fetch(self, *a, **kw):  # any signature: a changed one must not defuse the kill
            result = original_fetch(self, *a, **kw)
            tick()  # archived and committed, not yet processed nor acted on
            return result

        Mailbox._fetch_folder = fetch  # type: ignore[method-assign]
    elif where == "housekeep":
        from wpec_invoicing.housekeeping.deleter import Housekeeper

        original_run = Housekeeper.run

        def run(self, *a, **kw):
            tick()
            return original_run(self, *a, **kw)

        Housekeeper.run = run  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown kill point {where!r}")
    sys.argv = ["wpec", *args]
    from wpec_invoicing.cli import main as wpec_main

    wpec_main()


if __name__ == "__main__":
    main()
