"""A provider that answers too slowly fails within the configured timeout, for Entra and AWS
(Google's `timeout_seconds` is covered in tests/reliability/test_incomplete.py)."""

from __future__ import annotations

import time

import pytest

from providers.aws_iam import emulator as aws_emulator
from providers.aws_iam import scenarios
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.settings import AwsSettings
from providers.emulator import Faults
from providers.entra import scenario
from sweeper.errors import ProviderError
from tests.providers.test_entra_support import running, tenant


def test_entra_listing_times_out_and_fails(monkeypatch):
    users = [scenario.user(f"u{i}@example.test") for i in range(3)]
    with running(tenant(users), monkeypatch, timeout_seconds=0.3, max_retries=1) as (emu, adapter):
        scope = adapter.scopes()[0]
        emu.server.set_faults(Faults(latency_ms=1500, only=("GET /v1.0/users",)))
        started = time.monotonic()
        with pytest.raises(ProviderError):
            list(adapter.list_identities(scope))
        assert time.monotonic() - started < 12  # a few bounded tries of 0.3 s, never the 100 s default


def test_aws_listing_times_out_and_fails(monkeypatch, tmp_path):
    emu = aws_emulator.start(scenarios.basic())
    try:
        for key, value in emu.caller_env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        settings = AwsSettings(**emu.config(), timeout_seconds=0.3, max_attempts=2, report_poll_seconds=0.05)
        adapter = AwsIamAdapter(settings, write=False)
        scope = adapter.scopes()[0]
        emu.faults = Faults(latency_ms=1500, only=("GetAccountAuthorizationDetails",))
        started = time.monotonic()
        with pytest.raises(ProviderError):
            list(adapter.list_identities(scope))
        assert time.monotonic() - started < 12
    finally:
        emu.stop()
