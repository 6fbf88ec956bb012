"""Shared test configuration. Area-specific fixtures live in each area's conftest.py."""

import os

import pytest
from hypothesis import HealthCheck, settings

# CI machines are shared and noisy: no deadlines (no timing assertions in unit tests), a fixed
# example budget so the suite's duration is predictable.
settings.register_profile(
    "wpec", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", parent=settings.get_profile("wpec"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "wpec")


def _stale_compiled_modules() -> list[str]:
    """Compiled modules (`make native`) older than their source: Python would import the
    stale machine code instead of the edited .py/.pyx, and the tests would test old code."""
    from pathlib import Path

    import wpec_invoicing

    stale = []
    for so in Path(wpec_invoicing.__file__).parent.rglob("*.so"):
        stem = so.name.split(".", 1)[0]
        for suffix in (".py", ".pyx"):
            source = so.with_name(stem + suffix)
            if source.exists() and source.stat().st_mtime > so.stat().st_mtime:
                stale.append(str(source))
    return stale


def pytest_configure(config):
    stale = _stale_compiled_modules()
    if stale:
        raise pytest.UsageError(
            "compiled modules are older than their source (run `make native`): "
            + ", ".join(stale)
        )


@pytest.fixture(autouse=True, scope="session")
def _services_started():
    """As every program does at start-up (`wpec_invoicing.startup.start()`): the services
    wired together, so a sync in a test feeds the outbox as `wpec sync` does."""
    from wpec_invoicing.startup import start

    start()
