"""Fixtures of the reliability suite, and its two profiles.

Quick (default, CI): every test here, with few trials. Soak: `SWEEPER_SOAK=1` (or `-m slow`) also runs
the tests marked `slow` and raises the trial counts; without either, `slow` tests are skipped.
"""

from __future__ import annotations

import os

import pytest

from tests.reliability.harness import Served

SOAK = os.environ.get("SWEEPER_SOAK") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = SOAK or "slow" in (config.getoption("-m") or "")
    if wanted:
        return
    skip = pytest.mark.skip(reason="soak profile only (SWEEPER_SOAK=1 or -m slow)")
    for item in items:
        if "reliability" in item.nodeid and item.get_closest_marker("slow"):
            item.add_marker(skip)


def trials(quick: int, soak: int) -> int:
    return soak if SOAK else quick


@pytest.fixture(scope="session")
def served():
    s = Served()
    yield s
    s.close()
