"""Where AWS credentials may go: the endpoint rule for `endpoint_url`, and no redirect is ever followed."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from providers.aws_iam import emulator, scenarios
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.settings import AwsSettings
from sweeper import config as cfgmod
from sweeper.errors import ConfigError, ProviderError
from tests.providers.aws import hostile

Start = Any  # the start_emulator fixture (conftest.py)


def _load(section: str) -> cfgmod.Config:
    return cfgmod.parse(f"[providers.aws]\naccount_id = \"111111111111\"\n{section}", "sweeper.toml")


def test_plain_http_to_another_host_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="providers.aws: endpoint_url") as raised:
        _load('endpoint_url = "http://10.20.30.40:5000"\n')
    assert "plain http is allowed only to a loopback address" in str(raised.value)
    with pytest.raises(ConfigError, match="plain http"):  # the flag does not make plain http acceptable
        _load('endpoint_url = "http://iam.example.org"\nallow_custom_endpoint = true\n')


def test_a_custom_https_host_needs_the_flag_and_is_then_a_warning() -> None:
    with pytest.raises(ConfigError, match="providers.aws: endpoint_url") as raised:
        _load('endpoint_url = "https://iam.example.org"\n')
    assert "allow_custom_endpoint" in str(raised.value) and "iam.example.org" in str(raised.value)
    cfg = _load('endpoint_url = "https://iam.example.org"\nallow_custom_endpoint = true\n')
    [warning] = [w for w in cfg.warnings() if "custom endpoint" in w]
    assert warning.startswith("providers.aws: ") and "credentials are sent to iam.example.org" in warning


@pytest.mark.parametrize("url", ["https://iam.amazonaws.com", "https://sts.us-gov-west-1.amazonaws.com",
                                 "https://sts.cn-north-1.amazonaws.com.cn",
                                 "https://vpce-0a1b2c3d-abcdefgh.sts.us-east-1.vpce.amazonaws.com",
                                 "http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000"])
def test_the_real_hosts_and_loopback_need_no_flag(url: str) -> None:
    cfg = _load(f'endpoint_url = "{url}"\n')
    assert not [w for w in cfg.warnings() if "custom endpoint" in w]


def test_a_look_alike_host_is_not_amazon() -> None:
    with pytest.raises(ConfigError, match="allow_custom_endpoint"):
        _load('endpoint_url = "https://iam.amazonaws.com.example.org"\n')
    with pytest.raises(ConfigError, match="allow_custom_endpoint"):
        _load('endpoint_url = "https://evilamazonaws.com"\n')


# -- redirects --------------------------------------------------------------------------------

@pytest.fixture
def org_emu(start_emulator: Start) -> Iterator[emulator.AwsEmulator]:
    yield start_emulator(scenarios.organization(scenarios.DEFAULT_NOW))


@pytest.fixture
def witness() -> Iterator[hostile.Witness]:
    w = hostile.Witness()
    yield w
    w.stop()


CALLS = {"GetCallerIdentity": lambda a: a.scopes(),
         "ListAccounts": lambda a: a.scopes(),
         "GenerateCredentialReport": lambda a: list(a.list_identities(scenarios.MANAGEMENT))}


@pytest.mark.parametrize("status", [301, 307])
@pytest.mark.parametrize("action", list(CALLS))
def test_a_redirect_to_another_host_is_refused(org_emu: emulator.AwsEmulator, witness: hostile.Witness,
                                               action: str, status: int) -> None:
    """STS, Organizations and IAM: botocore does not follow a 3xx, and the sweeper says what it was
    (not "unparsable XML"); the redirect's target never hears from the sweeper."""
    front = hostile.Front(org_emu.endpoint_url, {action: hostile.redirect(status, witness.url + "steal")})
    try:
        settings = AwsSettings.model_validate({**org_emu.config(), "endpoint_url": front.url, "retries": 3,
                                               "organization": {}})
        with pytest.raises(ProviderError) as raised:
            CALLS[action](AwsIamAdapter(settings, write=False))
    finally:
        front.stop()
    message = str(raised.value)
    assert f"HTTP {status}, a redirect to {witness.url}steal" in message and "not followed" in message
    assert "\n" not in message
    assert front.hits[action] == 1  # refused at once, not retried
    assert witness.hits == 0
