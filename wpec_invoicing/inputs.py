"""Reading a file the user named, without hanging or surprising anyone.

WHY: `Path.read_bytes()` on a FIFO blocks forever, on `/dev/zero` never ends, and on a broken
symbolic link says only "No such file or directory". Every command that reads a file the
operator gave (an invoice, a CSV, a password file, a CA file) goes through `read_file`, which
opens without blocking, refuses anything that is not a regular file, and caps the size.

Failures are `OSError`s with a readable `strerror`, so the callers' existing
`except OSError as exc: ... exc.strerror` handlers print a clear reason unchanged.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: Path | str) -> None:
    """Raise OSError unless `path` is (a link to) an existing regular file; never blocks.

    Plain `os` calls on the string: a command reading 10,000 files pays no `Path` per file."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError(
                errno.ENOENT, f"broken symbolic link (to {os.readlink(path)})", path
            ) from None
        raise
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory, not a file", path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, f"not a regular file: it is {_not_regular(st.st_mode)}",
                      path)


def read_file(path: Path | str, *, max_bytes: int | None = None) -> bytes:
    """The bytes of a regular file (at most `max_bytes`), or an OSError saying why not."""
    path = os.fspath(path)
    check_regular(path)
    # O_NONBLOCK: if the path was swapped for a FIFO after the check, open() still returns.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file: it is {_not_regular(st.st_mode)}",
                          path)
        if max_bytes is not None and st.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"too large ({st.st_size} bytes, limit {max_bytes})",
                          path)
        # Read the size fstat gave (one system call for an invoice), then to the real end
        # (a file growing meanwhile), never past max_bytes + 1.
        limit = None if max_bytes is None else max_bytes + 1
        chunks = []
        want = st.st_size + 1 if limit is None else min(st.st_size + 1, limit)
        total = 0
        while True:
            # after the size fstat gave, a 1-byte look for the end (not a 64 KB buffer
            # allocated per file only to find nothing); a file that grew is read on
            ask = want if not total else 1 if total == st.st_size else max(want, 65536)
            chunk = os.read(fd, ask)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if limit is not None and total >= limit:
                break
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)
    if max_bytes is not None and len(data) > max_bytes:
        raise OSError(errno.EFBIG, f"too large (over {max_bytes} bytes)", path)
    return data
