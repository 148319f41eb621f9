"""What each Okta job needs, as `sweeper permissions -p okta` prints it, and the settings' refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from providers.okta.adapter import OktaAdapter
from providers.okta.settings import OktaSettings
from sweeper import registry
from sweeper.model import CredentialKind


def test_plan_reads_and_apply_adds_manage() -> None:
    plan, apply = OktaAdapter.permissions("plan"), OktaAdapter.permissions("apply")
    assert "okta.users.read" in plan and "okta.roles.read" in plan and "okta.users.manage" not in plan
    assert "okta.users.manage" in apply and "lifecycle/suspend" in apply and "lifecycle/deactivate" in apply
    assert "Read-Only Administrator" in plan
    with pytest.raises(ValueError, match="org-member"):
        OktaAdapter.permissions("org-member")
    assert registry.permissions("okta", "plan") == plan


def test_the_provider_registers_itself_with_its_irreversible_removal() -> None:
    info = registry.info("okta")
    assert info.display == "Okta" and "identity-sweeper[okta]" in info.install_hint
    assert CredentialKind.ACCOUNT in info.removal and info.removal_irreversible == {CredentialKind.ACCOUNT}
    assert registry.adapter_class("okta") is OktaAdapter


@pytest.mark.parametrize(("settings", "says"), [
    ({"endpoint": "https://acme.example.com"}, "allow_custom_endpoint"),
    ({"endpoint": "http://acme.okta.com"}, "plain http"),
    ({"endpoint": "https://acme.okta.com/api/v1"}, "no path"),
    ({"endpoint": "https://acme.okta.com", "token_env": "OKTA_TOKEN"}, "SWEEPER_"),
    ({"endpoint": "https://acme.okta.com", "auth": "private_key"}, "client_id"),
    ({"endpoint": "https://acme.okta.com", "auth": "private_key", "client_id": "0oa1"}, "private_key_file"),
    ({"endpoint": "https://acme.okta.com", "org_id": "acme"}, "org id"),
    ({"endpoint": "https://acme.okta.com", "page_size": 500}, "200"),
])
def test_bad_settings_are_named(settings: dict, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        OktaSettings(**settings)


def test_good_settings() -> None:
    s = OktaSettings(endpoint="https://Acme.okta.com/", org_id="00o1abcdefghij0x7")
    assert s.endpoint == "https://Acme.okta.com" and s.host == "acme.okta.com" and s.warnings() == []
    custom = OktaSettings(endpoint="https://login.acme.example", allow_custom_endpoint=True)
    assert custom.warnings() and "login.acme.example" in custom.warnings()[0]
