from __future__ import annotations

from pathlib import Path

import pytest

from sweeper import registry
from sweeper.model import CredentialKind
from tests import fakes

TESTS = Path(__file__).resolve().parent


def folder_marker(path: Path) -> str | None:
    """The marker a test file's folder gives: tests/providers/<name>/ gives <name>, tests/stores/ `stores`."""
    try:
        parts = path.resolve().relative_to(TESTS).parts
    except ValueError:
        return None
    if parts[0] == "providers" and len(parts) > 2:
        return parts[1]
    return "stores" if parts[0] == "stores" else None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test by its folder, so that `pytest -m aws` runs the AWS tests. A test elsewhere that is
    about one provider only (the AWS report fuzzing in tests/reliability/) carries its marker by hand."""
    registered = {line.split(":")[0].strip() for line in config.getini("markers")}
    for item in items:
        name = folder_marker(item.path)
        if name is None:
            continue
        if name not in registered:
            raise pytest.UsageError(f"{item.path.parent}: register the marker {name!r} in pyproject.toml "
                                    "([tool.pytest.ini_options] markers)")
        item.add_marker(name)


@pytest.fixture(autouse=True, scope="session")
def _register_fake():
    registry.register("fake", "tests.fakes:FakeSettings", "tests.fakes:FakeAdapter",
                      removal={CredentialKind.ACCOUNT: "deletes the user (recoverable for 30 days)",
                               CredentialKind.ACCESS_KEY: "deletes the key"},
                      removal_irreversible=frozenset({CredentialKind.ACCESS_KEY}))
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


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> pytest.MonkeyPatch:
    """No cloud credentials or sweeper settings from the machine running the tests."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "SWEEPER_CONFIG",
                 "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch
