"""The files a command line names: folders walked once, trust stores read from a file or folder.

Paths stay plain strings from the argument parser to `open()`: converting each of 10,000 file
arguments into a validated `Path` object cost more than reading some of the files. Folders are
walked lazily (a generator), so a command streams over a year of files in flat memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from wpec_invoicing.errors import InputError

INVOICE_SUFFIXES = (".xml", ".p7m")
MESSAGE_SUFFIXES = (".eml",)
PEM_SUFFIXES = (".pem", ".crt", ".cer")


def walk(args: Iterable[str], suffixes: tuple[str, ...]) -> Iterator[str]:
    """Each argument as given; a folder stands for the files with `suffixes` anywhere under it
    (sorted, hidden files and folders skipped, symbolic links to folders not followed). A
    folder that cannot be listed is yielded itself, so the caller reports it as unreadable."""
    for arg in args:
        if arg == "-" or not os.path.isdir(arg):
            yield arg
            continue
        errors: list[OSError] = []
        for root, dirs, files in os.walk(arg, onerror=errors.append):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith(".") and name.lower().endswith(suffixes):
                    yield os.path.join(root, name)
            while errors:
                yield errors.pop(0).filename or arg
        while errors:
            yield errors.pop(0).filename or arg


def missing(args: Iterable[str]) -> list[str]:
    """The arguments that name nothing at all (not even a broken link)."""
    return [a for a in args if a != "-" and not os.path.lexists(a)]


def load_trust_store(path: str) -> Any:
    """A TrustStore from a PEM file, or from every .pem/.crt/.cer file of a folder."""
    from wpec_invoicing.cms import TrustStore
    from wpec_invoicing.inputs import check_regular, read_file

    if os.path.isdir(path):
        files = sorted(os.path.join(path, n) for n in os.listdir(path)
                       if n.lower().endswith(PEM_SUFFIXES))
        if not files:
            raise InputError(f"trust store {path}: no .pem/.crt/.cer file in this folder")
    elif os.path.isfile(path):
        files = [path]
    else:
        try:
            check_regular(path)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not os.path.islink(path):
                raise InputError(f"trust store {path}: no such file or folder") from None
            raise InputError(f"trust store {path}: {exc.strerror or exc}") from None
        files = [path]
    data = b""
    for file in files:
        try:
            data += read_file(file, max_bytes=50 * 1024 * 1024) + b"\n"
        except OSError as exc:
            raise InputError(f"trust store {file}: cannot read ({exc.strerror or exc})") from None
    try:
        return TrustStore.from_pem(data)
    except ValueError as exc:
        raise InputError(f"trust store {path}: no PEM certificate found ({exc})") from None
