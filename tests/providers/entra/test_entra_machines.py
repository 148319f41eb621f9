"""#17 items 2 and 3 on the Graph emulator, over HTTP: service principals judged by the beta
servicePrincipalSignInActivities report (report only by default, disabled in `$batch` when asked, restored),
application secrets and certificates reported (always), the never-touch rules, what happens when a
beta report or a listing is refused, the listing cost, and the permissions each switch needs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from providers.entra import emulator, scenario as S
from sweeper import registry
from sweeper.journal import Journal
from tests.providers.entra.support import jwt, listing, running, sweep, tenant, user

UTC = timezone.utc
DAY0 = datetime(2025, 6, 1, tzinfo=UTC)
AS_OF = "2025-06-01"
D = "contoso.test"
pytestmark = pytest.mark.entra


def ago(days: float) -> datetime:
    return DAY0 - timedelta(days=days)


def sp(name: str, **kw: Any) -> dict[str, Any]:
    return S.service_principal(name, id=f"sp-{name}", **kw)


SPS = {
    "stale-integration": sp("stale-integration", created=ago(800), owners=("u-owner",)),  # last used 200 days ago
    "edge-91": sp("edge-91", created=ago(800)),  # 91 days: over 90
    "edge-89": sp("edge-89", created=ago(800)),  # 89 days: in use (a warning would be pointless: report only)
    "busy-resource": sp("busy-resource", created=ago(800)),  # used as a resource yesterday, as a client long ago
    "never-old": sp("never-old", created=ago(100)),  # no row, created 100 days ago: never used
    "never-new": sp("never-new", created=ago(10)),  # no row, created 10 days ago: not yet
    "no-created": sp("no-created"),  # no row and no createdDateTime: unknown
    "already-off": sp("already-off", created=ago(800), enabled=False),
    "role-holder": sp("role-holder", created=ago(800)),
    "breakglass-sp": sp("breakglass-sp", created=ago(800)),
    "Microsoft Graph": sp("Microsoft Graph", owner_org=S.FIRST_PARTY),
    "Office 365 Exchange Online": sp("Office 365 Exchange Online", owner_org=S.FIRST_PARTY),
    "vm-identity": sp("vm-identity", sp_type="ManagedIdentity", created=ago(800)),
}
ACTIVITY = [
    S.sp_activity(SPS["stale-integration"]["appId"], applicationAuthenticationClientSignInActivity=ago(200)),
    S.sp_activity(SPS["edge-91"]["appId"], delegatedClientSignInActivity=ago(91)),
    S.sp_activity(SPS["edge-89"]["appId"], applicationAuthenticationClientSignInActivity=ago(89)),
    S.sp_activity(SPS["busy-resource"]["appId"], applicationAuthenticationClientSignInActivity=ago(400),
                  delegatedResourceSignInActivity=ago(1)),
    S.sp_activity(SPS["already-off"]["appId"], applicationAuthenticationClientSignInActivity=ago(300)),
    S.sp_activity(SPS["role-holder"]["appId"], applicationAuthenticationClientSignInActivity=ago(300)),
    S.sp_activity(SPS["breakglass-sp"]["appId"], applicationAuthenticationClientSignInActivity=ago(300)),
    S.sp_activity(SPS["vm-identity"]["appId"], applicationAuthenticationClientSignInActivity=ago(300)),
]
EXPIRED, UNUSED, USED, CERT = ("1a1a1a1a-0000-4000-8000-000000000001", "2b2b2b2b-0000-4000-8000-000000000002",
                               "3c3c3c3c-0000-4000-8000-000000000003", "4d4d4d4d-0000-4000-8000-000000000004")
APP = S.application("payroll-export", id="app-payroll", app_id=SPS["stale-integration"]["appId"], created=ago(900),
                    owners=("u-owner",),
                    secrets=(S.secret(EXPIRED, start=ago(800), end=ago(30), name="old secret"),
                             S.secret(UNUSED, start=ago(200), end=ago(-5000), name="spare"),
                             S.secret(USED, start=ago(200), end=ago(-5000), name="live")),
                    certificates=(S.certificate(CERT, start=ago(400), end=ago(-5000)),))
CRED_ACTIVITY = [S.credential_activity(USED, APP["appId"], APP["id"], ago(2)),
                 S.credential_activity(USED, APP["appId"], APP["id"], ago(40), resource_id="other-resource"),
                 S.credential_activity(CERT, APP["appId"], APP["id"], ago(120), key_type="certificate")]


def machine_tenant(**extra: Any) -> dict[str, Any]:
    users = [user(f"alice@{D}", id="u-alice", created=ago(900), success=ago(2)),
             user(f"bob@{D}", id="u-bob", created=ago(900), success=ago(200)),
             user(f"owner@{D}", id="u-owner", created=ago(900), success=ago(1))]
    return tenant(users, service_principals=list(SPS.values()), applications=[APP],
                  sp_sign_in_activities=ACTIVITY, app_credential_sign_in_activities=CRED_ACTIVITY,
                  role_assignments=[{"principalId": "sp-role-holder",
                                     "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10"}], **extra)


@pytest.fixture
def emu() -> Any:
    started = emulator.start(machine_tenant())
    yield started
    started.stop()


def report(result: Any) -> dict[str, Any]:
    assert result.stdout.lstrip().startswith("{"), result.output
    return json.loads(result.stdout)


def by_label(result: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["identity"], f["credential"]): f for f in report(result)["findings"]}


def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emu: Any, **keys: Any) -> Any:
    return sweep(tmp_path, monkeypatch, emu, "plan", "--as-of", AS_OF, "-f", "json", **keys)


# -- service principals ------------------------------------------------------------------------

def test_service_principals_are_judged_by_the_newest_record_and_only_reported(tmp_path, monkeypatch, emu):
    r = plan(tmp_path, monkeypatch, emu)
    assert r.exit_code == 0, r.output
    found = by_label(r)
    stale = found[("stale-integration", "service_principal")]
    assert stale["decision"] == "report" and stale["kind"] == "service_principal"
    assert stale["last_used"] == "2024-11-13T00:00:00Z" and stale["days_inactive"] == 200
    assert "applicationAuthenticationClientSignInActivity, app-only flow, as a client" in stale["reason"]
    assert 'reported only: service_principal_action = "report"' in stale["reason"]
    assert stale["controls"][0] == "NIST 800-53 AC-2(3)"
    edge = found[("edge-91", "service_principal")]
    assert edge["decision"] == "report" and "delegatedClientSignInActivity" in edge["reason"]
    # in use: 89 days, and used as a resource yesterday although its client use is 400 days old
    for name in ("edge-89", "busy-resource", "never-new", "already-off"):
        assert (name, "service_principal") not in found, found.get((name, "service_principal"))
    never = found[("never-old", "service_principal")]
    assert never["decision"] == "report" and never["last_used"] is None
    assert "never used; created 2025-02-21" in never["reason"]
    unknown = found[("no-created", "service_principal")]
    assert unknown["decision"] == "unknown" and "createdDateTime is missing" in unknown["reason"]
    # never touched: neither listed nor judged, and counted in the scope's message
    logins = {f["identity"] for f in report(r)["findings"]}
    assert not logins & {"Microsoft Graph", "Office 365 Exchange Online", "vm-identity"}
    [scope] = report(r)["providers"]
    assert "2 Microsoft first-party service principal(s)" in scope["message"]
    assert "1 managed identity" in scope["message"]
    assert scope["machine_identities"] == 10 + 1  # 10 service principals judged, 1 application
    # users are judged as before
    assert found[(f"bob@{D}", "account")]["decision"] == "disable"


def test_role_holders_are_protected_and_the_threshold_is_their_own(tmp_path, monkeypatch, emu):
    found = by_label(plan(tmp_path, monkeypatch, emu, service_principal_action="disable",
                          service_principal_inactive_days=30))
    holder = found[("role-holder", "service_principal")]
    assert holder["decision"] == "protected" and "holds a directory role" in holder["reason"]
    assert found[("edge-89", "service_principal")]["decision"] == "disable"  # 89 days > 30
    assert found[("edge-89", "service_principal")]["threshold_days"] == 30
    assert found[(f"bob@{D}", "account")]["threshold_days"] == 90
    # exclusions apply to service principals by their login, the displayName
    found = by_label(plan(tmp_path, monkeypatch, emu, service_principal_action="disable", exclude=["breakglass-*"]))
    assert found[("breakglass-sp", "service_principal")]["decision"] == "excluded"
    found = by_label(plan(tmp_path, monkeypatch, emu, service_principal_action="disable", skip_role_holders=False))
    assert found[("role-holder", "service_principal")]["decision"] == "disable"


def test_the_sweepers_own_service_principal_is_protected(monkeypatch):
    scn = machine_tenant(token=jwt({"tid": "11111111-2222-3333-4444-555555555555", "oid": "sp-edge-91",
                                    "appid": SPS["edge-91"]["appId"]}))
    with running(scn, monkeypatch, service_principal_action="disable") as (emu, adapter):
        mine = listing(adapter)["edge-91"]
    assert mine.protected_by == "the sweeper's own service principal"
    assert mine.credentials[0].protected_by == "the sweeper's own service principal"


def test_report_only_by_default_sends_no_patch(tmp_path, monkeypatch, emu):
    r = sweep(tmp_path, monkeypatch, emu, "apply", "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    assert by_label(r)[("stale-integration", "service_principal")]["action"] == "none"
    assert not emu.state.machines.patches and not emu.state.machines.events
    assert emu.state.patches  # bob was disabled: the apply did act, on users only


def test_disable_apply_journal_restore_round_trip(tmp_path, monkeypatch, emu):
    r = sweep(tmp_path, monkeypatch, emu, "apply", "--as-of", AS_OF, "--yes", "-f", "json",
              service_principal_action="disable")
    assert r.exit_code == 0, r.output
    disabled = {k[0] for k, f in by_label(r).items() if f["action"] == "disabled" and f["kind"] == "service_principal"}
    assert disabled == {"stale-integration", "edge-91", "never-old", "breakglass-sp"}
    for name in disabled:
        assert emu.service_principal(f"sp-{name}")["accountEnabled"] is False
    assert emu.service_principal("sp-role-holder")["accountEnabled"] is True
    counts = emu.request_counts()
    assert counts.get("POST /v1.0/$batch", 0) >= 1 and "PATCH /v1.0/servicePrincipals/sp-edge-91" not in counts
    j = Journal(tmp_path / "sweeper.db")
    try:
        [run] = j.runs()
        done = {a.ref.login for a in j.actions(run.run_id) if a.state == "done" and a.ref.kind.value == "service_principal"}
    finally:
        j.close()
    assert done == disabled
    restored = sweep(tmp_path, monkeypatch, emu, "restore", run.run_id, "--yes")
    assert restored.exit_code == 0, restored.output
    for name in disabled:
        assert emu.service_principal(f"sp-{name}")["accountEnabled"] is True
    assert [e for e in emu.state.machines.events if e[1] == "sp-edge-91"] == [("disable", "sp-edge-91"),
                                                                            ("enable", "sp-edge-91")]


# -- application credentials -------------------------------------------------------------------

def test_expired_and_unused_credentials_are_reported_with_the_app_and_key_id(tmp_path, monkeypatch, emu):
    r = plan(tmp_path, monkeypatch, emu, app_credential_inactive_days=100)
    found = by_label(r)
    expired = found[("payroll-export", f"app_credential:{EXPIRED}")]
    assert expired["decision"] == "report" and expired["identity_id"] == "app-payroll"
    assert expired["reason"].startswith("expired on 2025-05-02, 30 days ago")
    assert "removing a secret or certificate cannot be undone" in expired["reason"]
    unused = found[("payroll-export", f"app_credential:{UNUSED}")]
    assert unused["decision"] == "report" and "never used; created 2024-11-13" in unused["reason"]
    assert unused["threshold_days"] == 100
    cert = found[("payroll-export", f"app_credential:{CERT}")]  # used 120 days ago: over 100
    assert cert["decision"] == "report" and cert["last_used"] == "2025-02-01T00:00:00Z"
    assert ("payroll-export", f"app_credential:{USED}") not in found  # the newest of its two rows: 2 days
    # always report only, even with service principals set to disable
    r = sweep(tmp_path, monkeypatch, emu, "apply", "--as-of", AS_OF, "--yes", "-f", "json",
              service_principal_action="disable")
    assert all(f["action"] == "none" for f in report(r)["findings"] if f["kind"] == "app_credential")


def test_owners_come_from_expanded_owners(monkeypatch):
    with running(machine_tenant(), monkeypatch) as (emu, adapter):
        found = listing(adapter)
    assert found["stale-integration"].owner == f"owner@{D}"
    assert found["payroll-export"].owner == f"owner@{D}"
    assert found["edge-91"].owner is None
    assert found["stale-integration"].tags["appId"] == SPS["stale-integration"]["appId"]


def test_the_adapter_refuses_to_act_on_app_credentials_and_on_reported_sps(monkeypatch):
    from sweeper.model import Action, CredentialKind, CredentialRef

    with running(machine_tenant(), monkeypatch) as (emu, adapter):
        [scope] = adapter.scopes()
        refs = [CredentialRef("entra", scope, "app-payroll", "payroll-export", CredentialKind.APP_CREDENTIAL, EXPIRED),
                CredentialRef("entra", scope, "sp-edge-91", "edge-91", CredentialKind.SERVICE_PRINCIPAL, "sp-edge-91")]
        outcomes = {o.ref.kind: o for o in adapter.apply(Action.DISABLE, refs)}
        assert not any(o.ok for o in outcomes.values())
        assert "only reported" in outcomes[CredentialKind.APP_CREDENTIAL].error
        assert 'service_principal_action = "report"' in outcomes[CredentialKind.SERVICE_PRINCIPAL].error
        assert not emu.state.machines.patches and "POST /v1.0/$batch" not in emu.request_counts()
        fresh = adapter.refresh(refs[1])
        assert fresh is not None and fresh.enabled and fresh.last_used == ago(91)


# -- what is not measured ----------------------------------------------------------------------

@pytest.mark.parametrize("refusal", [403, 404, 400])
def test_a_refused_sp_report_leaves_them_not_measured_and_users_judged(tmp_path, monkeypatch, emu, refusal):
    emu.fail_report("servicePrincipalSignInActivities", refusal)
    r = plan(tmp_path, monkeypatch, emu)
    assert r.exit_code == 0, r.output
    found = by_label(r)
    assert not [k for k in found if k[1] == "service_principal"]  # not judged: never "all stale"
    assert found[(f"bob@{D}", "account")]["decision"] == "disable"
    assert found[("payroll-export", f"app_credential:{EXPIRED}")]["decision"] == "report"
    [scope] = report(r)["providers"]
    assert scope["status"] == "ok"
    assert "10 service principal(s) not measured: GET /beta/reports/servicePrincipalSignInActivities" in scope["message"]
    assert "set service_principals = false" in scope["message"] and "AuditLog.Read.All" in scope["message"]


def test_a_refused_credential_report_still_reports_expired_credentials(tmp_path, monkeypatch, emu):
    emu.fail_report("appCredentialSignInActivities", 403)
    r = plan(tmp_path, monkeypatch, emu)
    found = by_label(r)
    assert found[("payroll-export", f"app_credential:{EXPIRED}")]["decision"] == "report"
    assert ("payroll-export", f"app_credential:{UNUSED}") not in found
    [scope] = report(r)["providers"]
    assert "4 application credential(s) not measured" in scope["message"]
    assert "3 unexpired application credential(s) not judged" in scope["message"]


def test_without_application_read_all_users_are_judged_as_before(tmp_path, monkeypatch):
    started = emulator.start(machine_tenant(denied=["service_principals", "applications"]))
    try:
        r = plan(tmp_path, monkeypatch, started)
    finally:
        started.stop()
    assert r.exit_code == 0, r.output
    found = by_label(r)
    assert set(found) == {(f"bob@{D}", "account")}
    [scope] = report(r)["providers"]
    assert scope["status"] == "ok"
    assert "Service principals not listed: GET /servicePrincipals was refused" in scope["message"]
    assert "needs Application.Read.All; set service_principals = false" in scope["message"]
    assert "set app_credentials = false" in scope["message"]


def test_switches_off_read_nothing_of_machines(tmp_path, monkeypatch, emu):
    r = plan(tmp_path, monkeypatch, emu, service_principals=False, app_credentials=False)
    assert {k[1] for k in by_label(r)} == {"account"}
    asked = {path for _, path, _ in emu.app.asked}
    assert not any("servicePrincipals" in p or "applications" in p or "/beta/" in p for p in asked)


# -- listing cost --------------------------------------------------------------------------------

def test_listing_cost_is_one_request_per_page_of_999(monkeypatch):
    n = 2500
    sps = [S.service_principal(f"sp{i:05d}", id=f"sp-{i}", created=ago(300)) for i in range(n)]
    rows = [S.sp_activity(s["appId"], applicationAuthenticationClientSignInActivity=ago(i % 200))
            for i, s in enumerate(sps)]
    apps = [S.application(f"app{i:05d}", created=ago(300), secrets=(S.secret(f"key-{i}", start=ago(300), end=ago(-30)),))
            for i in range(1200)]
    creds = [S.credential_activity(f"key-{i}", a["appId"], a["id"], ago(5)) for i, a in enumerate(apps)]
    scn = tenant([user(f"alice@{D}", created=ago(900), success=ago(2))], service_principals=sps, applications=apps,
                 sp_sign_in_activities=rows, app_credential_sign_in_activities=creds)
    with running(scn, monkeypatch, skip_role_holders=False) as (emu, adapter):
        [scope] = adapter.scopes()
        emu.server.reset_counts()
        found = list(adapter.list_identities(scope))
        counts = emu.request_counts()
    assert len(found) == 1 + n + 1200
    assert counts == {"GET /v1.0/users": 1, "GET /v1.0/servicePrincipals": 3, "GET /v1.0/applications": 2,
                      "GET /beta/reports/servicePrincipalSignInActivities": 3,
                      "GET /beta/reports/appCredentialSignInActivities": 2}
    pages = [q for m, p, q in emu.app.asked if p.startswith("/beta/reports/") and "$skiptoken" not in dict(q)]
    assert all(dict(q)["$top"] == "999" for q in pages)
    seen = {i.login: i.credentials[0] for i in found}
    assert seen["sp00199"].last_used == ago(199)


# -- permissions ---------------------------------------------------------------------------------

def test_permissions_per_switch():
    from providers.entra.settings import EntraSettings

    def text(mode: str, **keys: Any) -> str:
        return registry.permissions("entra", mode, EntraSettings(**keys))

    plan_text = text("plan")
    assert "Application.Read.All" in plan_text and "servicePrincipalSignInActivities" in plan_text
    assert "appCredentialSignInActivities" in plan_text and "beta version" in plan_text
    assert "Application.ReadWrite.All" not in text("apply")  # report only by default
    assert "Application.ReadWrite.All" in text("apply", service_principal_action="disable")
    assert "Application.ReadWrite.All" not in text("plan", service_principal_action="disable")
    off = text("apply", service_principals=False, app_credentials=False)
    assert "Application.Read.All" not in off and "servicePrincipalSignInActivities" not in off
    only_sps = text("plan", app_credentials=False)
    assert "servicePrincipalSignInActivities" in only_sps and "appCredentialSignInActivities" not in only_sps
    docs = registry.permissions("entra", "apply", None)  # the generated docs: every switch named
    for word in ("Application.Read.All", "Application.ReadWrite.All", 'service_principal_action = "disable"',
                 "app_credentials = true", "Application.ReadWrite.OwnedBy"):
        assert word in docs, word


def test_settings_reject_an_unknown_action():
    from pydantic import ValidationError

    from providers.entra.settings import EntraSettings

    with pytest.raises(ValidationError, match="service_principal_action"):
        EntraSettings(service_principal_action="delete")
    assert EntraSettings(service_principal_inactive_days=30, app_credential_inactive_days=60).kind_overrides() == \
        {"service_principal": 30, "app_credential": 60}


def test_check_probes_each_switch(monkeypatch):
    with running(machine_tenant(), monkeypatch, service_principal_action="disable") as (emu, adapter):
        emu.fail_report("appCredentialSignInActivities", 403)
        results = {r.name: r for r in adapter.check()}
    assert results["list servicePrincipals (Application.Read.All; service_principals)"].ok is True
    assert results["read the beta report servicePrincipalSignInActivities (AuditLog.Read.All; service_principals)"].ok
    refused = results["read the beta report appCredentialSignInActivities (AuditLog.Read.All; app_credentials)"]
    assert refused.ok is False and "Authorization_RequestDenied" in refused.detail
    assert results["disable service principals (Application.ReadWrite.All)"].ok is None
    with running(machine_tenant(), monkeypatch, service_principals=False, app_credentials=False) as (emu, adapter):
        assert not any("servicePrincipals" in r.name or "beta" in r.name for r in adapter.check())
