"""The AWS IAM adapter against moto's server over HTTP: contract, listing, refresh, apply, describe."""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Callable

import pytest

from providers.aws_iam import emulator, scenarios
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.settings import AwsSettings
from providers.emulator import Faults
from sweeper.errors import AuthError, PermissionDenied, ProviderError, ThrottledError
from sweeper.model import Action, Activity, CredentialKind, CredentialRef, Identity, IdentityKind
from sweeper.testing.contract import AdapterContract, ContractSetup

NOW = scenarios.DEFAULT_NOW
HOME = scenarios.MANAGEMENT
Start = Callable[[dict[str, Any]], emulator.AwsEmulator]  # the start_emulator fixture (conftest.py)


def _settings(emu: emulator.AwsEmulator, **extra: Any) -> AwsSettings:
    return AwsSettings.model_validate({**emu.config(), "report_poll_seconds": 0.01,
                                       "report_timeout_seconds": 5, "max_attempts": 1, **extra})


@pytest.fixture
def org_emu(start_emulator: Start) -> emulator.AwsEmulator:
    return start_emulator(scenarios.organization(NOW))


@pytest.fixture
def adapter(emu: emulator.AwsEmulator) -> AwsIamAdapter:
    return AwsIamAdapter(_settings(emu, exclude_tags={"sweeper:exempt": "true"}), write=True)


def _by_login(adapter: AwsIamAdapter, scope: str = HOME) -> dict[str, Identity]:
    return {i.login: i for i in adapter.list_identities(scope)}


def _password(identity: Identity) -> Any:
    return next(c for c in identity.credentials if c.kind is CredentialKind.CONSOLE_PASSWORD)


def _keys(identity: Identity) -> list[Any]:
    return [c for c in identity.credentials if c.kind is CredentialKind.ACCESS_KEY]


def _ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


@pytest.fixture
def twin_emu(start_emulator: Start) -> emulator.AwsEmulator:
    return start_emulator(scenarios.with_twin_keys(NOW))


class TestContract(AdapterContract):
    @pytest.fixture
    def contract(self, twin_emu: emulator.AwsEmulator) -> ContractSetup:
        emu = twin_emu
        settings = _settings(emu)
        users = len(scenarios.with_twin_keys(NOW)["accounts"][HOME]["users"])
        return ContractSetup(
            adapter=AwsIamAdapter(settings, write=True),
            identity_count=users + 1,  # + the root row
            target_login="key-never-old", target_kind=CredentialKind.ACCESS_KEY,
            break_listing=lambda: emu.inject("GetAccountAuthorizationDetails", "ServiceUnavailable"),
            bad_auth=lambda: AwsIamAdapter(settings.model_copy(update={"profile": "revoked"}), write=True),
            read_only=lambda: AwsIamAdapter(settings, write=False),
            wrong_binding=lambda: AwsIamAdapter(settings.model_copy(update={"account_id": "999999999999"}),
                                                write=False))


# -- listing ----------------------------------------------------------------------------------

def test_one_stale_and_one_active_key_are_separate_credentials(adapter: AwsIamAdapter) -> None:
    user = _by_login(adapter)["mixed-keys"]
    fresh, stale = _keys(user)
    assert (fresh.credential_id, stale.credential_id) == ("access_key_1", "access_key_2")
    assert fresh.activity is stale.activity is Activity.SEEN
    assert fresh.last_used == _ago(days=1) and stale.last_used == _ago(days=400)
    live = {adapter.refresh(CredentialRef.of(user, c)).credential_id: adapter.refresh(CredentialRef.of(user, c))
            for c in (fresh, stale)}
    assert len(live) == 2 and all(k.startswith("AKIA") for k in live)  # real, distinct key ids
    assert sorted(c.last_used for c in live.values()) == [_ago(days=400), _ago(days=1)]


def test_never_used_keys_carry_their_creation_date(adapter: AwsIamAdapter) -> None:
    users = _by_login(adapter)
    old, new = _keys(users["key-never-old"])[0], _keys(users["key-never-new"])[0]
    assert old.activity is new.activity is Activity.NEVER
    assert old.created == _ago(days=300) and new.created == _ago(hours=1)
    assert old.last_used is new.last_used is None
    live = adapter.refresh(CredentialRef.of(users["key-never-new"], new))
    assert live.activity is Activity.NEVER and live.created == _ago(hours=1)


def test_console_activity_is_the_last_sign_in_not_the_profile_date(adapter: AwsIamAdapter) -> None:
    users = _by_login(adapter)
    expect = {"console-stale": (Activity.SEEN, _ago(days=200), _ago(days=800)),
              "console-recent": (Activity.SEEN, _ago(days=3), _ago(days=800)),
              "console-never-old": (Activity.NEVER, None, _ago(days=400)),
              "console-never-new": (Activity.NEVER, None, _ago(days=2)),
              "console-reset": (Activity.NEVER, None, _ago(days=5))}  # reset after the last sign-in
    for login, (activity, used, created) in expect.items():
        for pw in (_password(users[login]), adapter.refresh(CredentialRef.of(users[login], _password(users[login])))):
            assert (pw.activity, pw.last_used, pw.created, pw.enabled) == (activity, used, created, True), login
            assert pw.irreversible
    assert not _password(users["no-credentials"]).enabled  # no login profile: already disabled
    assert _keys(users["no-credentials"]) == []


def test_an_inactive_key_is_listed_disabled(adapter: AwsIamAdapter) -> None:
    user = _by_login(adapter)["key-inactive"]
    [key] = _keys(user)
    assert not key.enabled and key.last_used == _ago(days=500)
    assert not adapter.refresh(CredentialRef.of(user, key)).enabled


def test_tag_exclusion_names_the_tag(adapter: AwsIamAdapter, emu: emulator.AwsEmulator) -> None:
    users = _by_login(adapter)
    assert users["exempt-tagged"].excluded_by == "tag sweeper:exempt=true"
    assert users["exempt-tagged"].tags["team"] == "ops"
    assert [u for u, i in users.items() if i.excluded_by] == ["exempt-tagged"]
    anyvalue = AwsIamAdapter(_settings(emu, exclude_tags={"team": "*"}), write=False)
    assert _by_login(anyvalue)["exempt-tagged"].excluded_by == "tag team=ops"


def test_root_row_is_a_protected_root_identity(adapter: AwsIamAdapter) -> None:
    root = _by_login(adapter)["<root_account>"]
    assert root.kind is IdentityKind.ROOT and root.protected_by
    assert _password(root).last_used == _ago(days=40)
    assert adapter.refresh(CredentialRef.of(root, _password(root))).last_used == _ago(days=40)


def test_the_sweeper_protects_itself(adapter: AwsIamAdapter, emu: emulator.AwsEmulator) -> None:
    me = _by_login(adapter)["sweeper-bot"]
    assert me.protected_by and "sweeper" in me.protected_by
    ref = CredentialRef.of(me, _keys(me)[0])
    live = adapter.refresh(ref)
    assert live.credential_id == emu.caller["access_key_id"] and live.protected_by
    [outcome] = adapter.apply(Action.DISABLE, [ref])
    assert not outcome.ok and emu.counts["UpdateAccessKey"] == 0
    assert adapter.whoami().id.endswith(":user/sweeper-bot")


# -- refresh and apply ------------------------------------------------------------------------

def test_disable_one_key_leaves_the_other_and_enable_restores(adapter: AwsIamAdapter) -> None:
    user = _by_login(adapter)["mixed-keys"]
    fresh_ref, stale_ref = (CredentialRef.of(user, c) for c in _keys(user))
    [done] = adapter.apply(Action.DISABLE, [stale_ref])
    assert done.ok and done.ref == stale_ref
    assert not adapter.refresh(stale_ref).enabled
    assert adapter.refresh(fresh_ref).enabled  # only the stale key
    real = CredentialRef(*[getattr(stale_ref, f) for f in ("provider", "scope", "identity_id", "login", "kind")],
                         adapter.refresh(stale_ref).credential_id)  # as the journal stores it
    [undone] = adapter.apply(Action.ENABLE, [real])
    assert undone.ok and adapter.refresh(real).enabled and adapter.refresh(stale_ref).enabled


def test_delete_login_profile_is_irreversible_and_idempotent(adapter: AwsIamAdapter,
                                                             emu: emulator.AwsEmulator) -> None:
    user = _by_login(adapter)["console-stale"]
    ref = CredentialRef.of(user, _password(user))
    [first] = adapter.apply(Action.DISABLE, [ref])
    assert first.ok
    after = adapter.refresh(ref)
    assert after is not None and not after.enabled and after.irreversible
    [again] = adapter.apply(Action.DISABLE, [ref])  # DeleteLoginProfile answers NoSuchEntity
    assert again.ok and again.note == "already removed"
    [restore] = adapter.apply(Action.ENABLE, [ref])
    assert not restore.ok and "CreateLoginProfile" in restore.error
    assert emu.counts["DeleteLoginProfile"] == 2 and emu.counts["CreateLoginProfile"] == 0


def test_console_action_report_never_deletes(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu, console_action="report"), write=True)
    user = _by_login(adapter)["console-stale"]
    assert not _password(user).irreversible
    ref = CredentialRef.of(user, _password(user))
    [outcome] = adapter.apply(Action.DISABLE, [ref])
    assert not outcome.ok and outcome.error == "console_action = report: not deleted"
    assert adapter.refresh(ref).enabled and emu.counts["DeleteLoginProfile"] == 0


def test_refresh_of_keys_that_changed_since_the_report(adapter: AwsIamAdapter, emu: emulator.AwsEmulator) -> None:
    users = _by_login(adapter)
    old = users["key-never-old"]
    ref = CredentialRef.of(old, _keys(old)[0])
    real = adapter.refresh(ref).credential_id
    emu.backend(HOME).delete_access_key(real, "key-never-old")  # rotated away after the report
    assert adapter.refresh(ref) is None
    [outcome] = adapter.apply(Action.DISABLE, [ref])
    assert outcome.ok and outcome.note == "already removed"
    fresh = AwsIamAdapter(_settings(emu), write=True)  # another run: no report slots in memory
    with pytest.raises(ProviderError):
        fresh.refresh(CredentialRef.of(users["mixed-keys"], _keys(users["mixed-keys"])[0]))


def test_a_recreated_user_of_the_same_name_is_not_the_judged_one(adapter: AwsIamAdapter,
                                                                   emu: emulator.AwsEmulator) -> None:
    user = _by_login(adapter)["console-stale"]
    backend = emu.backend(HOME)
    backend.delete_login_profile("console-stale")
    backend.delete_user("console-stale")
    backend.create_user(emulator.REGION, "console-stale")
    backend.create_login_profile("console-stale", "Another-passw0rd!")
    assert adapter.refresh(CredentialRef.of(user, _password(user))) is None


def test_same_second_keys_resolve_by_their_use(start_emulator: Start) -> None:
    when = _ago(days=300).isoformat()
    scenario = {"accounts": {HOME: {"users": [{"name": "twins", "created": when, "keys": [
        {"created": when, "last_used": _ago(days=1).isoformat()},
        {"created": when, "last_used": _ago(days=200).isoformat()}]},
        {"name": "me", "created": when, "keys": [{"created": when, "caller": True}]}]}}}
    emu = start_emulator(scenario)
    adapter = AwsIamAdapter(_settings(emu), write=True)
    twins = _by_login(adapter)["twins"]
    live = [adapter.refresh(CredentialRef.of(twins, k)) for k in _keys(twins)]
    assert live[0].credential_id != live[1].credential_id
    assert [c.last_used for c in live] == [_ago(days=1), _ago(days=200)]


# -- accounts and organizations ---------------------------------------------------------------

def test_organization_scopes_and_one_unassumable_account(org_emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(org_emu, organization={"max_parallel": 3}), write=False)
    scopes = adapter.scopes()
    assert scopes == [scenarios.MANAGEMENT, scenarios.MEMBER, scenarios.UNASSUMABLE]  # not SUSPENDED
    assert adapter.max_parallel == 3 and adapter.batch_size == 1

    def listing(scope: str) -> list[Identity] | ProviderError:
        try:
            return list(adapter.list_identities(scope))
        except ProviderError as err:
            return err

    with ThreadPoolExecutor(3) as pool:  # the engine lists scopes in parallel
        results = dict(zip(scopes, pool.map(listing, scopes)))
    assert isinstance(results[scenarios.UNASSUMABLE], PermissionDenied)
    assert "sts:AssumeRole" in str(results[scenarios.UNASSUMABLE])
    members = {i.login for i in results[scenarios.MEMBER]}
    assert members == {"<root_account>", "member-user-1", "member-user-2", "member-user-3"}
    assert all(i.scope == scenarios.MEMBER for i in results[scenarios.MEMBER])
    assert "mixed-keys" in {i.login for i in results[scenarios.MANAGEMENT]}
    assert org_emu.counts["AssumeRole"] == 2  # the management account uses the caller's own session
    member = next(i for i in results[scenarios.MEMBER] if i.login == "member-user-2")
    ref = CredentialRef.of(member, _keys(member)[0])
    assert adapter.refresh(ref).last_used == _ago(days=100)
    assert org_emu.counts["AssumeRole"] == 2  # the role session is reused


def test_include_and_exclude_accounts(org_emu: emulator.AwsEmulator) -> None:
    only = AwsIamAdapter(_settings(org_emu, organization={"include_accounts": [scenarios.MEMBER]}), write=False)
    assert only.scopes() == [scenarios.MEMBER]
    without = AwsIamAdapter(_settings(org_emu, organization={
        "exclude_accounts": [scenarios.UNASSUMABLE]}), write=False)
    assert without.scopes() == [scenarios.MANAGEMENT, scenarios.MEMBER]
    gone = AwsIamAdapter(_settings(org_emu, organization={"include_accounts": ["999999999999"]}), write=False)
    assert gone.scopes() == ["999999999999"]  # named but not a member: a scope that fails, not skipped


def test_role_arn_assumes_into_one_account(org_emu: emulator.AwsEmulator) -> None:
    role = f"arn:aws:iam::{scenarios.MEMBER}:role/Auditor"
    adapter = AwsIamAdapter(_settings(org_emu, role_arn=role, external_id="xyz", account_id=scenarios.MEMBER),
                            write=False)
    assert adapter.scopes() == [scenarios.MEMBER]
    assert len(list(adapter.list_identities(scenarios.MEMBER))) == 4
    [assumed] = org_emu.assumed
    assert (assumed["RoleArn"], assumed["ExternalId"]) == (role, "xyz")
    assert assumed["RoleSessionName"].startswith("identity-sweeper-") and json.loads(assumed["Policy"])


def test_an_account_that_is_not_configured_is_refused(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu), write=False)
    with pytest.raises(ProviderError):
        list(adapter.list_identities("999999999999"))


# -- the credential report and errors ---------------------------------------------------------

def test_report_in_progress_and_throttling_are_waited_out(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu), write=False)
    emu.report_pending = 2
    emu.inject("GenerateCredentialReport", "Throttling", times=2)
    assert len(_by_login(adapter)) == 13
    assert emu.counts["GenerateCredentialReport"] >= 4


def test_a_report_that_never_completes_fails_within_the_budget(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu, report_timeout_seconds=0.3), write=False)
    emu.report_pending = math.inf
    with pytest.raises(ProviderError, match="not complete after 0.3 s") as raised:
        list(adapter.list_identities(HOME))
    assert not isinstance(raised.value, ThrottledError)
    assert emu.counts["GenerateCredentialReport"] <= 10  # bounded: doubling waits, not a busy loop
    assert emu.counts["GetAccountAuthorizationDetails"] == 0  # no identity without activity data


def test_throttled_for_good_is_a_throttled_error(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu, report_timeout_seconds=0.2, max_attempts=2), write=False)
    emu.inject("GenerateCredentialReport", "Throttling")
    with pytest.raises(ThrottledError):
        list(adapter.list_identities(HOME))
    assert adapter.accounts.config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert emu.counts["GenerateCredentialReport"] % 2 == 0  # every poll tried twice by botocore


def test_a_malformed_page_raises_never_returns_part(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu), write=False)
    emu.faults = Faults(rate_malformed=1.0, only=("GetAccountAuthorizationDetails",))
    with pytest.raises(ProviderError):
        list(adapter.list_identities(HOME))


def test_aws_listing_times_out_and_fails(emu: emulator.AwsEmulator) -> None:
    """A provider that answers too slowly fails within the configured timeout."""
    settings = AwsSettings(**emu.config(), timeout_seconds=0.3, max_attempts=2, report_poll_seconds=0.05)
    adapter = AwsIamAdapter(settings, write=False)
    scope = adapter.scopes()[0]
    emu.faults = Faults(latency_ms=1500, only=("GetAccountAuthorizationDetails",))
    started = time.monotonic()
    with pytest.raises(ProviderError):
        list(adapter.list_identities(scope))
    assert time.monotonic() - started < 12


def test_a_read_only_adapter_refuses_to_apply(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu), write=False)
    user = _by_login(adapter)["key-never-old"]
    with pytest.raises(ProviderError, match="read-only"):
        adapter.apply(Action.DISABLE, [CredentialRef.of(user, _keys(user)[0])])
    assert emu.counts["UpdateAccessKey"] == 0


def test_a_missing_permission_is_named(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu), write=False)
    emu.inject("GetAccountAuthorizationDetails", "AccessDenied")
    with pytest.raises(PermissionDenied, match="iam:GetAccountAuthorizationDetails"):
        list(adapter.list_identities(HOME))


def test_secrets_never_appear_in_errors(emu: emulator.AwsEmulator) -> None:
    settings = _settings(emu)
    with pytest.raises(AuthError) as raised:
        AwsIamAdapter(settings.model_copy(update={"profile": "revoked"}), write=False).scopes()
    secret = emu.caller["secret_access_key"]
    assert "revoked-secret" not in str(raised.value) and secret not in str(raised.value)
    assert "revoked-secret" not in repr(raised.value.__dict__)


# -- describe -----------------------------------------------------------------------------------

def test_permissions_is_the_exact_least_privilege_policy() -> None:
    policy = json.loads(AwsIamAdapter.permissions("apply"))
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert {"iam:UpdateAccessKey", "iam:DeleteLoginProfile", "iam:GetCredentialReport",
            "iam:GenerateCredentialReport", "iam:GetAccountAuthorizationDetails", "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed", "iam:GetUser", "iam:GetLoginProfile", "sts:GetCallerIdentity",
            "iam:DeleteAccessKey"} == actions  # the last for opt-in removal (#13) only
    assert not any("*" in a for a in actions)
    writes = next(s for s in policy["Statement"] if "iam:UpdateAccessKey" in s["Action"])
    assert writes["Resource"] == "arn:aws:iam::*:user/*"


def test_check_probes_without_changing_anything(org_emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(org_emu, organization={}), write=False)
    org_emu.inject("GetAccessKeyLastUsed", "AccessDenied")
    results = {r.name: r for r in adapter.check()}
    assert results["iam:GetAccountAuthorizationDetails"].ok is True
    assert results["iam:GetAccessKeyLastUsed"].ok is False
    assert "iam:GetAccessKeyLastUsed" in results["iam:GetAccessKeyLastUsed"].detail
    assert results["iam:UpdateAccessKey"].ok is None and results["iam:DeleteLoginProfile"].ok is None
    assert results["organizations:ListAccounts"].ok and results["sts:AssumeRole"].ok
    changes = ("UpdateAccessKey", "DeleteLoginProfile", "CreateLoginProfile", "DeleteAccessKey")
    assert not any(org_emu.counts[a] for a in changes)


# -- cost ---------------------------------------------------------------------------------------

def test_listing_makes_no_per_user_calls(start_emulator: Start) -> None:
    users = 2100
    emu = start_emulator(scenarios.bulk(users, NOW))
    adapter = AwsIamAdapter(_settings(emu), write=False)
    emu.reset_counts()
    identities = list(adapter.list_identities(HOME))
    assert len(identities) == users + 1
    pages = emu.counts["GetAccountAuthorizationDetails"]
    report = emu.counts["GenerateCredentialReport"] + emu.counts["GetCredentialReport"]
    assert pages == math.ceil(users / 1000) == 3
    assert report <= 3  # moto answers STARTED once, then COMPLETE; then one download
    assert emu.calls() == pages + report + emu.counts["GetCallerIdentity"]
    assert emu.counts["GetCallerIdentity"] <= 1


def test_owner_comes_from_the_first_owner_tag_holding_an_address(emu: emulator.AwsEmulator) -> None:
    import boto3

    iam = boto3.client("iam", endpoint_url=emu.endpoint_url, region_name="us-east-1")
    iam.tag_user(UserName="console-stale", Tags=[{"Key": "owner", "Value": "alice@example.com"}])
    iam.tag_user(UserName="console-recent", Tags=[{"Key": "owner", "Value": "ops team"},
                                                  {"Key": "email", "Value": "bob@example.com"}])
    iam.tag_user(UserName="console-never-old", Tags=[{"Key": "Contact", "Value": "carol@example.com"}])
    users = _by_login(AwsIamAdapter(_settings(emu), write=False))
    assert users["console-stale"].owner == "alice@example.com"
    assert users["console-recent"].owner == "bob@example.com"  # "ops team" is not an address
    assert users["console-never-old"].owner is None and users["console-reset"].owner is None
    custom = _by_login(AwsIamAdapter(_settings(emu, owner_tags=["Contact"]), write=False))
    assert custom["console-never-old"].owner == "carol@example.com" and custom["console-stale"].owner is None


def test_a_named_instance_lists_under_its_own_name(emu: emulator.AwsEmulator) -> None:
    """registry.create gives an instance's adapter the instance's name; its identities carry it, so the
    engine need not copy each one to relabel it."""
    from sweeper import registry

    adapter = registry.create("aws:org1", _settings(emu), write=False)
    try:
        listed = [i for scope in adapter.scopes() for i in adapter.list_identities(scope)]
    finally:
        adapter.close()
    assert listed and {i.provider for i in listed} == {"aws:org1"}
    plain = registry.create("aws", _settings(emu), write=False)
    try:
        assert {i.provider for i in plain.list_identities(HOME)} == {"aws"}
    finally:
        plain.close()
