"""Issue #18 item 2: the credentials are bound to the configured tenant before anything is listed.

A token for tenant B with tenant_id A must stop `plan`, `apply` and `check` (exit 2, naming both ids)
with nothing listed and nothing disabled; the tenant comes from the token's tid claim, or from
GET /organization when the token is not a JWT.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from providers.entra import emulator
from providers.entra.binding import bind
from sweeper.errors import BindingError, DataError
from sweeper.model import Action, CredentialKind, CredentialRef
from tests.providers.entra.support import jwt, running, sweep, tenant, user

UTC = timezone.utc
A = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"  # the configured tenant
B = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"  # the tenant the credentials are really for
STALE = [user(f"stale{i}@example.test", created=datetime(2020, 1, 1, tzinfo=UTC),
              success=datetime(2021, 1, 1, tzinfo=UTC)) for i in range(3)]
LISTINGS = ("GET /v1.0/users", "GET /v1.0/roleManagement/directory/roleAssignments")


def graph(token: str, tenant_id: str = B, **extra: object) -> emulator.GraphEmulator:
    return emulator.start(tenant(list(STALE), tenant_id=tenant_id, token=token, **extra))


def nothing_listed_or_changed(emu: emulator.GraphEmulator) -> None:
    counts = emu.server.request_counts()
    assert not any(counts.get(k) for k in LISTINGS), counts
    assert not counts.get("POST /v1.0/$batch") and not emu.state.patches
    assert all(emu.enabled(u["id"]) for u in STALE)


# -- through the command line ---------------------------------------------------------------------

@pytest.mark.parametrize("token", [jwt({"tid": B, "oid": "sp-1", "appid": "app-1"}), "opaque-token-for-b"],
                         ids=["jwt-tid", "opaque-organization"])
@pytest.mark.parametrize("command", [("plan", "-f", "json"), ("apply", "--yes", "-f", "json")])
def test_a_token_for_another_tenant_stops_the_run_before_listing(tmp_path, monkeypatch, token, command):
    with graph(token) as emu:
        r = sweep(tmp_path, monkeypatch, emu, *command, "--as-of", "2025-06-01", tenant_id=A)
        assert r.exit_code == 2, r.output
        assert A in r.stderr and B in r.stderr and "tenant" in r.stderr
        assert "Traceback" not in r.output
        nothing_listed_or_changed(emu)
        organization = emu.server.request_counts().get("GET /v1.0/organization", 0)
        assert organization == (0 if token.count(".") == 2 else 1)  # a JWT's tid needs no request


def test_check_reports_the_mismatch_and_exits_2(tmp_path, monkeypatch):
    with graph("opaque-token-for-b") as emu:
        r = sweep(tmp_path, monkeypatch, emu, "check", tenant_id=A)
        assert r.exit_code == 2, r.output
        assert "MISMATCH" in r.stdout and A in r.stdout and B in r.stdout
        nothing_listed_or_changed(emu)


def test_matching_tenant_plans_and_check_shows_the_binding(tmp_path, monkeypatch):
    with graph(jwt({"tid": B, "oid": "sp-1"})) as emu:
        r = sweep(tmp_path, monkeypatch, emu, "plan", "-f", "json", "--as-of", "2025-06-01", tenant_id=B.upper())
        assert r.exit_code == 0, r.output
        report = json.loads(r.stdout)
        assert [p["scope"] for p in report["providers"]] == [B.upper()]  # the configured spelling of the same id
        assert {f["identity"] for f in report["findings"] if f["decision"] == "disable"} == \
            {u["userPrincipalName"] for u in STALE}
        assert "not bound" not in r.stderr
        r = sweep(tmp_path, monkeypatch, emu, "check", tenant_id=B)
        assert r.exit_code == 0, r.output
        assert "tenant binding" in r.stdout and "tid claim" in r.stdout


def test_without_tenant_id_the_sweep_works_but_warns_it_is_not_bound(tmp_path, monkeypatch):
    with graph("opaque-token-for-b") as emu:
        r = sweep(tmp_path, monkeypatch, emu, "plan", "-f", "json", "--as-of", "2025-06-01", tenant_id=None)
        assert r.exit_code == 0, r.output
        assert "not bound" in r.stderr and "tenant_id" in r.stderr
        assert [p["scope"] for p in json.loads(r.stdout)["providers"]] == [B]  # the verified tenant is recorded
        r = sweep(tmp_path, monkeypatch, emu, "check", tenant_id=None)
        assert "not bound" in r.stderr  # the warning, on every command
        assert "not bound" in r.stdout and B in r.stdout  # check says so, and which tenant to bind to


# -- the adapter ----------------------------------------------------------------------------------

def test_a_jwt_binds_without_asking_graph(monkeypatch):
    with running(tenant([], tenant_id=B, token=jwt({"tid": B})), monkeypatch, tenant_id=B) as (emu, adapter):
        assert adapter.scopes() == [B]
        assert emu.server.request_counts().get("GET /v1.0/organization", 0) == 0


def test_a_domain_name_tenant_id_is_matched_against_verified_domains(monkeypatch):
    scn = tenant([], tenant_id=B, token="opaque", domains=["contoso.test", "contoso.onmicrosoft.test"])
    with running(scn, monkeypatch, tenant_id="Contoso.onmicrosoft.test") as (_, adapter):
        assert adapter.scopes() == [B]
    with running(scn, monkeypatch, tenant_id="fabrikam.test") as (_, adapter):
        with pytest.raises(BindingError, match="fabrikam.test.*contoso.test"):
            adapter.scopes()


def test_a_token_and_organization_that_disagree_are_refused(monkeypatch):
    scn = tenant([], tenant_id=A, token=jwt({"tid": B}), domains=["contoso.test"])
    with running(scn, monkeypatch, tenant_id="contoso.test") as (_, adapter):
        with pytest.raises(DataError, match=f"{B}.*{A}"):
            adapter.scopes()


def test_refs_recorded_for_another_tenant_are_never_acted_on(monkeypatch):
    """A journal or plan from another tenant (restore with the wrong credentials) changes nothing."""
    with running(tenant(list(STALE), tenant_id=B, token="opaque"), monkeypatch, tenant_id=B) as (emu, adapter):
        u = STALE[0]
        ref = CredentialRef("entra", A, u["id"], u["userPrincipalName"], CredentialKind.ACCOUNT, u["id"])
        [outcome] = adapter.apply(Action.DISABLE, [ref])
        assert not outcome.ok and A in outcome.error and B in outcome.error
        with pytest.raises(BindingError):
            adapter.refresh(ref)
        assert emu.enabled(u["id"]) and not emu.state.patches


def test_bind_rules():
    never = lambda: pytest.fail("GET /organization was not needed")  # noqa: E731
    assert bind(A, A.upper(), never).tenant == A
    assert bind(None, B, never).configured is None
    with pytest.raises(BindingError) as caught:
        bind(A, B, never)
    assert caught.value.configured == A and caught.value.actual == B and "nothing was listed" in str(caught.value)
    assert bind(None, None, lambda: (B, [])).how == "GET /organization"
