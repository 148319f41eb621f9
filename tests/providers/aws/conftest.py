"""Fixtures shared by the AWS IAM tests: moto's server seeded from a scenario, reached the way a user
reaches AWS (ordinary environment credentials), with nothing else on the machine in the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from providers.aws_iam import emulator, scenarios


@pytest.fixture
def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[emulator.AwsEmulator], None]:
    """isolate(emu): ordinary AWS environment credentials for the emulator; no ~/.aws, no instance
    metadata. A `revoked` profile is on hand, with a secret that must never be printed."""

    def apply(emu: emulator.AwsEmulator) -> None:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in emu.caller_env().items():
            monkeypatch.setenv(name, value)
        creds = tmp_path / "credentials"
        creds.write_text("[revoked]\naws_access_key_id = AKIAREVOKEDREVOKED00\n"
                         "aws_secret_access_key = revoked-secret-do-not-print-0123456789\n")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    return apply


@pytest.fixture
def start_emulator(isolate: Callable[[emulator.AwsEmulator], None]
                   ) -> Iterator[Callable[[dict[str, Any]], emulator.AwsEmulator]]:
    """start_emulator(scenario) -> a running emulator the environment points at; stopped after the test."""
    started: list[emulator.AwsEmulator] = []

    def start(scenario: dict[str, Any]) -> emulator.AwsEmulator:
        emu = emulator.start(scenario)
        started.append(emu)
        isolate(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture
def emu(start_emulator: Callable[[dict[str, Any]], emulator.AwsEmulator]) -> emulator.AwsEmulator:
    """The basic scenario (providers/aws_iam/scenarios.py) at its default time."""
    return start_emulator(scenarios.basic(scenarios.DEFAULT_NOW))
