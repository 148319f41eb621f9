"""Issue #21 item 2: users eligible for a directory role through PIM are protected like active role
holders; a tenant without PIM is noted on the scope, and any other failure to read eligibility fails it.

Through the Graph emulator over HTTP, and through `sweeper plan/apply/check` for what a person sees.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timezone

import pytest

from providers.emulator import Faults
from providers.entra import emulator
from providers.entra.adapter import EntraAdapter
from providers.entra.emulator import Hostile
from providers.entra.settings import EntraSettings
from sweeper.errors import DataError, PermissionDenied, ProviderError
from tests.providers.entra.support import listing, running, sweep, tenant, user

UTC = timezone.utc
CREATED = datetime(2020, 1, 1, tzinfo=UTC)
STALE = datetime(2021, 1, 1, tzinfo=UTC)  # years before the --as-of below
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
ELIGIBLE = "GET /v1.0/roleManagement/directory/roleEligibilityScheduleInstances"
NOTE = "PIM eligibility could not be read"


def stale(name: str) -> dict:
    return user(f"{name}@example.test", id=name, created=CREATED, success=STALE)


def pim_tenant(**extra) -> dict:
    """An eligible-only admin, a user eligible through a nested role-assignable group, an active role
    holder who is also eligible, and a plain stale user: all last seen in 2021."""
    users = [stale(n) for n in ("breakglass", "viaGroup", "deepInGroup", "active", "plain")]
    return tenant(users, role_assignments=[{"principalId": "active", "roleDefinitionId": GLOBAL_ADMIN}],
                  role_eligibilities=[{"principalId": "breakglass", "roleDefinitionId": GLOBAL_ADMIN},
                                      {"principalId": "breakglass", "roleDefinitionId": USER_ADMIN},
                                      {"principalId": "pimGroup", "roleDefinitionId": USER_ADMIN},
                                      {"principalId": "active", "roleDefinitionId": USER_ADMIN}],
                  groups={"pimGroup": ["viaGroup", "nested"], "nested": ["deepInGroup"]}, **extra)


def plan(tmp_path, monkeypatch, emu, *args: str, **keys):
    r = sweep(tmp_path, monkeypatch, emu, *(args or ("plan",)), "-f", "json", "--as-of", "2025-06-01", **keys)
    assert "Traceback" not in r.output
    return r, (json.loads(r.stdout) if r.stdout.strip().startswith("{") else None)


def decisions(report: dict) -> dict[str, tuple[str, str]]:
    return {f["identity"]: (f["decision"], f["reason"]) for f in report["findings"]}


# -- protection ------------------------------------------------------------------------------------

def test_an_eligible_only_admin_is_protected(monkeypatch):
    with running(pim_tenant(), monkeypatch) as (emu, adapter):
        found = listing(adapter)
        assert adapter.scope_notes(adapter.scopes()[0]) == []
        assert emu.server.request_counts()[ELIGIBLE] == 1  # read once per listing
    assert found["breakglass@example.test"].protected_by == \
        "eligible for directory roles Global Administrator, User Administrator (PIM)"
    assert found["active@example.test"].protected_by == "holds a directory role"  # active wins the wording
    assert found["plain@example.test"].protected_by is None


def test_eligibility_through_a_group_protects_its_transitive_members(monkeypatch):
    with running(pim_tenant(), monkeypatch) as (emu, adapter):
        found = listing(adapter)
        assert emu.server.request_counts()["GET /v1.0/groups/pimGroup/transitiveMembers"] == 1
    for login in ("viaGroup@example.test", "deepInGroup@example.test"):
        assert found[login].protected_by == "eligible for directory role User Administrator (PIM, through group pimGroup)"


def test_plan_protects_eligible_admins_and_disables_only_the_plain_user(tmp_path, monkeypatch):
    with emulator.start(pim_tenant()) as emu:
        r, report = plan(tmp_path, monkeypatch, emu, "apply", "--yes")
        assert r.exit_code == 0, r.output
        assert emu.state.patches == {"plain": 1}
    [scope] = report["providers"]
    assert scope["status"] == "ok" and scope["message"] is None
    found = decisions(report)
    assert found["plain@example.test"][0] == "disable"
    for login in ("breakglass", "viaGroup", "deepInGroup", "active"):
        assert found[f"{login}@example.test"][0] == "protected", login
    assert "(PIM)" in found["breakglass@example.test"][1]


def test_switched_off_with_skip_role_holders(monkeypatch):
    with running(pim_tenant(), monkeypatch, skip_role_holders=False) as (emu, adapter):
        assert listing(adapter)["breakglass@example.test"].protected_by is None
        assert ELIGIBLE not in emu.server.request_counts()


def test_a_paged_eligibility_listing_is_read_whole(monkeypatch):
    users = [stale(f"admin{i:03d}") for i in range(250)]
    scn = tenant(users, role_eligibilities=[{"principalId": u["id"], "roleDefinitionId": GLOBAL_ADMIN}
                                            for u in users])
    with running(scn, monkeypatch) as (emu, adapter):
        found = listing(adapter)
        assert emu.server.request_counts()[ELIGIBLE] == 3  # 100 a page, following @odata.nextLink
    assert all(i.protected_by and "(PIM)" in i.protected_by for i in found.values())


# -- a tenant without PIM --------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 403])
def test_a_tenant_without_pim_is_noted_and_the_run_goes_on(tmp_path, monkeypatch, status):
    """Graph answers 400 AadPremiumLicenseRequired (some tenants are said to get 403): the sweep reads
    that as "no eligible assignments" and says so on the scope; active role holders stay protected."""
    with emulator.start(pim_tenant(pim_licensed=False, pim_refusal_status=status)) as emu:
        r, report = plan(tmp_path, monkeypatch, emu)
        assert r.exit_code == 0, r.output
        [scope] = report["providers"]
        assert scope["status"] == "ok"
        assert NOTE in scope["message"] and "AadPremiumLicenseRequired" in scope["message"]
        assert "admins only eligible for a directory role are not protected" in scope["message"]
        assert "Entra ID P2" in scope["message"] and "exclude_groups" in scope["message"]
        found = decisions(report)
        assert found["active@example.test"][0] == "protected" and found["plain@example.test"][0] == "disable"
        md = sweep(tmp_path, monkeypatch, emu, "plan", "-f", "markdown", "--as-of", "2025-06-01")
        assert md.exit_code == 0 and NOTE in md.stdout  # the note is in the human report too


def test_the_note_is_only_for_the_licence(monkeypatch):
    with running(pim_tenant(pim_licensed=False), monkeypatch) as (_, adapter):
        listing(adapter)
        [note] = adapter.scope_notes(adapter.scopes()[0])
    assert note.startswith(NOTE) and "HTTP 400 AadPremiumLicenseRequired" in note


# -- any other failure fails the scope -------------------------------------------------------------

def test_permission_denied_on_eligibility_fails_the_scope(tmp_path, monkeypatch):
    with running(pim_tenant(denied=["roleEligibility"]), monkeypatch) as (_, adapter):
        with pytest.raises(PermissionDenied, match="RoleEligibilitySchedule.Read.Directory"):
            listing(adapter)
    with emulator.start(pim_tenant(denied=["roleEligibility"])) as emu:
        r, report = plan(tmp_path, monkeypatch, emu, "apply", "--yes")
        assert r.exit_code == 4 and not emu.state.patches
    [scope] = report["providers"]
    assert scope["status"] == "failed" and "RoleManagement.Read.Directory" in scope["message"]
    assert NOTE not in scope["message"]


@pytest.mark.parametrize("status, tries", [(503, 2), (500, 1)])  # the SDK retries 503 (and 429, 504), not 500
def test_server_errors_after_retries_fail_the_scope(tmp_path, monkeypatch, status, tries):
    with emulator.start(pim_tenant()) as emu:
        emu.server.set_faults(Faults(fail_after=0, fail_status=status, only=(ELIGIBLE,)))
        r, report = plan(tmp_path, monkeypatch, emu, "apply", "--yes", retries=1)
        assert r.exit_code == 4 and not emu.state.patches
        assert emu.server.request_counts()[ELIGIBLE] == tries
    [scope] = report["providers"]
    assert scope["status"] == "failed" and "list PIM role eligibilities" in scope["message"]
    assert str(status) in scope["message"] and NOTE not in scope["message"] and report["findings"] == []


def test_a_malformed_eligibility_page_fails_the_listing(monkeypatch):
    with running(pim_tenant(), monkeypatch) as (emu, adapter):
        adapter.scopes()
        emu.server.set_faults(Faults(rate_malformed=1.0, only=(ELIGIBLE,)))
        with pytest.raises(DataError, match="list PIM role eligibilities"):
            listing(adapter)


def test_a_looping_eligibility_listing_fails(monkeypatch):
    users = [stale(f"admin{i:03d}") for i in range(150)]
    scn = tenant(users, role_eligibilities=[{"principalId": u["id"], "roleDefinitionId": GLOBAL_ADMIN} for u in users],
                 hostile={"repeat_next_link": True, "only": [ELIGIBLE]})
    with running(scn, monkeypatch) as (emu, adapter):
        with pytest.raises(DataError, match="list PIM role eligibilities.*came back twice"):
            listing(adapter)
        assert emu.server.request_counts()[ELIGIBLE] == 2


def test_a_slow_eligibility_listing_meets_the_listing_deadline(monkeypatch):
    with running(pim_tenant(), monkeypatch, listing_deadline_seconds=0.5, timeout_seconds=30) as (emu, adapter):
        adapter.scopes()
        emu.server.set_faults(Faults(latency_ms=4000, only=(ELIGIBLE,)))
        started = time.monotonic()
        with pytest.raises(ProviderError, match="listing_deadline_seconds = 0.5"):
            listing(adapter)
        assert time.monotonic() - started < 2.5


# -- check and permissions ---------------------------------------------------------------------------

def probe(adapter: EntraAdapter):
    return next(c for c in adapter.check() if "PIM role eligibilities" in c.name)


def test_check_probes_the_eligibility_permission(monkeypatch):
    with running(pim_tenant(), monkeypatch) as (_, adapter):
        assert probe(adapter).ok is True
    with running(pim_tenant(denied=["roleEligibility"]), monkeypatch) as (_, adapter):
        found = probe(adapter)
        assert found.ok is False and "RoleEligibilitySchedule.Read.Directory" in found.detail
    with running(pim_tenant(pim_licensed=False), monkeypatch) as (_, adapter):
        found = probe(adapter)
        assert found.ok is None and "AadPremiumLicenseRequired" in found.detail and "not protected" in found.detail
    with running(pim_tenant(), monkeypatch, skip_role_holders=False) as (_, adapter):
        assert not any("PIM" in c.name for c in adapter.check())


def test_check_shows_the_probe(tmp_path, monkeypatch):
    with emulator.start(pim_tenant(denied=["roleEligibility"])) as emu:
        r = sweep(tmp_path, monkeypatch, emu, "check")
    assert r.exit_code != 0 and "PIM role eligibilities" in r.output and "FAILED" in r.output


@pytest.mark.parametrize("mode", ["plan", "apply"])
def test_permissions_name_the_eligibility_read(mode):
    text = EntraAdapter.permissions(mode)
    assert "RoleEligibilitySchedule.Read.Directory" in text and "PIM" in text and "P2" in text
    assert "role-assignable groups" in text  # GroupMember.Read.All reads the eligible groups' members
    lean = EntraAdapter.permissions(mode, EntraSettings(tenant_id="aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa",
                                                        skip_role_holders=False))
    assert "RoleEligibilitySchedule" not in lean and "GroupMember" not in lean


# -- the emulator's shape --------------------------------------------------------------------------

def get(emu: emulator.GraphEmulator, path: str) -> tuple[int, dict]:
    req = urllib.request.Request(emu.endpoint + path, headers={"Authorization": f"Bearer {emu.token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_emulator_serves_instances_in_graphs_shape():
    with emulator.start(pim_tenant()) as emu:
        status, page = get(emu, "/roleManagement/directory/roleEligibilityScheduleInstances?$top=2")
        assert status == 200 and len(page["value"]) == 2 and page["@odata.nextLink"].startswith(emu.endpoint)
        first = page["value"][0]
        assert set(first) == {"id", "principalId", "roleDefinitionId", "directoryScopeId", "appScopeId",
                              "startDateTime", "endDateTime", "memberType", "roleEligibilityScheduleId"}
        assert first["directoryScopeId"] == "/" and first["memberType"] == "Direct" and first["endDateTime"] is None
        status, rest = get(emu, page["@odata.nextLink"][len(emu.endpoint):])
        assert status == 200 and len(rest["value"]) == 2 and "@odata.nextLink" not in rest
        status, page = get(emu, "/roleManagement/directory/roleEligibilityScheduleInstances"
                                "?$select=principalId&$expand=principal,roleDefinition")
        group = next(r for r in page["value"] if r["principalId"] == "pimGroup")
        assert group["principal"]["@odata.type"] == "#microsoft.graph.group"
        assert group["roleDefinition"]["displayName"] == "User Administrator" and "memberType" not in group
    with emulator.start(pim_tenant(pim_licensed=False)) as emu:
        status, body = get(emu, "/roleManagement/directory/roleEligibilityScheduleInstances")
        assert status == 400 and body["error"]["code"] == "AadPremiumLicenseRequired"
        assert "P2" in body["error"]["message"] and "request-id" in body["error"]["innerError"]
