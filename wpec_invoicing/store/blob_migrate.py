"""Moving the archive from one backend to another, verifying every blob, resumable.

Why this shape: the archive is the legal copy of every message and invoice, so a move must
prove each blob twice (the source's bytes hash to their name before they are copied; the
destination's bytes, read back, hash to it after) and a move killed half-way must be
restartable with nothing lost and nothing doubled. Content addressing gives both almost for
free: a blob already at the destination is re-verified instead of copied again (and repaired
when its bytes are wrong), each destination write is atomic (a file renamed into place, a
PostgreSQL transaction), and a blob's name is its key, so it can never be there twice.
The source is left as it is: switching `[archive] backend` and removing the old copy are the
operator's decisions, after a successful run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from wpec_invoicing.store.blob_base import CHUNK_BYTES, ArchiveError, BlobArchive, sha256_hex

BATCH_BLOBS = 200
BATCH_BYTES = 16 << 20


@dataclass
class MigrationReport:
    source: str
    target: str
    blobs: int = 0  # seen in the source
    copied: int = 0
    already: int = 0  # at the destination and sound (a resumed run)
    repaired: int = 0  # at the destination but corrupt: written again
    bytes_copied: int = 0
    bad: list[dict] = field(default_factory=list)  # source copy missing/corrupt: not copied

    @property
    def ok(self) -> bool:
        return not self.bad


def _batches(source: BlobArchive) -> Iterator[list[tuple[str, int]]]:
    """(sha256, size) in key order, cut by count and by bytes."""
    names: list[str] = []

    def sized(chunk: list[str]) -> Iterator[list[tuple[str, int]]]:
        sizes = source.sizes(chunk)
        cur: list[tuple[str, int]] = []
        total = 0
        for sha in chunk:
            size = sizes.get(sha, -1)
            cur.append((sha, size))
            total += max(size, 0)
            if total >= BATCH_BYTES:
                yield cur
                cur, total = [], 0
        if cur:
            yield cur

    for sha in source.digests():
        names.append(sha)
        if len(names) >= BATCH_BLOBS:
            yield from sized(names)
            names = []
    if names:
        yield from sized(names)


def migrate(source: BlobArchive, target: BlobArchive, *,
            progress: Callable[[MigrationReport], None] | None = None) -> MigrationReport:
    """Copy every blob of `source` into `target` (see the module docstring)."""
    report = MigrationReport(source.describe(), target.describe())
    for batch in _batches(source):
        report.blobs += len(batch)
        present = target.sizes([sha for sha, _size in batch])
        at_target = target.check([(sha, size) for sha, size in batch if sha in present])
        small: list[bytes] = []
        written: list[str] = []
        for sha, size in batch:
            if sha in at_target and at_target[sha] is None:
                report.already += 1
                continue
            repair = sha in at_target
            if size < 0:
                report.bad.append({"sha256": sha, "problem": "vanished from the source"})
                continue
            if size > CHUNK_BYTES:  # big: verify by streaming, then stream across
                problem = source.problem(sha, size)
                if problem:
                    report.bad.append({"sha256": sha, "problem": f"source copy {problem}"})
                    continue
                if repair:
                    target.repair(source.get(sha))
                else:
                    digest, _n = target.put_stream(source.iter_chunks(sha))
                    if digest != sha:
                        raise ArchiveError(f"blob {sha} changed while it was copied")
            else:
                try:
                    data = source.get(sha)
                except ArchiveError as exc:
                    report.bad.append({"sha256": sha, "problem": f"source copy {exc}"})
                    continue
                if sha256_hex(data) != sha or len(data) != size:
                    report.bad.append({"sha256": sha, "problem": "source copy corrupt (its "
                                       f"bytes hash to {sha256_hex(data)[:12]}…)"})
                    continue
                if repair:
                    target.repair(data)
                else:
                    small.append(data)
            written.append(sha)
            report.repaired += repair
            report.copied += not repair
            report.bytes_copied += size
        if small:
            target.put_many(small)  # one transaction / one round of folder fsyncs
        sizes = dict(batch)
        for sha, problem in target.check([(sha, sizes[sha]) for sha in written]).items():
            if problem:  # the destination does not give back what it was given: stop
                raise ArchiveError(f"blob {sha} reads back wrong from {target.describe()}: "
                                   f"{problem}")
        if progress is not None:
            progress(report)
    return report
