"""Shared test configuration. Area-specific fixtures live in each area's conftest.py."""

import os

from hypothesis import HealthCheck, settings

# CI machines are shared and noisy: no deadlines (no timing assertions in unit tests), a fixed
# example budget so the suite's duration is predictable.
settings.register_profile(
    "wpec", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", parent=settings.get_profile("wpec"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "wpec")
