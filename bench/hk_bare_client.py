"""The baseline of bench/housekeep.py: a bare imapclient process that does only the server
work of a housekeeping pass (TLS login, SELECT, then per batch UID STORE +FLAGS.SILENT
\\Deleted and UID EXPUNGE of the same UIDs, logout); prints its wall time as JSON.

    python bench/hk_bare_client.py PORT CAFILE LOGIN BATCH UID...   (password: $WPEC_BENCH_HK_PW)
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time

start = time.perf_counter()
from imapclient import IMAPClient  # noqa: E402


def main() -> None:
    port, cafile, login, batch = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    uids = [int(u) for u in sys.stdin.read().split()]
    ctx = ssl.create_default_context(cafile=cafile)
    with IMAPClient("127.0.0.1", port=port, ssl=True, ssl_context=ctx, timeout=600) as c:
        c.login(login, os.environ["WPEC_BENCH_HK_PW"])
        c.select_folder("INBOX")
        for i in range(0, len(uids), batch):
            part = uids[i:i + batch]
            c.add_flags(part, [b"\\Deleted"], silent=True)
            c.uid_expunge(part)
        commands = c._imap.tagnum
    print(json.dumps({"seconds": time.perf_counter() - start, "commands": commands,
                      "deleted": len(uids)}))


if __name__ == "__main__":
    main()
