from __future__ import annotations

import pytest

from sweeper import registry
from tests import fakes


@pytest.fixture(autouse=True, scope="session")
def _register_fake():
    registry.register("fake", "tests.fakes:FakeSettings", "tests.fakes:FakeAdapter")
    registry.register("fake2", "tests.fakes:FakeSettings", "tests.fakes:FakeAdapter2")
    yield
    registry.unregister("fake")
    registry.unregister("fake2")


@pytest.fixture
def cloud():
    """A fresh in-memory cloud named 'default' for the fake provider."""
    c = fakes.FakeCloud()
    fakes.CLOUDS["default"] = c
    yield c
    fakes.CLOUDS.pop("default", None)
