"""Outbox tests that touch only the store run on SQLite and on PostgreSQL (the store area's
throwaway cluster); the ones against the sandbox use SQLite plus one PostgreSQL run."""

import pytest

from tests.unit.store.postgres import database_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    return database_url(request.param, tmp_path)
