"""What roles (#17) add to least privilege: `sweeper permissions -p aws` per switch, the session policies
AssumeRole carries (enforced by the emulator), `check`, and the docs and example config that say so."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from providers.aws_iam import emulator, policy, roles, scenarios
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.settings import AwsSettings
from sweeper.cli import app
from sweeper.model import Action, CredentialRef

NOW = scenarios.DEFAULT_NOW
HOME, MEMBER = scenarios.MANAGEMENT, scenarios.MEMBER
ROOT = Path(__file__).resolve().parents[3]
ROLE_READ, ROLE_WRITE = {"iam:GetRole", "iam:GetRolePolicy"}, {"iam:PutRolePolicy", "iam:DeleteRolePolicy"}
Start = Callable[[dict[str, Any]], emulator.AwsEmulator]
runner = CliRunner()


def _actions(document: dict[str, Any]) -> set[str]:
    return {a for s in document["Statement"] for a in s["Action"]}


def _printed(tmp_path: Path, mode: str, **aws: Any) -> dict[str, Any]:
    """`sweeper permissions -p aws --for MODE -c CONFIG` with these [providers.aws] keys."""
    cfg = tmp_path / "sweeper.toml"
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in aws.items() if not isinstance(v, dict))
    tables = "".join(f"[providers.aws.{k}]\n" for k, v in aws.items() if isinstance(v, dict))
    cfg.write_text(f'[providers.aws]\naccount_id = "123456789012"\n{lines}{tables}')
    r = runner.invoke(app, ["permissions", "-p", "aws", "--for", mode, "-c", str(cfg)])
    assert r.exit_code == 0, r.output
    parsed: dict[str, Any] = json.loads(r.stdout)
    return parsed


@pytest.mark.parametrize("aws, plan, apply", [
    ({}, set(), set()),  # role_action = "report" (the default): roles need nothing more
    ({"role_action": "report"}, set(), set()),
    ({"role_action": "deny"}, ROLE_READ, ROLE_READ | ROLE_WRITE),
    ({"role_action": "deny", "roles": False}, set(), set()),
])
def test_permissions_per_switch(tmp_path: Path, aws: dict[str, Any], plan: set[str], apply: set[str]) -> None:
    role_actions = ROLE_READ | ROLE_WRITE
    assert _actions(_printed(tmp_path, "plan", **aws)) & role_actions == plan
    printed = _printed(tmp_path, "apply", **aws)
    assert _actions(printed) & role_actions == apply
    for s in printed["Statement"]:
        if set(s["Action"]) & role_actions:  # on this account's roles only, never its users
            assert s["Resource"] == "arn:aws:iam::123456789012:role/*", s
    member = _printed(tmp_path, "org-member", organization={}, **aws)["PermissionsPolicy"]
    assert _actions(member) & role_actions == apply


def test_the_listing_of_roles_needs_no_permission_of_its_own() -> None:
    plan = json.loads(policy.text("plan", AwsSettings.model_validate({})))
    assert "iam:GetAccountAuthorizationDetails" in _actions(plan)  # users and roles, one action
    assert not _actions(plan) & {"iam:ListRoles", "iam:GetRole", "iam:ListRolePolicies"}


@pytest.fixture
def org_emu(start_emulator: Start) -> emulator.AwsEmulator:
    scenario = scenarios.organization(NOW)
    scenario["accounts"][MEMBER]["roles"] = [
        {"name": "stale-vendor", "created": "2022-01-01T00:00:00+00:00", "last_used": "2024-06-01T00:00:00+00:00"}]
    return start_emulator(scenario)


def _settings(emu: emulator.AwsEmulator, **extra: Any) -> AwsSettings:
    return AwsSettings.model_validate({**emu.config(), "report_poll_seconds": 0.01, "retries": 0,
                                       "organization": {"management_account_id": HOME}, **extra})


@pytest.mark.parametrize("action, write, allowed", [
    ("report", True, set()), ("deny", False, ROLE_READ), ("deny", True, ROLE_READ | ROLE_WRITE)])
def test_member_role_sessions_allow_role_actions_only_when_denying(org_emu: emulator.AwsEmulator, action: str,
                                                                   write: bool, allowed: set[str]) -> None:
    adapter = AwsIamAdapter(_settings(org_emu, role_action=action), write=write)
    found = {i.login: i for i in adapter.list_identities(MEMBER)}
    [assumed] = org_emu.assumed
    assert _actions(json.loads(assumed["Policy"])) & (ROLE_READ | ROLE_WRITE) == allowed
    if write and action == "deny":  # the emulator applies the session policy: the deny gets through
        vendor = found["stale-vendor"]
        [outcome] = adapter.apply(Action.DISABLE, [CredentialRef.of(vendor, vendor.credentials[0])])
        assert outcome.ok, outcome.error
        assert roles.DENY_POLICY in org_emu.backend(MEMBER).get_role("stale-vendor").policies


def test_a_restore_of_roles_under_role_action_report_names_the_missing_permission(org_emu: emulator.AwsEmulator
                                                                                  ) -> None:
    deny = AwsIamAdapter(_settings(org_emu, role_action="deny"), write=True)
    vendor = {i.login: i for i in deny.list_identities(MEMBER)}["stale-vendor"]
    ref = CredentialRef.of(vendor, vendor.credentials[0])
    assert deny.apply(Action.DISABLE, [ref])[0].ok
    report = AwsIamAdapter(_settings(org_emu), write=True)  # its member session may not touch roles
    [outcome] = report.apply(Action.ENABLE, [ref])
    assert not outcome.ok and "missing permission iam:GetRole" in outcome.error
    assert roles.DENY_POLICY in org_emu.backend(MEMBER).get_role("stale-vendor").policies  # nothing changed


def test_check_probes_the_role_reads_when_denying(start_emulator: Start) -> None:
    emu = start_emulator(scenarios.with_roles(NOW))
    settings = AwsSettings.model_validate({**emu.config(), "report_poll_seconds": 0.01, "role_action": "deny"})
    results = {r.name: r for r in AwsIamAdapter(settings, write=False).check()}
    assert results["iam:GetRole"].ok and results["iam:GetRolePolicy"].ok
    assert "answered NoSuchEntity" in results["iam:GetRolePolicy"].detail  # asked for; it need not exist
    assert results["iam:PutRolePolicy"].ok is None and "not probed" in results["iam:PutRolePolicy"].detail
    plain = {r.name for r in AwsIamAdapter(AwsSettings.model_validate({**emu.config()}), write=False).check()}
    assert not plain & (ROLE_READ | ROLE_WRITE)


# -- the docs and the example config ----------------------------------------------------------------------------

def test_the_docs_page_explains_roles_and_shows_the_deny_policy() -> None:
    page = (ROOT / "docs" / "aws.md").read_text()
    section = page.split('## Apply with role_action = "deny"', 1)[1].split("\n## ", 1)[0]
    printed = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))  # type: ignore[union-attr]
    assert _actions(printed) >= ROLE_READ | ROLE_WRITE
    assert f"`{roles.DENY_POLICY}`" in section and '{"Effect": "Deny", "Action": "*", "Resource": "*"}' in section
    intro = page.split("\n## ", 1)[0]
    for said in ("trailing 400 days", "/aws-service-role/", "`role_inactive_days`", "NIST 800-53 AC-2(3)",
                 "No CIS AWS Foundations recommendation covers unused roles", "OrganizationAccountAccessRole"):
        assert said in intro, said


def test_the_example_config_names_the_role_switches_with_their_defaults() -> None:
    text = (ROOT / "config.example.toml").read_text()
    aws = text.split("[providers.aws]", 1)[1].split("\n[providers.entra]", 1)[0]
    defaults = AwsSettings.model_validate({})
    assert re.search(rf"^roles = {str(defaults.roles).lower()}\b", aws, re.M)
    assert re.search(rf'^role_action = "{defaults.role_action}"', aws, re.M)
    assert re.search(r"^# role_inactive_days = \d+ .*at most 400", aws, re.M)
