"""The whole archive cycle with `[archive] backend = "postgresql"`: sync archives the raw
bytes in PostgreSQL (nothing under the data folder), housekeeping deletes only what it
re-hashed there and fetches a tampered copy again, restore APPENDs the bytes back, and
`wpec archive verify` / `export` (as processes) read the same blobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from datetime import date

import pytest
from sqlalchemy import select

from tests.integration.conftest import require_dovecot
from tests.integration.housekeeping.conftest import box_config, message, synced_store
from tests.unit.store.postgres import database_url
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.housekeeping import restore
from wpec_invoicing.housekeeping.deleter import Housekeeper
from wpec_invoicing.store.archive import sha256_hex
from wpec_invoicing.store.blob_pg import PostgresArchive
from wpec_invoicing.store.models import Message

pytestmark = pytest.mark.postgres


def test_housekeep_restore_verify_export_on_the_postgresql_archive(make_box, tmp_path):
    require_dovecot()
    url = database_url("postgresql", tmp_path)
    box = make_box(400 * 1024)
    raws = [message(i, 1500, tag="pg") for i in range(6)]
    box.append(raws)
    config = box_config(tmp_path, box, housekeeping={"retention": {"days": {"non-pec": 0}}},
                        extra={"store_url": url, "archive": {"backend": "postgresql"}})
    store = synced_store(config)
    assert isinstance(store.archive, PostgresArchive)
    assert not config.archive_dir.exists()  # nothing went to the data folder
    shas = sorted(sha256_hex(r) for r in raws)
    assert all(store.archive.get(s) for s in shas)
    with store.engine.begin() as conn:  # one copy gone bad in the database
        conn.exec_driver_sql("UPDATE archive_blob_chunks SET data = %s WHERE sha256 = %s",
                             (b"tampered", shas[0]))
    res = Housekeeper(config, config.account(), store).run()
    assert {p.sha256 for p in res.refetched} == {shas[0]}
    assert {p.sha256 for p in res.deleted} == set(shas[1:])
    assert store.archive.verify(shas[0])
    assert {sha256_hex(v[0]) for v in box.contents().values()} == {shas[0]}
    with store.session() as s:
        mid = s.scalar(select(Message.id).where(Message.sha256 == shas[1]))
    with AppContext(config, store=store) as ctx:
        outcome = restore(ctx, [mid])[0]
        assert outcome.ok, outcome.error
    assert {sha256_hex(v[0]) for v in box.contents().values()} == {shas[0], shas[1]}
    store.close()

    toml = tmp_path / "wpec.toml"
    os.environ["WPEC_HK_PG_PW"] = box.password
    toml.write_text(f'data_dir = "{config.data_dir}"\nstore_url = "{url}"\n'
                    '[archive]\nbackend = "postgresql"\n', encoding="utf-8")

    def wpec(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args, "--json",
                               "-c", str(toml)], capture_output=True, text=True, timeout=120)

    ok = wpec("archive", "verify")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["checked"] == len(shas)
    today = date.today().isoformat()
    out = wpec("archive", "export", "--since", today, "--until", today, "-o",
               str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    with zipfile.ZipFile(tmp_path / "out" / f"wpec-archive-{today}-{today}.zip") as zf:
        packed = {sha256_hex(zf.read(n)) for n in zf.namelist() if n.endswith(".eml")}
    assert packed == set(shas)
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM archive_blob_chunks WHERE sha256 = %s", (shas[2],))
    engine.dispose()
    bad = wpec("archive", "verify")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert [e["sha256"] for e in report["corrupt"] + report["missing"]] == [shas[2]]
