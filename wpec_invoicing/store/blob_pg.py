"""The PostgreSQL archive backend: blobs in `archive_blobs` + `archive_blob_chunks`.

Why in the database: a deployment with workers on several machines then needs nothing but
PostgreSQL (no shared mount), backups of the data and of the archive are one backup, and
"durable" is PostgreSQL's commit (`synchronous_commit` on, its default). Each `put*` commits
its own transaction on its own pooled connection *before* returning, so a caller keeps the
rule "the blob is safe before the row that names it commits" whatever its own session does.

Big blobs are cut into 1 MiB chunks and streamed (`put_stream`, `iter_chunks`, `check`), so
memory stays flat in the size of a message. Verification reads the chunks through a
server-side cursor and hashes them in this process: the check is of the bytes as a reader
gets them, not of anything PostgreSQL says about itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from wpec_invoicing.store.blob_base import (
    CHUNK_BYTES,
    ArchiveError,
    BlobArchive,
    check_digest,
    hash_problem,
    sha256_hex,
)

CHECK_BATCH = 500  # blobs per verification query
COPY_FROM_ROWS = 32  # from this many chunk rows on, a batch is loaded with COPY


def _pieces(data: bytes) -> list[bytes]:
    if not data:
        return [b""]
    return [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]


class PostgresArchive(BlobArchive):
    """Blobs in the store's PostgreSQL database (the engine's pool, own transactions)."""

    backend = "postgresql"

    def __init__(self, engine) -> None:
        self.engine = engine

    def describe(self) -> str:
        return "postgresql " + self.engine.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator:
        """A driver cursor in a transaction that commits on success (durable on return)."""
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            try:
                yield cur
            finally:
                cur.close()
            raw.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                raw.rollback()
            raise
        finally:
            raw.close()

    # -- writing -----------------------------------------------------------------------------
    def put_many(self, blobs: list[bytes]) -> list[str]:
        """All new blobs of the batch in one transaction (one commit, one fsync of the WAL)."""
        digests = [sha256_hex(b) for b in blobs]
        if not blobs:
            return digests
        with self._transaction() as cur:
            cur.execute("SELECT sha256 FROM archive_blobs WHERE sha256 = ANY(%s)",
                        (list(set(digests)),))
            have = {r[0] for r in cur.fetchall()}
            todo: dict[str, bytes] = {}
            for digest, data in zip(digests, blobs, strict=True):
                if digest not in have:
                    todo.setdefault(digest, data)
            self._insert(cur, todo)
        return digests

    @staticmethod
    def _insert(cur, blobs: dict[str, bytes]) -> None:
        """Two executemany for the whole batch (chunk rows, then index rows)."""
        if not blobs:
            return
        now = datetime.now(UTC)
        chunks, index = [], []
        for digest, data in blobs.items():
            pieces = _pieces(data)
            chunks += [(digest, i, p) for i, p in enumerate(pieces)]
            index.append((digest, len(data), len(pieces), now))
        # ON CONFLICT: another worker storing the same bytes at the same moment; its rows
        # are identical (same digest), so whichever commits first wins and the other waits
        # for it on the key, then does nothing.
        if len(chunks) >= COPY_FROM_ROWS:
            # A big batch goes in by COPY (several times faster than row INSERTs) into a
            # session-local staging table, then one INSERT ... SELECT with the same rule.
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS wpec_blob_load (sha256 varchar(64), "
                        "seq int, data bytea) ON COMMIT DELETE ROWS")
            with cur.copy("COPY wpec_blob_load (sha256, seq, data) FROM STDIN") as copy:
                for row in chunks:
                    copy.write_row(row)
            cur.execute("INSERT INTO archive_blob_chunks (sha256, seq, data) SELECT sha256, "
                        "seq, data FROM wpec_blob_load ON CONFLICT DO NOTHING")
        else:
            cur.executemany("INSERT INTO archive_blob_chunks (sha256, seq, data) "
                            "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", chunks)
        cur.executemany("INSERT INTO archive_blobs (sha256, size, chunks, stored_at) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", index)

    def repair(self, data: bytes) -> str:
        digest = sha256_hex(data)
        with self._transaction() as cur:
            cur.execute("DELETE FROM archive_blob_chunks WHERE sha256 = %s", (digest,))
            cur.execute("DELETE FROM archive_blobs WHERE sha256 = %s", (digest,))
            self._insert(cur, {digest: data})
        return digest

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Rows are written under a temporary key while the digest is computed, then
        renamed in the same transaction (or dropped, when the blob was already there)."""
        temp = ("tmp-" + uuid.uuid4().hex + uuid.uuid4().hex)[:64]
        try:
            return self._put_stream(temp, chunks)
        except Exception as exc:
            # Another worker committed the same bytes between our look and our insert.
            digest = getattr(exc, "wpec_digest", None)
            if digest is not None and type(exc).__name__ == "UniqueViolation" and \
                    digest in self:
                return digest, exc.wpec_size
            raise

    def _put_stream(self, temp: str, chunks: Iterable[bytes]) -> tuple[str, int]:
        hasher = hashlib.sha256()
        size = seq = 0
        buf = bytearray()
        with self._transaction() as cur:
            def flush(final: bool) -> None:
                nonlocal seq
                while len(buf) >= CHUNK_BYTES or (final and (buf or seq == 0)):
                    piece = bytes(buf[:CHUNK_BYTES])
                    del buf[:CHUNK_BYTES]
                    cur.execute("INSERT INTO archive_blob_chunks (sha256, seq, data) "
                                "VALUES (%s, %s, %s)", (temp, seq, piece))
                    seq += 1
                    if not buf:
                        break

            for chunk in chunks:
                hasher.update(chunk)
                size += len(chunk)
                buf += chunk
                flush(False)
            flush(True)
            digest = hasher.hexdigest()
            cur.execute("SELECT 1 FROM archive_blobs WHERE sha256 = %s", (digest,))
            if cur.fetchone():
                cur.execute("DELETE FROM archive_blob_chunks WHERE sha256 = %s", (temp,))
                return digest, size
            try:
                cur.execute("UPDATE archive_blob_chunks SET sha256 = %s WHERE sha256 = %s",
                            (digest, temp))
                cur.execute("INSERT INTO archive_blobs (sha256, size, chunks, stored_at) "
                            "VALUES (%s, %s, %s, %s)", (digest, size, seq, datetime.now(UTC)))
            except Exception as exc:
                exc.wpec_digest, exc.wpec_size = digest, size
                raise
        return digest, size

    # -- reading -----------------------------------------------------------------------------
    def get(self, sha256: str) -> bytes:
        check_digest(sha256)
        with self._transaction() as cur:
            cur.execute("SELECT b.size, c.data FROM archive_blobs b JOIN archive_blob_chunks c"
                        " ON c.sha256 = b.sha256 WHERE b.sha256 = %s ORDER BY c.seq",
                        (sha256,))
            rows = cur.fetchall()
        if not rows:
            raise ArchiveError(f"archive has no blob {sha256}")
        return b"".join(bytes(r[1]) for r in rows)

    def iter_chunks(self, sha256: str) -> Iterator[bytes]:
        """One chunk per query: a 100 MB blob never sits whole in memory."""
        check_digest(sha256)
        with self._transaction() as cur:
            cur.execute("SELECT chunks FROM archive_blobs WHERE sha256 = %s", (sha256,))
            row = cur.fetchone()
        if row is None:
            raise ArchiveError(f"archive has no blob {sha256}")
        for seq in range(row[0]):
            with self._transaction() as cur:
                cur.execute("SELECT data FROM archive_blob_chunks WHERE sha256 = %s AND "
                            "seq = %s", (sha256, seq))
                got = cur.fetchone()
            if got is None:
                raise ArchiveError(f"archive blob {sha256}: chunk {seq} missing")
            yield bytes(got[0])

    def sizes(self, digests: Iterable[str]) -> dict[str, int]:
        wanted = list(set(digests))
        out: dict[str, int] = {}
        with self._transaction() as cur:
            for i in range(0, len(wanted), 10_000):
                cur.execute("SELECT sha256, size FROM archive_blobs WHERE sha256 = ANY(%s)",
                            (wanted[i:i + 10_000],))
                out.update({r[0]: int(r[1]) for r in cur.fetchall()})
        return out

    def __contains__(self, sha256: str) -> bool:
        return bool(self.sizes([sha256]))

    def digests(self) -> Iterator[str]:
        """Keyset pages, so a listing of millions holds one page at a time."""
        after = ""
        while True:
            with self._transaction() as cur:
                cur.execute("SELECT sha256 FROM archive_blobs WHERE sha256 > %s "
                            "ORDER BY sha256 LIMIT 5000", (after,))
                page = [r[0] for r in cur.fetchall()]
            if not page:
                return
            yield from page
            after = page[-1]

    # -- checking ----------------------------------------------------------------------------
    def check(self, items: Iterable[tuple[str, int | None]]) -> dict[str, str | None]:
        """Re-hash the bytes of each blob as read back (chunk rows streamed in key order)."""
        wanted = dict(items)
        out: dict[str, str | None] = {}
        shas = sorted(wanted)
        for i in range(0, len(shas), CHECK_BATCH):
            out.update(self._check_batch(shas[i:i + CHECK_BATCH], wanted))
        return out

    def _check_batch(self, shas: list[str], wanted: dict[str, int | None]
                     ) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("SELECT sha256, size, chunks FROM archive_blobs WHERE sha256 = ANY(%s)",
                        (shas,))
            index = {r[0]: (int(r[1]), int(r[2])) for r in cur.fetchall()}
            cur.close()
            seen: dict[str, tuple[hashlib._Hash, int, int]] = {}
            # A named (server-side) cursor streams the rows: a batch of big blobs is never
            # in memory at once.
            with raw.driver_connection.cursor(name=f"wpec_check_{uuid.uuid4().hex[:8]}") as sc:
                sc.itersize = 64
                sc.execute("SELECT sha256, seq, data FROM archive_blob_chunks "
                           "WHERE sha256 = ANY(%s) ORDER BY sha256, seq", (shas,))
                for sha, seq, data in sc:
                    hasher, size, count = seen.get(sha) or (hashlib.sha256(), 0, 0)
                    if seq != count:  # a chunk missing in the middle
                        count = -(10**9)
                    hasher.update(data)
                    seen[sha] = (hasher, size + len(data), count + 1)
            raw.commit()
        finally:
            raw.close()
        for sha in shas:
            if sha not in index:
                out[sha] = "missing from the archive"
                continue
            size, chunks = index[sha]
            hasher, actual, count = seen.get(sha) or (hashlib.sha256(), 0, 0)
            if count != chunks or actual != size:
                out[sha] = (f"corrupt ({actual} bytes in {max(count, 0)} chunk(s), "
                            f"expected {size} in {chunks})")
                continue
            out[sha] = hash_problem(sha, hasher.hexdigest(), wanted.get(sha), actual)
        return out
