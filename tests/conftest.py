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


@pytest.fixture(scope="module")
def s3():
    """moto's S3 server on loopback with buckets `journals` and `sweeper-journal`, and the process
    environment holding its dummy credentials (and no AWS config files) for the module's tests."""
    from stores import emulator_s3

    with pytest.MonkeyPatch.context() as mp:
        emu = emulator_s3.start()
        for name, value in emu.env().items():
            mp.setenv(name, value)
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        for bucket in ("journals", "sweeper-journal"):
            emu.make_bucket(bucket)
        yield emu
        emu.stop()
