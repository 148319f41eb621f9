"""IAM roles as machine identities (#17 item 1), through moto's server and the CLI: decisions across the
threshold, never-used roles by creation, the never-touch rules, report-only by default, the deny policy
applied, journaled and restored exactly, already-denied roles, and what a listing costs."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from providers.aws_iam import emulator, roles, scenarios
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.settings import AwsSettings
from sweeper.cli import app
from sweeper.journal import Journal
from sweeper.model import Action, ActionState, Activity, CredentialKind, CredentialRef, Identity, IdentityKind
from sweeper.testing.contract import AdapterContract, ContractSetup

NOW = scenarios.DEFAULT_NOW
AS_OF = NOW.date().isoformat()
HOME, MEMBER = scenarios.MANAGEMENT, scenarios.MEMBER
Start = Callable[[dict[str, Any]], emulator.AwsEmulator]
runner = CliRunner()


def _ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


def _roles_only(now: datetime = NOW) -> dict[str, Any]:
    """`scenarios.with_roles` with the sweeper's own user only: every finding is a role's."""
    scenario = scenarios.with_roles(now)
    account = scenario["accounts"][HOME]
    account["users"] = [u for u in account["users"] if u["name"] == "sweeper-bot"]
    return scenario


def _settings(emu: emulator.AwsEmulator, **extra: Any) -> AwsSettings:
    return AwsSettings.model_validate({**emu.config(), "report_poll_seconds": 0.01, "report_timeout_seconds": 5,
                                       "max_attempts": 1, "exclude_tags": {"sweeper:exempt": "true"}, **extra})


def _config(tmp_path: Path, emu: emulator.AwsEmulator, policy: str = "", **aws: Any) -> str:
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text(f'[policy]\nmax_disable_percent = 100\n{policy}\n[journal]\npath = "{tmp_path / "sweeper.db"}"\n'
                   + emu.config_toml(report_poll_seconds=0.01, **aws)
                   + '[providers.aws.exclude_tags]\n"sweeper:exempt" = "true"\n')
    return str(cfg)


def _cli(*args: Any) -> tuple[int, dict[str, Any], str]:
    r = runner.invoke(app, [str(a) for a in args])
    out = r.stdout
    return r.exit_code, (json.loads(out) if out.lstrip().startswith("{") else {}), r.output


def _roles(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["identity"]: f for f in report["findings"] if f["credential"] == "role"}


def _by_login(adapter: AwsIamAdapter, scope: str = HOME) -> dict[str, Identity]:
    return {i.login: i for i in adapter.list_identities(scope)}


def _policies(emu: emulator.AwsEmulator, role: str, account: str = HOME) -> set[str]:
    return set(emu.backend(account).get_role(role).policies)


@pytest.fixture
def emu(start_emulator: Start) -> emulator.AwsEmulator:
    return start_emulator(_roles_only())


class TestRoleContract(AdapterContract):
    """The adapter contract, its target a stale role denied and enabled again."""

    @pytest.fixture
    def contract(self, emu: emulator.AwsEmulator) -> ContractSetup:
        settings = _settings(emu, role_action="deny")
        listed = [r for r in _roles_only()["accounts"][HOME]["roles"] if "service" not in r]
        return ContractSetup(
            adapter=AwsIamAdapter(settings, write=True),
            identity_count=1 + 1 + len(listed),  # the root row, sweeper-bot, every role but the service-linked
            target_login="vendor-audit", target_kind=CredentialKind.ROLE,
            break_listing=lambda: emu.inject("GetAccountAuthorizationDetails", "ServiceUnavailable"),
            bad_auth=lambda: AwsIamAdapter(settings.model_copy(update={"profile": "revoked"}), write=True),
            read_only=lambda: AwsIamAdapter(settings, write=False),
            wrong_binding=lambda: AwsIamAdapter(settings.model_copy(update={"account_id": "999999999999"}),
                                                write=False))


# -- listing ---------------------------------------------------------------------------------------------

def test_a_role_is_a_machine_identity_with_one_role_credential(emu: emulator.AwsEmulator) -> None:
    found = _by_login(AwsIamAdapter(_settings(emu), write=False))
    vendor = found["vendor-audit"]
    assert vendor.kind is IdentityKind.SERVICE and vendor.id.startswith("AROA")
    [cred] = vendor.credentials
    assert (cred.kind, cred.credential_id, cred.label) == (CredentialKind.ROLE, vendor.id, "role")
    assert cred.activity is Activity.SEEN and cred.last_used is not None
    assert abs(cred.last_used - (NOW - timedelta(days=200))) < timedelta(seconds=1)
    assert cred.report_only == 'role_action = "report"'  # the default
    assert vendor.owner == "secops@example.com" and vendor.tags["team"] == "sec"  # owner_tags, as for users
    never = found["role-never-old"].credentials[0]
    assert never.activity is Activity.NEVER and never.last_used is None and never.created is not None
    assert "trailing 400 days" in (never.activity_note or "")


def test_service_linked_roles_are_skipped_and_counted(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu), write=False)
    found = _by_login(adapter)
    assert not [login for login in found if login.startswith("AWSServiceRoleFor")]
    assert len(emu.backend(HOME).roles) == len(found) - 2 + 2  # two users (root row, sweeper-bot) out, two SLRs in
    notes = adapter.scope_notes(HOME)
    assert "2 service-linked role(s) skipped (path /aws-service-role/)" in notes[0]
    assert "2 role(s) with no RoleLastUsed judged by their creation date" in notes[1]  # role-denied is not counted
    assert "trailing 400 days only" in notes[1]
    assert adapter.scope_notes(HOME) == []  # said once per listing


def test_roles_false_lists_no_role_and_asks_only_for_users(emu: emulator.AwsEmulator) -> None:
    emu.exchanges = []
    adapter = AwsIamAdapter(_settings(emu, roles=False), write=False)
    found = _by_login(adapter)
    assert set(found) == {"<root_account>", "sweeper-bot"} and adapter.scope_notes(HOME) == []
    [ask] = [e for e in emu.exchanges if e.action == "GetAccountAuthorizationDetails"]
    assert {k: v for k, v in ask.params.items() if k.startswith("Filter")} == {"Filter.member.1": "User"}


@pytest.mark.parametrize("roles_count", [0, 999, 2500])
def test_listing_costs_no_request_per_role(start_emulator: Start, roles_count: int) -> None:
    """Roles ride on the authorization-detail pages: ceil((users + roles) / 1000) pages and nothing else."""
    emu = start_emulator(scenarios.bulk_roles(roles_count))
    emu.reset_counts()
    found = _by_login(AwsIamAdapter(_settings(emu), write=False))
    assert sum(i.kind is IdentityKind.SERVICE for i in found.values()) == roles_count
    counts = emu.request_counts()
    assert counts.pop("GetAccountAuthorizationDetails") == math.ceil((10 + roles_count) / 1000)
    assert set(counts) == {"GetCallerIdentity", "GenerateCredentialReport", "GetCredentialReport"}
    assert counts["GetCallerIdentity"] == 1 and counts["GetCredentialReport"] == 1


def test_the_fast_pages_read_the_roles_botocore_reads(emu: emulator.AwsEmulator) -> None:
    from providers.aws_iam import pages

    def client() -> Any:
        return boto3.Session().client("iam", endpoint_url=emu.endpoint_url, region_name=emulator.REGION)

    def read(iam: Any, key: str) -> list[dict[str, Any]]:
        out, kwargs = [], {"Filter": ["Role"], "MaxItems": 3}
        while True:
            page = iam.get_account_authorization_details(**kwargs)
            out += page.get(key) or []
            if not page.get("IsTruncated"):
                return out
            kwargs["Marker"] = page["Marker"]

    slow, fast = read(client(), "RoleDetailList"), read(pages.install(client()), pages.ROLES)
    assert len(slow) == len(fast) == 12

    def fields(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["RoleName"], r["RoleId"], r["Arn"], r["Path"], r["CreateDate"], r.get("Tags", []),
                (r.get("RoleLastUsed") or {}).get("LastUsedDate"),
                sorted(p["PolicyName"] for p in r.get("RolePolicyList", [])))

    assert [fields(r) for r in fast] == [fields(r) for r in slow]
    by_name = {r["RoleName"]: r for r in fast}
    [deny] = by_name["role-denied"]["RolePolicyList"]
    assert deny["PolicyDocument"].startswith("%7B") and roles.is_deny_all(deny["PolicyDocument"])  # as AWS sends it
    [foreign] = by_name["role-foreign-policy"]["RolePolicyList"]
    assert not roles.is_deny_all(foreign["PolicyDocument"])
    assert by_name["role-two-policies"]["RolePolicyList"][0]["PolicyDocument"] is None  # others are not read


@pytest.fixture
def fronts() -> Any:
    from tests.providers.aws import hostile

    made: list[hostile.Front] = []

    def make(emu: emulator.AwsEmulator, inner: str) -> hostile.Front:
        made.append(hostile.Front(emu.endpoint_url, {"GetAccountAuthorizationDetails": hostile.details_page(inner)}))
        return made[-1]

    yield make
    for front in made:
        front.stop()


@pytest.mark.parametrize("inner, says", [
    ("<RoleDetailList>{twice}{twice}</RoleDetailList>", "role 'twice' was listed twice"),
    ("<RoleDetailList>{nameless}</RoleDetailList>", "a role without RoleName"),
    ("<RoleDetailList>{garbled}</RoleDetailList>", "unreadable answer"),
])
def test_a_bad_role_page_fails_the_account(emu: emulator.AwsEmulator, fronts: Any, inner: str, says: str) -> None:
    from sweeper.errors import DataError
    from tests.providers.aws import hostile

    page = inner.format(twice=hostile.role_member("twice"), nameless=hostile.role_member(None),
                        garbled=hostile.role_member("garbled", last_used="last tuesday"))
    front = fronts(emu, page)
    adapter = AwsIamAdapter(_settings(emu, endpoint_url=front.url), write=False)
    with pytest.raises(DataError, match=says):
        list(adapter.list_identities(HOME))


# -- decisions -------------------------------------------------------------------------------------------

def _boundary() -> dict[str, Any]:
    old = _ago(days=900)
    return {"accounts": {HOME: {
        "users": [{"name": "sweeper-bot", "created": old,
                   "keys": [{"created": _ago(days=30), "last_used": _ago(minutes=5), "caller": True}]}],
        "roles": [
            {"name": "used-46", "created": old, "last_used": _ago(days=46)},  # 60 - 14: not yet warned
            {"name": "used-47", "created": old, "last_used": _ago(days=47)},
            {"name": "used-60", "created": old, "last_used": _ago(days=60)},  # exactly T: still a warning
            {"name": "used-60s", "created": old, "last_used": _ago(days=60, seconds=1)},
            {"name": "never-59", "created": _ago(days=59), "last_used": None},
            {"name": "never-61", "created": _ago(days=61), "last_used": None},
        ]}}}


@pytest.mark.parametrize("action, expected", [
    ("deny", {"used-47": "warn", "used-60": "warn", "used-60s": "disable", "never-59": "warn",
              "never-61": "disable"}),
    ("report", {"used-60s": "report", "never-61": "report"}),  # report only: no warning before
])
def test_decisions_across_the_role_threshold(start_emulator: Start, tmp_path: Path, action: str,
                                             expected: dict[str, str]) -> None:
    emu = start_emulator(_boundary())
    cfg = _config(tmp_path, emu, role_action=action, role_inactive_days=60, inactive_days=300)
    emu.reset_counts()
    code, report, output = _cli("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json")
    assert code == 0, output
    found = _roles(report)
    assert {login: f["decision"] for login, f in found.items()} == expected
    assert all(f["threshold_days"] == 60 for f in found.values())
    assert "over the 60-day threshold for roles" in found["used-60s"]["reason"]
    assert found["never-61"]["reason"].startswith("never used; created ")
    assert report["providers"][0]["machine_identities"] == 6 and report["providers"][0]["identities"] == 2
    counts = emu.request_counts()
    candidates = sum(d in ("warn", "disable") for d in expected.values())  # re-read live before they are kept
    assert counts.get("GetRole", 0) == counts.get("GetRolePolicy", 0) == candidates
    if action == "report":
        assert found["never-61"]["reason"].endswith('reported only: role_action = "report"')


def test_the_never_touch_rules(start_emulator: Start, tmp_path: Path) -> None:
    """Excluded by tag and by login glob; protected: Identity Center's, a foreign policy of the deny
    policy's name, the organization's member role in every account; service-linked: not listed."""
    scenario = scenarios.organization(NOW)
    scenario["accounts"][HOME]["roles"] = scenarios.with_roles(NOW)["accounts"][HOME]["roles"]
    scenario["accounts"][MEMBER]["roles"] = [{"name": "IdentitySweeper", "created": _ago(days=900),
                                              "last_used": _ago(days=300)},
                                             {"name": "breakglass-role", "created": _ago(days=900),
                                              "last_used": _ago(days=300)}]
    emu = start_emulator(scenario)
    cfg = _config(tmp_path, emu, role_action="deny", exclude=["breakglass-*"],
                  organization={"include_accounts": [HOME, MEMBER]})
    code, report, output = _cli("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json")
    assert code == 0, output
    found = {(f["scope"], f["identity"]): f for f in report["findings"] if f["credential"] == "role"}
    decided = {key: f["decision"] for key, f in found.items()}
    assert decided[(HOME, "role-exempt")] == "excluded" and "tag sweeper:exempt=true" in found[(HOME, "role-exempt")][
        "reason"]
    assert decided[(MEMBER, "breakglass-role")] == "excluded"
    assert decided[(HOME, "IdentitySweeper")] == "protected"
    assert "the sweeper assumes this role in member accounts" in found[(HOME, "IdentitySweeper")]["reason"]
    # in the member account the sweeper's own sessions just used it (moto records RoleLastUsed as AWS does)
    assert (MEMBER, "IdentitySweeper") not in found
    member = _by_login(AwsIamAdapter(_settings(emu, organization={}), write=False), MEMBER)["IdentitySweeper"]
    assert member.protected_by and "organization.role_name IdentitySweeper" in member.protected_by
    assert decided[(HOME, "AWSReservedSSO_Admin_0123456789abcdef")] == "protected"
    assert decided[(HOME, "role-foreign-policy")] == "protected"
    assert not [key for key in found if key[1].startswith("AWSServiceRoleFor")]
    assert {key[1] for key, d in decided.items() if d == "disable"} == {"vendor-audit", "role-never-old",
                                                                       "role-two-policies"}


def test_the_role_the_sweeper_runs_as_or_assumes_is_protected(emu: emulator.AwsEmulator) -> None:
    runner_role = f"arn:aws:iam::{HOME}:role/vendor-audit"  # the role_arn the sweeper assumes
    adapter = AwsIamAdapter(_settings(emu, role_arn=runner_role, role_action="deny"), write=True)
    vendor = _by_login(adapter)["vendor-audit"]
    assert vendor.protected_by == f"the sweeper assumes this role (role_arn {runner_role})"
    # and apply refuses it even when asked (a plan file edited by hand)
    [outcome] = adapter.apply(Action.DISABLE, [CredentialRef.of(vendor, vendor.credentials[0])])
    assert not outcome.ok and "refusing to deny role vendor-audit: the sweeper assumes this role" in outcome.error
    assert roles.DENY_POLICY not in _policies(emu, "vendor-audit")


def test_a_session_in_a_role_protects_that_role(emu: emulator.AwsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials of an assumed role (an instance or task role): the sweeper runs as that role."""
    env = emu.caller_env()
    sts = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                        region_name=emulator.REGION).client("sts", endpoint_url=emu.endpoint_url)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{HOME}:role/role-two-policies", RoleSessionName="ci")["Credentials"]
    for name, value in (("AWS_ACCESS_KEY_ID", creds["AccessKeyId"]), ("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"]),
                        ("AWS_SESSION_TOKEN", creds["SessionToken"])):
        monkeypatch.setenv(name, value)
    found = _by_login(AwsIamAdapter(_settings(emu), write=False))
    assert found["role-two-policies"].protected_by == "the sweeper runs as this role"
    assert found["vendor-audit"].protected_by is None


# -- report only, deny, restore ------------------------------------------------------------------------------

def test_report_only_by_default_reports_and_writes_nothing(emu: emulator.AwsEmulator, tmp_path: Path) -> None:
    cfg = _config(tmp_path, emu)
    emu.reset_counts()
    code, report, output = _cli("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json")
    assert code == 0, output
    found = _roles(report)
    reported = {login for login, f in found.items() if f["decision"] == "report"}
    assert reported == {"vendor-audit", "role-never-old", "role-two-policies", "IdentitySweeper"}
    assert all(found[login]["action"] == "none" for login in reported)
    assert report["summary"]["report"] == 4 and report["summary"]["disabled"] == 0
    assert not {"PutRolePolicy", "DeleteRolePolicy", "GetRole", "GetRolePolicy"} & set(emu.request_counts())
    assert _policies(emu, "role-two-policies") == {"app-reads"}


def test_deny_apply_journal_and_restore_remove_exactly_the_policy(emu: emulator.AwsEmulator, tmp_path: Path) -> None:
    cfg = _config(tmp_path, emu, role_action="deny")
    code, applied, output = _cli("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json")
    assert code == 0, output
    denied = {login for login, f in _roles(applied).items() if f["action"] == "disabled"}
    assert denied == {"vendor-audit", "role-never-old", "role-two-policies", "IdentitySweeper"}
    assert _policies(emu, "role-two-policies") == {"app-reads", roles.DENY_POLICY}
    document = emu.backend(HOME).get_role("vendor-audit").policies[roles.DENY_POLICY]
    assert json.loads(document) == roles.DENY_DOCUMENT
    assert _policies(emu, "role-exempt") == set() and _policies(emu, "role-recent") == set()
    assert _policies(emu, "role-foreign-policy") == {roles.DENY_POLICY}  # untouched: not ours
    journal = Journal(tmp_path / "sweeper.db")
    try:
        rows = [r for r in journal.actions(applied["run_id"]) if r.ref.kind is CredentialKind.ROLE]
    finally:
        journal.close()
    assert {r.ref.login for r in rows} == denied and all(r.state is ActionState.DONE for r in rows)
    assert all(r.before["enabled"] and r.ref.credential_id == r.ref.identity_id for r in rows)

    # the next listing finds them denied: already disabled, no finding
    code, again, output = _cli("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json")
    assert code == 0, output
    assert not {login for login, f in _roles(again).items() if f["decision"] in ("disable", "warn")}
    assert again["summary"]["already_disabled"] == applied["summary"]["already_disabled"] + 4

    # someone assumes a denied role (its sessions can do nothing): that is no use, restore still restores
    emu.backend(HOME).get_role("vendor-audit").last_used = datetime.now(NOW.tzinfo)
    code, restored, output = _cli("restore", "-c", cfg, applied["run_id"], "--yes", "-f", "json")
    assert code == 0, output
    assert {i["identity"]: i["result"] for i in restored["items"]} == {login: "restored" for login in denied}
    assert _policies(emu, "role-two-policies") == {"app-reads"}  # the other inline policy survived both
    assert all(_policies(emu, login) == set() for login in denied - {"role-two-policies"})
    assert _policies(emu, "role-denied") == {roles.DENY_POLICY}  # denied by another run: not this one's to undo


def test_roles_are_capped_among_machine_identities(emu: emulator.AwsEmulator, tmp_path: Path) -> None:
    """Four stale roles of ten machine identities are over 10 %, however few people the account has."""
    cfg = _config(tmp_path, emu, role_action="deny", max_disable_percent=10)
    emu.reset_counts()
    code, report, output = _cli("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json")
    assert code == 3, output
    [scope] = report["providers"]
    assert scope["status"] == "capped"
    assert "4 machine identities to disable exceed max_disable_percent = 10% of 10 machine identities" in scope[
        "message"]
    assert emu.request_counts().get("PutRolePolicy", 0) == 0


def test_a_role_carrying_the_policy_is_already_disabled(emu: emulator.AwsEmulator, tmp_path: Path) -> None:
    denied = _by_login(AwsIamAdapter(_settings(emu), write=False))["role-denied"]
    assert not denied.credentials[0].enabled
    code, report, output = _cli("plan", "-c", _config(tmp_path, emu, role_action="deny"), "--as-of", AS_OF,
                                "-f", "json")
    assert code == 0, output
    assert "role-denied" not in _roles(report)


def test_apply_never_overwrites_or_deletes_a_foreign_policy_of_that_name(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu, role_action="deny"), write=True)
    foreign = _by_login(adapter)["role-foreign-policy"]
    ref = CredentialRef.of(foreign, foreign.credentials[0])
    for action in (Action.DISABLE, Action.ENABLE):
        [outcome] = adapter.apply(action, [ref])
        assert not outcome.ok and "not the sweeper's deny-all" in outcome.error
    assert not roles.is_deny_all(emu.backend(HOME).get_role("role-foreign-policy").policies[roles.DENY_POLICY])


def test_a_role_recreated_under_its_name_is_not_the_one_judged(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu, role_action="deny"), write=True)
    vendor = _by_login(adapter)["vendor-audit"]
    ref = CredentialRef.of(vendor, vendor.credentials[0])
    backend = emu.backend(HOME)
    backend.delete_role("vendor-audit")
    backend.create_role("vendor-audit", json.dumps({"Version": "2012-10-17", "Statement": []}), "/", None, "", [],
                        "3600")
    assert adapter.refresh(ref) is None
    [outcome] = adapter.apply(Action.DISABLE, [ref])
    assert outcome.ok and outcome.note.startswith("already removed")
    assert _policies(emu, "vendor-audit") == set()  # the new role is untouched


def test_report_mode_refuses_to_deny_but_still_restores(emu: emulator.AwsEmulator) -> None:
    deny = AwsIamAdapter(_settings(emu, role_action="deny"), write=True)
    vendor = _by_login(deny)["vendor-audit"]
    ref = CredentialRef.of(vendor, vendor.credentials[0])
    assert deny.apply(Action.DISABLE, [ref])[0].ok
    report = AwsIamAdapter(_settings(emu), write=True)
    [refused] = report.apply(Action.DISABLE, [CredentialRef.of(*_role(report, "role-never-old"))])
    assert not refused.ok and refused.error == 'role_action = "report": not denied'
    [enabled] = report.apply(Action.ENABLE, [ref])  # a run that denied roles can always be restored
    assert enabled.ok and _policies(emu, "vendor-audit") == set()
    [again] = report.apply(Action.ENABLE, [ref])
    assert again.ok and again.note.startswith("already enabled")
    assert not report.apply(Action.REMOVE, [ref])[0].ok  # roles are never removed


def _role(adapter: AwsIamAdapter, login: str) -> tuple[Identity, Any]:
    identity = _by_login(adapter)[login]
    return identity, identity.credentials[0]


# -- settings ----------------------------------------------------------------------------------------------

def test_role_settings() -> None:
    assert AwsSettings.model_validate({}).kind_overrides() == {}
    settings = AwsSettings.model_validate({"role_inactive_days": 400})
    assert settings.kind_overrides() == {"role": 400} and not settings.denies_roles
    with pytest.raises(ValidationError, match="role_inactive_days = 401 is longer than IAM's 400-day tracking"):
        AwsSettings.model_validate({"role_inactive_days": 401})
    with pytest.raises(ValidationError):
        AwsSettings.model_validate({"role_action": "delete"})
    assert AwsSettings.model_validate({"role_action": "deny"}).denies_roles
    assert not AwsSettings.model_validate({"role_action": "deny", "roles": False}).denies_roles
    warned = AwsSettings.model_validate({"account_id": "123456789012", "inactive_days": 500}).warnings()
    assert any("inactive_days = 500 also judge roles" in w for w in warned)
    assert not AwsSettings.model_validate({"account_id": "123456789012", "inactive_days": 500,
                                           "role_inactive_days": 300}).warnings()


@pytest.mark.parametrize("document, ours", [
    (roles.DENY_DOCUMENT, True),
    (json.dumps(roles.DENY_DOCUMENT), True),
    ("%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Deny%22%2C%20"
     "%22Action%22%3A%20%22%2A%22%2C%20%22Resource%22%3A%20%22%2A%22%7D%5D%7D", True),
    ({"Statement": {"Sid": "x", "Effect": "Deny", "Action": ["*"], "Resource": ["*"]}}, True),
    ({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}, False),
    ({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"x": "y"}}}]}, False),
    ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, False),
    ({"Statement": []}, False), ("not json", False), (None, False),
])
def test_only_the_exact_deny_all_is_the_sweepers(document: Any, ours: bool) -> None:
    assert roles.is_deny_all(document) is ours
