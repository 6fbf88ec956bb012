"""Processes of this machine: whether one is still there.

Shared by the outbox's crash recovery (is the worker that claimed a message alive?) and the
sandbox's control file (is the sandbox that wrote it still running?). May import: the
standard library only.
"""

from __future__ import annotations

import os


def pid_exists(pid: int) -> bool:
    """True when a process with this id exists. Signal 0 sends nothing; a process of another
    user exists too (the kernel refuses the signal, it does not deny the process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
