"""`app.accounts`: an integrator sees each box's quota (the housekeeping's latest reading) and
where its contract stands, next to its sending state."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.unit.store.postgres import database_url
from wpec_invoicing.app import accounts
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.config import config_from_dict


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ctx(request: pytest.FixtureRequest, tmp_path: Path):
    config = config_from_dict({
        "data_dir": str(tmp_path / "data"),
        "store_url": database_url(request.param, tmp_path),
        "accounts": [{"name": "main", "address": "azienda@pec.example.it",
                      "password_env": "WPEC_TEST_UNUSED",
                      "imap": {"host": "127.0.0.1", "port": 993},
                      "smtp": {"host": "127.0.0.1", "port": 465}}],
    }, base=tmp_path)
    with AppContext(config) as context:
        yield context


def test_quota_and_lifecycle_unknown_until_housekeeping_reads_them(ctx):
    main = accounts.get_account(ctx, "main")
    assert (main.quota_used_bytes, main.quota_limit_bytes, main.lifecycle) == (None, None, None)


def test_latest_quota_reading_and_lifecycle_are_shown(ctx):
    from wpec_invoicing.store.housekeeping_models import AccountLifecycle, QuotaSample

    with ctx.session() as s:
        s.add(QuotaSample(account="main", at=datetime(2026, 12, 1, tzinfo=UTC),
                          used_bytes=100, limit_bytes=1000, source="estimate"))
        s.add(QuotaSample(account="main", at=datetime(2026, 12, 2, tzinfo=UTC),
                          used_bytes=900, limit_bytes=1000, source="server"))
        s.add(QuotaSample(account="other", at=datetime(2026, 12, 3, tzinfo=UTC),
                          used_bytes=5, limit_bytes=10, source="server"))
        s.add(AccountLifecycle(account="main", state="suspended", expires_on=date(2026, 11, 30),
                               state_since=datetime(2026, 12, 1, tzinfo=UTC)))
    main = accounts.get_account(ctx, "main")
    assert (main.quota_used_bytes, main.quota_limit_bytes, main.quota_source) == (
        900, 1000, "server")
    assert (main.lifecycle, main.expires_on) == ("suspended", date(2026, 11, 30))
