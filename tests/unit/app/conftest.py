"""Application-layer tests run on SQLite and on PostgreSQL (the store tests' cluster)."""

from pathlib import Path

import pytest

from tests.unit.store.postgres import database_url
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.config import Config


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ctx(request: pytest.FixtureRequest, tmp_path: Path):
    config = Config(data_dir=tmp_path / "data", store_url=database_url(request.param, tmp_path))
    with AppContext(config) as context:
        yield context
