"""Least privilege by mode: the policy documents (`sweeper permissions -p aws --for MODE`), and the
session policy and names every AssumeRole carries, as the emulator sees them over HTTP."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from providers.aws_iam import emulator, policy, scenarios
from providers.aws_iam.accounts import session_name
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.settings import AwsSettings
from sweeper import registry
from sweeper.cli import app
from sweeper.errors import ProviderError
from sweeper.model import Action, CredentialKind, CredentialRef

NOW = scenarios.DEFAULT_NOW
HOME, MEMBER = scenarios.MANAGEMENT, scenarios.MEMBER
READS = {*policy.READ, "sts:GetCallerIdentity"}
WRITES = {"iam:UpdateAccessKey", "iam:DeleteLoginProfile", "iam:DeleteAccessKey"}  # the last: opt-in removal
ORG = {"organizations:ListAccounts", "organizations:DescribeOrganization", "sts:AssumeRole",
       "sts:SetSourceIdentity"}
RUN = "20250601T020304Z-a1b2c3"
Start = Callable[[dict[str, Any]], emulator.AwsEmulator]


def _doc(mode: str, **settings: Any) -> dict[str, Any]:
    text = AwsIamAdapter.permissions(mode, AwsSettings.model_validate(settings) if settings else None)
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def _actions(document: dict[str, Any]) -> set[str]:
    return {a for s in document["Statement"] for a in s["Action"]}


def _statement(document: dict[str, Any], action: str) -> dict[str, Any]:
    return next(s for s in document["Statement"] if action in s["Action"])


# -- the documents --------------------------------------------------------------------------------

def test_plan_reads_only() -> None:
    plan = _doc("plan")
    assert _actions(plan) == READS
    assert not _actions(plan) & WRITES and not any(a.startswith(("organizations:", "sts:Assume"))
                                                   for a in _actions(plan))
    assert not any("*" in a for a in _actions(plan))


def test_apply_is_plan_and_the_writes() -> None:
    apply = _doc("apply")
    assert _actions(apply) == READS | WRITES
    assert _statement(apply, "iam:UpdateAccessKey")["Resource"] == "arn:aws:iam::*:user/*"
    bound = _doc("apply", account_id=HOME, region="cn-north-1")
    assert _statement(bound, "iam:DeleteLoginProfile")["Resource"] == f"arn:aws-cn:iam::{HOME}:user/*"
    # removal (#13) in a statement of its own, so that a team that never removes can leave it out
    remove = _statement(bound, "iam:DeleteAccessKey")
    assert remove["Sid"] == "SweeperRemoveAccessKeys" and remove["Action"] == ["iam:DeleteAccessKey"]
    assert remove["Resource"] == f"arn:aws-cn:iam::{HOME}:user/*"


@pytest.mark.parametrize("mode", ["plan", "apply"])
def test_organization_statements_only_with_an_organization_and_limited_to_it(mode: str) -> None:
    assert not _actions(_doc(mode, account_id=HOME)) & ORG
    with_org = _doc(mode, organization={})
    assert ORG <= _actions(with_org)
    assert bool(_actions(with_org) & WRITES) is (mode == "apply")
    for action in ("organizations:ListAccounts", "organizations:DescribeOrganization", "sts:AssumeRole"):
        assert _statement(with_org, action)["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-EXAMPLE"}}
    assume = _statement(with_org, "sts:AssumeRole")
    assert assume["Resource"] == "arn:aws:iam::*:role/IdentitySweeper"  # no longer OrganizationAccountAccessRole
    named = _doc(mode, organization={"org_id": "o-a1b2c3d4e5", "role_name": "audit/Sweeper"})
    assert _statement(named, "sts:AssumeRole")["Resource"] == "arn:aws:iam::*:role/audit/Sweeper"
    assert _statement(named, "organizations:ListAccounts")["Condition"]["StringEquals"] == {
        "aws:ResourceOrgID": "o-a1b2c3d4e5"}


def test_org_member_is_the_role_policy_and_its_trust_policy() -> None:
    member = _doc("org-member", organization={"management_account_id": HOME, "org_id": "o-a1b2c3d4e5",
                                              "external_id": "ext-1"})
    assert member["RoleName"] == "IdentitySweeper"
    assert _actions(member["PermissionsPolicy"]) == READS | WRITES
    [trust] = member["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{HOME}:root"}
    assert set(trust["Action"]) == {"sts:AssumeRole", "sts:SetSourceIdentity"}
    assert trust["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": "o-a1b2c3d4e5", "sts:ExternalId": "ext-1"}
    assert trust["Condition"]["StringLike"] == {"sts:RoleSessionName": "identity-sweeper-*"}
    via_role = _doc("org-member", role_arn=f"arn:aws:iam::{HOME}:role/sweeper", organization={})
    [trust] = via_role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{HOME}:role/sweeper"}
    assert trust["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": "o-EXAMPLE"}
    placeholders = _doc("org-member")["AssumeRolePolicyDocument"]["Statement"][0]
    assert placeholders["Principal"] == {"AWS": "arn:aws:iam::MANAGEMENT-ACCOUNT-ID:root"}


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="notify"):
        AwsIamAdapter.permissions("notify")


def test_sweeper_permissions_prints_each_mode(tmp_path: Path) -> None:
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text(f'[providers.aws]\naccount_id = "{HOME}"\n'
                   f'[providers.aws.organization]\nmanagement_account_id = "{HOME}"\norg_id = "o-a1b2c3d4e5"\n')
    runner = CliRunner()
    plan = runner.invoke(app, ["permissions", "-p", "aws", "--for", "plan"])
    assert plan.exit_code == 0 and _actions(json.loads(plan.stdout)) == READS
    member = runner.invoke(app, ["permissions", "-p", "aws", "--for", "org-member", "-c", str(cfg)])
    assert member.exit_code == 0, member.output
    trust = json.loads(member.stdout)["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == "o-a1b2c3d4e5"
    assert json.loads(registry.permissions("aws", "apply")) == _doc("apply")


def test_the_docs_page_shows_every_mode() -> None:
    spec = importlib.util.spec_from_file_location("gen_docs", Path(__file__).parents[3] / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    page = gen.page("aws")
    for mode in ("plan", "apply", "org-member"):
        assert f"--for {mode}" in page
    assert "sts:SetSourceIdentity" in page and "aws:ResourceOrgID" in page and "AdministratorAccess" in page


def test_session_policies_fit_and_follow_the_mode() -> None:
    settings = AwsSettings.model_validate({"organization": {}})
    read = json.loads(policy.session_policy(False, settings, "aws", member=False))
    assert _actions(read) == READS | ORG and "Condition" not in json.dumps(read)
    write = json.loads(policy.session_policy(True, settings, "aws", member=True))
    assert _actions(write) == READS | WRITES
    assert len(policy.session_policy(True, settings, "aws", member=False)) <= policy.PACKED_LIMIT


@pytest.mark.parametrize("run,name", [
    (RUN, f"identity-sweeper-{RUN}"),
    ("run id/with spaces:and*stars", "identity-sweeper-run-id-with-spaces-and-stars"),
    ("x" * 80, "identity-sweeper-" + "x" * 47)])
def test_session_names_keep_within_sts_limits(run: str, name: str) -> None:
    assert session_name(run) == name and 2 <= len(name) <= 64


# -- what AssumeRole carries, seen by the emulator ---------------------------------------------

@pytest.fixture
def org_emu(start_emulator: Start) -> emulator.AwsEmulator:
    return start_emulator(scenarios.organization(NOW))


def _settings(emu: emulator.AwsEmulator, **extra: Any) -> AwsSettings:
    return AwsSettings.model_validate({**emu.config(), "report_poll_seconds": 0.01, "retries": 0, **extra})


def _key(emu: emulator.AwsEmulator) -> Any:
    return emu.backend(MEMBER).get_user("member-user-1").access_keys[0]


def test_a_read_only_role_session_carries_the_run_and_a_read_only_policy(org_emu: emulator.AwsEmulator) -> None:
    role = f"arn:aws:iam::{MEMBER}:role/Admin"
    adapter = AwsIamAdapter(_settings(org_emu, role_arn=role, account_id=MEMBER), write=False)
    adapter.set_run_id(RUN)
    assert adapter.scopes() == [MEMBER]
    [assumed] = org_emu.assumed
    assert assumed["RoleArn"] == role
    assert assumed["RoleSessionName"] == assumed["SourceIdentity"] == f"identity-sweeper-{RUN}"
    assert _actions(json.loads(assumed["Policy"])) == READS
    # moto accepted SourceIdentity; GetCallerIdentity names the session after the run
    assert adapter.whoami().id == f"arn:aws:sts::{MEMBER}:assumed-role/Admin/identity-sweeper-{RUN}"
    # the session cannot write, whatever the role may do: the emulator applies the session policy
    iam = adapter.accounts.client(MEMBER, "iam")
    key = _key(org_emu)
    with pytest.raises(ClientError, match="iam:UpdateAccessKey because no session policy allows"):
        iam.update_access_key(UserName="member-user-1", AccessKeyId=key.access_key_id, Status="Inactive")
    assert org_emu.counts["UpdateAccessKey"] == 1 and key.status == "Active"


def test_member_role_sessions_follow_the_mode(org_emu: emulator.AwsEmulator) -> None:
    for write in (False, True):
        org_emu.assumed.clear()
        adapter = AwsIamAdapter(_settings(org_emu, organization={"management_account_id": HOME}), write=write)
        adapter.set_run_id(RUN)
        identities = list(adapter.list_identities(MEMBER))
        [assumed] = org_emu.assumed
        assert assumed["RoleArn"] == f"arn:aws:iam::{MEMBER}:role/IdentitySweeper"
        assert assumed["RoleSessionName"] == assumed["SourceIdentity"] == f"identity-sweeper-{RUN}"
        assert _actions(json.loads(assumed["Policy"])) == (READS | WRITES if write else READS)
        user = next(i for i in identities if i.login == "member-user-1")
        key = next(c for c in user.credentials if c.kind is CredentialKind.ACCESS_KEY)
        [outcome] = adapter.apply(Action.DISABLE, [CredentialRef.of(user, key)]) if write else [None]
        if write:
            assert outcome is not None and outcome.ok, outcome
    assert org_emu.counts["UpdateAccessKey"] == 1


def test_a_plan_job_cannot_write_through_the_member_role(org_emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(org_emu, organization={}), write=False)
    iam = adapter.accounts.client(MEMBER, "iam")
    key = _key(org_emu)
    with pytest.raises(ClientError, match="iam:UpdateAccessKey because no session policy allows"):
        iam.update_access_key(UserName="member-user-1", AccessKeyId=key.access_key_id, Status="Inactive")
    assert key.status == "Active"
    with pytest.raises(ProviderError, match="read-only"):
        adapter.apply(Action.DISABLE, [])


def test_the_sweep_names_role_sessions_after_its_run(org_emu: emulator.AwsEmulator, tmp_path: Path) -> None:
    cfg = tmp_path / "sweeper.toml"
    role = f"arn:aws:iam::{MEMBER}:role/Admin"
    cfg.write_text(f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n'
                   + org_emu.config_toml(report_poll_seconds=0.01, role_arn=role, account_id=MEMBER))
    result = CliRunner().invoke(app, ["plan", "-c", str(cfg), "-f", "json"])
    assert result.exit_code in (0, 3), result.output
    run_id = json.loads(result.stdout)["run_id"]
    assert {a["RoleSessionName"] for a in org_emu.assumed} == {session_name(run_id)}
    assert {a["SourceIdentity"] for a in org_emu.assumed} == {session_name(run_id)}
    assert run_id in session_name(run_id)


def test_a_run_id_given_after_opening_renames_the_role_sessions(org_emu: emulator.AwsEmulator) -> None:
    """A chained session must carry the SourceIdentity of the one it came from: sessions made before
    the run id was known are made again under the run's name, never mixed."""
    role = f"arn:aws:iam::{MEMBER}:role/Admin"
    adapter = AwsIamAdapter(_settings(org_emu, role_arn=role, account_id=MEMBER), write=False)
    early = adapter.whoami().id
    assert early.split("/")[-1].startswith("identity-sweeper-") and RUN not in early
    adapter.set_run_id(RUN)
    assert adapter.whoami().id.endswith(f"/identity-sweeper-{RUN}")
    assert [a["SourceIdentity"] for a in org_emu.assumed] == [early.split("/")[-1], f"identity-sweeper-{RUN}"]
    adapter.set_run_id(RUN)  # the same run again: nothing is made again
    assert adapter.scopes() == [MEMBER] and len(org_emu.assumed) == 2
