"""The job-queue tests need a real PostgreSQL (the queue lives there) and the sandbox."""

import pytest

from tests.unit.store.postgres import database_url


@pytest.fixture
def pg_url(tmp_path) -> str:
    return database_url("postgresql", tmp_path)
