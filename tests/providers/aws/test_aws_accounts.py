"""An explicit list of accounts (`[[providers.aws.accounts]]`), each reached through its own role, without
Organizations (#16 item 2): the settings and their refusals, the sweep of every listed account in one
run, a role that cannot be assumed or whose session is in another account (that account fails, the
others are swept), restore through the same roles, the policies, and two adapters side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from typer.testing import CliRunner

from providers.aws_iam import emulator, policy, scenarios
from providers.aws_iam.accounts import session_name
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.settings import AwsSettings
from providers.emulator import toml_section
from sweeper import config as cfgmod
from sweeper.cli import app
from sweeper.errors import BindingError, ConfigError, PermissionDenied, ProviderError
from tests.providers.aws import hostile

NOW = scenarios.DEFAULT_NOW
HOME, MEMBER, LISTED, UNASSUMABLE = scenarios.MANAGEMENT, scenarios.MEMBER, scenarios.LISTED, scenarios.UNASSUMABLE
ELSEWHERE = "999999999999"
SECRET = "ext-id-never-printed-7f3a"  # an external id: it must never appear in a message
AUDIT_ROLE = f"arn:aws:iam::{LISTED}:role/audit/Sweeper"
READS = {*policy.READ, "sts:GetCallerIdentity"}
Start = Callable[[dict[str, Any]], emulator.AwsEmulator]
runner = CliRunner()


@pytest.fixture
def emu(start_emulator: Start) -> emulator.AwsEmulator:
    return start_emulator(scenarios.listed_accounts(NOW))


def _listed(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    """MEMBER through the default role name, LISTED through a role ARN with an external id."""
    return [{"id": MEMBER}, {"id": LISTED, "role_arn": AUDIT_ROLE, "external_id": SECRET}, *extra]


def _settings(emu: emulator.AwsEmulator, **extra: Any) -> AwsSettings:
    return AwsSettings.model_validate({**emu.config(), "report_poll_seconds": 0.01, "retries": 0, **extra})


def _config(tmp_path: Path, emu: emulator.AwsEmulator, **extra: Any) -> str:
    path = tmp_path / "sweeper.toml"
    path.write_text(f'[policy]\nmax_disable_percent = 100\n[journal]\npath = "{tmp_path / "sweeper.db"}"\n'
                    + emu.config_toml(report_poll_seconds=0.01, retries=0, **extra))
    return str(path)


def _sweep(*args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, [*args, "--as-of", NOW.isoformat(), "-f", "json"])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, json.loads(result.stdout), result.output


def _scopes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["scope"]: p for p in report["providers"]}


def _key_status(emu: emulator.AwsEmulator, account: str, user: str) -> str:
    [key] = emu.backend(account).get_user(user).access_keys
    return str(key.status)


# -- settings ------------------------------------------------------------------------------------

def _refusal(accounts: Any, **extra: Any) -> str:
    text = toml_section("providers.aws", {"accounts": accounts, **extra})
    with pytest.raises(ConfigError) as caught:
        cfgmod.parse(text, "sweeper.toml")
    message = str(caught.value)
    assert "\n" not in message and SECRET not in message
    return message


def test_both_forms_of_an_entry_are_read() -> None:
    settings = AwsSettings.model_validate({"region": "cn-north-1", "accounts": [
        {"id": MEMBER}, {"id": HOME, "role_name": "ops/Sweeper"}, {"id": LISTED, "role_arn": AUDIT_ROLE}]})
    assert [e.role("aws-cn") for e in settings.accounts or ()] == [
        f"arn:aws-cn:iam::{MEMBER}:role/IdentitySweeper", f"arn:aws-cn:iam::{HOME}:role/ops/Sweeper", AUDIT_ROLE]
    assert settings.parallel == 8 and AwsSettings.model_validate({"max_parallel": 3}).parallel == 3
    assert not any("account_id is not set" in w for w in settings.warnings())  # each listed account binds itself


@pytest.mark.parametrize("accounts, extra, said", [
    ([{"id": "12345"}], {}, "providers.aws.accounts.0.id: String should match pattern"),
    ([{"id": MEMBER}, {"id": LISTED}, {"id": MEMBER, "external_id": SECRET}], {},
     f"accounts[2].id: account {MEMBER} is listed twice (accounts[0] too)"),
    ([{"id": MEMBER, "role_arn": f"arn:aws:iam::{LISTED}:role/IdentitySweeper", "external_id": SECRET}], {},
     f"is a role in account {LISTED}, not in account {MEMBER}"),
    ([{"id": MEMBER, "role_arn": "arn:aws:iam::*:role/IdentitySweeper"}], {}, "accounts.0.role_arn"),
    ([{"id": MEMBER, "role_name": "Sweeper*"}], {}, "accounts.0.role_name"),
    ([{"id": MEMBER, "role_name": "A", "role_arn": f"arn:aws:iam::{MEMBER}:role/B", "external_id": SECRET}], {},
     "give role_arn or role_name, not both"),
    ([], {}, "accounts is empty"),
    ([{"id": MEMBER, "role": "X"}], {}, "providers.aws.accounts.0.role: unknown key"),
    ([{"id": MEMBER, "external_id": SECRET}], {"organization": {"role_name": "IdentitySweeper"}},
     "organization and accounts cannot be combined"),
])
def test_a_bad_account_list_is_refused_naming_the_key(accounts: Any, extra: dict[str, Any], said: str) -> None:
    assert said in _refusal(accounts, **extra)


def test_organization_with_accounts_is_exit_2_naming_both_keys(emu: emulator.AwsEmulator, tmp_path: Path) -> None:
    cfg = _config(tmp_path, emu, accounts=_listed())
    Path(cfg).write_text(Path(cfg).read_text() + '[providers.aws.organization]\nrole_name = "IdentitySweeper"\n')
    for command in (["plan"], ["check"]):
        result = runner.invoke(app, [*command, "-c", cfg])
        assert result.exit_code == 2, result.output
        assert "providers.aws: organization and accounts cannot be combined" in result.output
        assert "Traceback" not in result.output and SECRET not in result.output
    assert emu.calls() == 0  # refused before any request


def test_a_role_arn_in_another_account_is_exit_2_naming_both(emu: emulator.AwsEmulator, tmp_path: Path) -> None:
    cfg = _config(tmp_path, emu, accounts=[{"id": MEMBER, "role_arn": AUDIT_ROLE, "external_id": SECRET}])
    result = runner.invoke(app, ["plan", "-c", cfg])
    assert result.exit_code == 2, result.output
    assert f"{AUDIT_ROLE} is a role in account {LISTED}, not in account {MEMBER}" in result.output
    assert SECRET not in result.output and "Traceback" not in result.output
    assert emu.counts["AssumeRole"] == 0


# -- the sweep ----------------------------------------------------------------------------------

def test_two_listed_accounts_are_swept_in_one_run_each_through_its_role(emu: emulator.AwsEmulator,
                                                                       tmp_path: Path) -> None:
    code, report, output = _sweep("plan", "-c", _config(tmp_path, emu, accounts=_listed()))
    assert code == 0, output
    scopes = _scopes(report)
    assert set(scopes) == {MEMBER, LISTED}  # the caller's own account is not listed: not swept
    assert all(p["status"] == "ok" and p["identities"] >= 2 for p in scopes.values())
    disable = {(f["scope"], f["identity"]) for f in report["findings"] if f["decision"] == "disable"}
    assert disable == {(MEMBER, "member-stale"), (LISTED, "listed-stale")}
    assumed = {a["RoleArn"]: a for a in emu.assumed}
    assert set(assumed) == {f"arn:aws:iam::{MEMBER}:role/IdentitySweeper", AUDIT_ROLE}
    assert assumed[AUDIT_ROLE]["ExternalId"] == SECRET and "ExternalId" not in assumed[
        f"arn:aws:iam::{MEMBER}:role/IdentitySweeper"]
    for sent in assumed.values():  # named after the run, and read only: a plan
        assert sent["RoleSessionName"] == sent["SourceIdentity"] == session_name(report["run_id"])
        assert {a for s in json.loads(sent["Policy"])["Statement"] for a in s["Action"]} == READS
    assert SECRET not in output


def test_an_unassumable_role_fails_its_account_only(emu: emulator.AwsEmulator, tmp_path: Path) -> None:
    code, report, output = _sweep("plan", "-c", _config(tmp_path, emu, accounts=_listed({"id": UNASSUMABLE})))
    assert code == 4, output
    scopes = _scopes(report)
    failed = scopes[UNASSUMABLE]
    assert failed["status"] == "failed" and "\n" not in failed["message"]
    role = f"arn:aws:iam::{UNASSUMABLE}:role/IdentitySweeper"
    assert f"account {UNASSUMABLE}: assume role {role}: missing permission sts:AssumeRole" in failed["message"]
    assert scopes[MEMBER]["status"] == scopes[LISTED]["status"] == "ok"
    assert {f["scope"] for f in report["findings"]} == {MEMBER, LISTED}
    assert "hidden" not in {f["identity"] for f in report["findings"]}


@pytest.fixture
def moved(emu: emulator.AwsEmulator) -> Iterator[hostile.Front]:
    """A front whose GetCallerIdentity puts LISTED's role session in another account."""
    front = hostile.Front(emu.endpoint_url, {"GetCallerIdentity": hostile.caller_moved(LISTED, ELSEWHERE)})
    yield front
    front.stop()


def test_a_role_session_in_another_account_fails_that_account(emu: emulator.AwsEmulator, moved: hostile.Front,
                                                             tmp_path: Path) -> None:
    code, report, output = _sweep("plan", "-c", _config(tmp_path, emu, accounts=_listed(), endpoint_url=moved.url))
    assert code == 4, output
    scopes = _scopes(report)
    assert scopes[MEMBER]["status"] == "ok" and scopes[LISTED]["status"] == "failed"
    message = scopes[LISTED]["message"]
    assert (f"the configured account is {LISTED}, but the credentials are for {ELSEWHERE} "
            f"(sts:GetCallerIdentity of the session in {AUDIT_ROLE})") in message
    assert scopes[LISTED]["identities"] == 0 and {f["scope"] for f in report["findings"]} == {MEMBER}
    assert SECRET not in output


def test_the_binding_error_is_kept_and_the_others_go_on(emu: emulator.AwsEmulator, moved: hostile.Front) -> None:
    adapter = AwsIamAdapter(_settings(emu, accounts=_listed(), endpoint_url=moved.url), write=False)
    assert adapter.scopes() == [MEMBER, LISTED]
    for _ in range(2):  # found once, said again without assuming the role again
        with pytest.raises(BindingError, match=f"credentials are for {ELSEWHERE}"):
            list(adapter.list_identities(LISTED))
    assert [a["RoleArn"] for a in emu.assumed] == [AUDIT_ROLE]
    assert {i.login for i in adapter.list_identities(MEMBER)} >= {"member-stale", "member-fresh"}


def test_apply_and_restore_go_through_the_listed_roles(emu: emulator.AwsEmulator, tmp_path: Path) -> None:
    cfg = _config(tmp_path, emu, accounts=_listed())
    code, applied, output = _sweep("apply", "-c", cfg, "--yes")
    assert code == 0, output
    assert {(f["scope"], f["identity"], f["action"]) for f in applied["findings"] if f["decision"] == "disable"} == {
        (MEMBER, "member-stale", "disabled"), (LISTED, "listed-stale", "disabled")}
    assert _key_status(emu, MEMBER, "member-stale") == _key_status(emu, LISTED, "listed-stale") == "Inactive"
    assert _key_status(emu, MEMBER, "member-fresh") == "Active"
    emu.assumed.clear()
    restored = runner.invoke(app, ["restore", "-c", cfg, applied["run_id"], "--yes", "-f", "json"])
    assert restored.exit_code == 0, restored.output
    items = json.loads(restored.stdout)["items"]
    assert {(i["scope"], i["identity"], i["result"]) for i in items} == {
        (MEMBER, "member-stale", "restored"), (LISTED, "listed-stale", "restored")}
    assert _key_status(emu, MEMBER, "member-stale") == _key_status(emu, LISTED, "listed-stale") == "Active"
    # the action's scope is the account: restore assumed the same roles again, the external id with its own
    assert {(a["RoleArn"], a.get("ExternalId")) for a in emu.assumed} == {
        (f"arn:aws:iam::{MEMBER}:role/IdentitySweeper", None), (AUDIT_ROLE, SECRET)}


def test_a_listed_run_cannot_reach_an_account_it_does_not_list(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu, accounts=[{"id": MEMBER}]), write=False)
    for account in (HOME, LISTED):  # not even the caller's own account
        with pytest.raises(ProviderError, match=f"account {account}: not one of the 1 accounts listed"):
            list(adapter.list_identities(account))
    assert emu.counts["AssumeRole"] == 0


def test_two_adapters_in_one_process_share_nothing(emu: emulator.AwsEmulator) -> None:
    first = AwsIamAdapter(_settings(emu, accounts=[{"id": MEMBER}], max_parallel=2), write=False)
    second = AwsIamAdapter(_settings(emu, accounts=[{"id": LISTED, "role_arn": AUDIT_ROLE}, {"id": UNASSUMABLE}]),
                           write=True)
    assert (first.scopes(), second.scopes()) == ([MEMBER], [LISTED, UNASSUMABLE])
    assert (first.max_parallel, second.max_parallel) == (2, 8)
    assert {i.scope for i in first.list_identities(MEMBER)} == {MEMBER}
    assert {i.login for i in second.list_identities(LISTED)} >= {"listed-stale"}
    with pytest.raises(PermissionDenied, match=f"account {UNASSUMABLE}: assume role"):
        list(second.list_identities(UNASSUMABLE))
    with pytest.raises(ProviderError, match="not one of the 1 accounts listed"):
        list(first.list_identities(LISTED))  # the second's session is not the first's
    assert [a["RoleArn"] for a in emu.assumed] == [f"arn:aws:iam::{MEMBER}:role/IdentitySweeper", AUDIT_ROLE,
                                                   f"arn:aws:iam::{UNASSUMABLE}:role/IdentitySweeper"]
    writes = [json.loads(a["Policy"]) for a in emu.assumed]  # each session follows its own adapter's mode
    assert ["iam:UpdateAccessKey" in json.dumps(p) for p in writes] == [False, True, True]


def test_check_probes_every_listed_role(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu, accounts=_listed({"id": UNASSUMABLE})), write=False)
    results = {r.name: r for r in adapter.check()}
    assert results[f"sts:AssumeRole {MEMBER}"].ok and results[f"sts:AssumeRole {LISTED}"].ok
    denied = results[f"sts:AssumeRole {UNASSUMABLE}"]
    assert denied.ok is False and f"arn:aws:iam::{UNASSUMABLE}:role/IdentitySweeper" in denied.detail
    assert results["iam:GetAccountAuthorizationDetails"].ok  # the reads, through the first role assumed
    assert emu.counts["UpdateAccessKey"] == emu.counts["DeleteLoginProfile"] == 0


# -- the policies ------------------------------------------------------------------------------------

def _doc(mode: str, **settings: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(AwsIamAdapter.permissions(mode, AwsSettings.model_validate(settings)))
    return parsed


@pytest.mark.parametrize("mode", ["plan", "apply"])
def test_the_caller_may_assume_exactly_the_listed_roles(mode: str) -> None:
    doc = _doc(mode, region="us-gov-west-1", accounts=[{"id": MEMBER}, {"id": LISTED, "role_arn": AUDIT_ROLE}])
    assert {s["Sid"]: s["Action"] for s in doc["Statement"]} == {
        "SweeperWhoAmI": ["sts:GetCallerIdentity"],
        "SweeperAssumeAccountRoles": ["sts:AssumeRole", "sts:SetSourceIdentity"]}
    assume = doc["Statement"][1]
    assert assume["Resource"] == [f"arn:aws-us-gov:iam::{MEMBER}:role/IdentitySweeper", AUDIT_ROLE]
    assert "Condition" not in assume


def test_the_listed_role_is_the_member_role_without_the_organization() -> None:
    member = _doc("org-member", account_id=HOME, accounts=[{"id": MEMBER}, {"id": LISTED, "role_arn": AUDIT_ROLE,
                                                                            "external_id": SECRET}])
    assert member["Roles"] == [f"arn:aws:iam::{MEMBER}:role/IdentitySweeper", AUDIT_ROLE]
    assert member["PermissionsPolicy"] == _doc("org-member", organization={})["PermissionsPolicy"]
    [trust] = member["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{HOME}:root"}
    assert trust["Condition"] == {"StringLike": {"sts:RoleSessionName": "identity-sweeper-*"},
                                  "StringEquals": {"sts:ExternalId": policy.EXTERNAL_ID_PLACEHOLDER}}
    assert SECRET not in json.dumps(member) and "PrincipalOrgID" not in json.dumps(member)
    plain = _doc("org-member", accounts=[{"id": MEMBER}])["AssumeRolePolicyDocument"]["Statement"][0]
    assert plain["Principal"] == {"AWS": f"arn:aws:iam::{policy.SWEEPER_PLACEHOLDER}:root"}
    assert "StringEquals" not in plain["Condition"]


def test_the_session_policy_of_a_hub_role_fits_with_many_accounts() -> None:
    many = [{"id": f"{n:012d}", "role_name": "a-rather-long/path/to/the/IdentitySweeperRole"} for n in range(1, 200)]
    settings = AwsSettings.model_validate({"role_arn": f"arn:aws:iam::{HOME}:role/hub", "accounts": many})
    session = json.loads(policy.session_policy(True, settings, "aws", member=False))
    assert [s["Resource"] for s in session["Statement"]] == ["*", "*"]  # the role's own policy is the exact one
    assert len(policy.document("plan", settings)["Statement"][1]["Resource"]) == 199
