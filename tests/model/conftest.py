"""The model-based test's two profiles, as in tests/reliability: quick by default; soak
(`SWEEPER_SOAK=1` or `-m slow`) also runs the tests marked `slow`, which are skipped otherwise."""

from __future__ import annotations

import os

import pytest

SOAK = os.environ.get("SWEEPER_SOAK") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SOAK or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="soak profile only (SWEEPER_SOAK=1 or -m slow)")
    for item in items:
        if "tests/model/" in item.nodeid and item.get_closest_marker("slow"):
            item.add_marker(skip)
