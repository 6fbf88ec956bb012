"""Store tests run on SQLite and on PostgreSQL (a throwaway cluster, see postgres.py)."""

import pytest

from tests.unit.store.postgres import database_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    return database_url(request.param, tmp_path)
