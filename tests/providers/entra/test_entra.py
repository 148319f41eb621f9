"""The Entra adapter against the Graph emulator, over HTTP, configured the way a user configures it."""

from __future__ import annotations

import time
import traceback
from datetime import datetime, timezone

import pytest

from providers.emulator import Faults
from providers.entra import emulator
from providers.entra.adapter import EntraAdapter
from sweeper.errors import AuthError, DataError, NotMeasured, PermissionDenied, ProviderError, ThrottledError
from sweeper.model import Action, Activity, CredentialKind, CredentialRef, IdentityKind
from sweeper.testing.contract import AdapterContract, ContractSetup
from tests.providers.entra.support import TOKEN_ENV, generate, listing, running, settings, tenant, user

UTC = timezone.utc
T0 = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def contract(monkeypatch: pytest.MonkeyPatch):
    scn = generate(700, seed=3)
    scn["users"].append(user("target@example.test", created=T0, success=datetime(2021, 1, 1, tzinfo=UTC)))
    scn["users"].append(user("garbled@example.test", created=T0, success="not-a-date"))
    with running(scn, monkeypatch, max_retries=1) as (emu, adapter):
        def break_listing() -> None:
            emu.server.set_faults(Faults(fail_after=1, fail_status=500, only=("GET /v1.0/users",)))

        def bad_auth() -> EntraAdapter:
            monkeypatch.setenv("SWEEPER_TEST_ENTRA_OTHER", "not-the-right-token")
            bad = EntraAdapter(settings(emu).model_copy(update={"token_env": "SWEEPER_TEST_ENTRA_OTHER"}),
                               write=False)
            opened.append(bad)
            return bad

        def read_only() -> EntraAdapter:
            reader = EntraAdapter(settings(emu), write=False)
            opened.append(reader)
            return reader

        def wrong_binding() -> EntraAdapter:  # configured for another tenant than the token's
            other = EntraAdapter(settings(emu).model_copy(update={"tenant_id": "99999999-8888-7777-6666-555555555555"}),
                                 write=False)
            opened.append(other)
            return other

        opened: list[EntraAdapter] = []
        yield ContractSetup(adapter, len(scn["users"]), "target@example.test", CredentialKind.ACCOUNT,
                            break_listing, bad_auth, read_only=read_only, garbled_login="garbled@example.test",
                            wrong_binding=wrong_binding)
        for a in opened:
            a.close()


class TestEntraContract(AdapterContract):
    pass


def test_paging_follows_next_links_one_request_per_500(monkeypatch):
    with running(generate(1200), monkeypatch, skip_role_holders=False) as (emu, adapter):
        [scope] = adapter.scopes()
        emu.server.reset_counts()
        ids = [i.id for i in adapter.list_identities(scope)]
        assert len(ids) == len(set(ids)) == 1200
        assert emu.server.counts["GET /v1.0/users"] == 3
        # and, since #17 lists machine identities by default, one page each of applications and service
        # principals (none here, so neither beta report is read)
        assert emu.server.counts["GET /v1.0/applications"] == emu.server.counts["GET /v1.0/servicePrincipals"] == 1
        assert emu.server.total_requests == 5


def test_listing_streams_page_by_page(monkeypatch):
    with running(generate(1200), monkeypatch, skip_role_holders=False) as (emu, adapter):
        it = adapter.list_identities(adapter.scopes()[0])
        emu.server.reset_counts()
        next(it)
        assert emu.server.counts["GET /v1.0/users"] == 1  # the first identity comes before page 2 is asked


def test_role_holders_synced_and_nested_group_exclusions(monkeypatch):
    old = datetime(2021, 1, 1, tzinfo=UTC)
    users = [user(f"{n}@example.test", id=n, created=T0, success=old)
             for n in ("admin", "viaRoleGroup", "synced", "deep", "plain")]
    users[2]["onPremisesSyncEnabled"] = True
    scn = tenant(users, role_assignments=[
        {"principalId": "admin", "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10"},
        {"principalId": "roleGroup", "roleDefinitionId": "fe930be7-5e62-47db-91af-98c3a49a38b1"}],
        groups={"roleGroup": ["viaRoleGroup"], "outer": ["inner"], "inner": ["deep", "outer"]})
    with running(scn, monkeypatch, exclude_groups=["outer"]) as (_, adapter):
        found = listing(adapter)
    assert found["admin@example.test"].protected_by == "holds a directory role"
    assert "holds a directory role" in found["viaRoleGroup@example.test"].protected_by
    assert found["synced@example.test"].protected_by.startswith("synced from on-premises AD")
    assert found["deep@example.test"].excluded_by == "member of group outer"
    plain = found["plain@example.test"]
    assert plain.protected_by is None and plain.excluded_by is None


def test_protection_can_be_switched_off(monkeypatch):
    users = [user("admin@example.test", id="admin", created=T0, synced=True, success=T0)]
    scn = tenant(users, role_assignments=[{"principalId": "admin", "roleDefinitionId": "r"}])
    with running(scn, monkeypatch, skip_role_holders=False, skip_synced=False) as (emu, adapter):
        assert listing(adapter)["admin@example.test"].protected_by is None
        assert emu.server.counts["GET /v1.0/roleManagement/directory/roleAssignments"] == 0


def test_unknown_excluded_group_fails_the_listing(monkeypatch):
    with running(tenant([user("a@example.test", created=T0)]), monkeypatch, exclude_groups=["nope"]) as (_, a):
        with pytest.raises(ProviderError, match="nope"):
            listing(a)


def test_guest_kinds_and_pending_invitation(monkeypatch):
    seen = datetime(2025, 3, 1, tzinfo=UTC)
    scn = tenant([user("g#EXT#@example.test", created=T0, user_type="Guest", external_state="Accepted", success=seen),
                  user("p#EXT#@example.test", created=T0, user_type="Guest", external_state="PendingAcceptance",
                       sign_in=False)])
    with running(scn, monkeypatch) as (_, adapter):
        found = listing(adapter)
    guest, pending = found["g#EXT#@example.test"], found["p#EXT#@example.test"]
    assert guest.kind is pending.kind is IdentityKind.GUEST
    assert guest.credentials[0].activity is Activity.SEEN and guest.credentials[0].last_used == seen
    assert pending.credentials[0].activity is Activity.NEVER and pending.credentials[0].created == T0


def test_unlicensed_tenant_is_not_measured(monkeypatch):
    scn = tenant([user("a@example.test", created=T0)], licensed=False)
    with running(scn, monkeypatch, retry_max_wait=0.05) as (_, adapter):  # the licence retries wait little
        with pytest.raises(NotMeasured):
            listing(adapter)


def test_missing_role_permission_is_named(monkeypatch):
    with running(tenant([user("a@example.test", created=T0)], denied=["roleAssignments"]), monkeypatch) as (_, a):
        with pytest.raises(PermissionDenied, match="RoleManagement.Read.Directory"):
            listing(a)
        checks = {c.name: c for c in a.check()}
        role = next(c for n, c in checks.items() if "role assignments" in n)
        assert role.ok is False and "RoleManagement.Read.Directory" in role.detail
        assert any(c.ok is None for c in checks.values())  # the write permission cannot be probed


def test_malformed_page_is_a_data_error(monkeypatch):
    with running(generate(600), monkeypatch) as (emu, adapter):
        adapter.scopes()
        emu.server.set_faults(Faults(rate_malformed=1.0, only=("GET /v1.0/users",)))
        with pytest.raises(DataError):
            listing(adapter)


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe\x00"])  # bad JSON; bytes in no Unicode encoding
def test_unparseable_bodies_are_data_errors(raw):
    from providers.entra.graph import parse

    with pytest.raises(DataError, match="Graph answered"):
        parse(raw, "GET users")


def test_dropped_connections_raise_after_bounded_retries(monkeypatch):
    with running(generate(600), monkeypatch) as (emu, adapter):
        adapter.scopes()
        emu.server.set_faults(Faults(fail_after=0, fail_status=0, only=("GET /v1.0/users",)))
        with pytest.raises(ProviderError, match="connection failed"):
            listing(adapter)
        assert emu.server.counts["GET /v1.0/users"] == 3  # one try and two retries


def test_throttled_listing_retries_then_gives_up(monkeypatch):
    with running(generate(10), monkeypatch, max_retries=1, skip_role_holders=False) as (emu, adapter):
        adapter.scopes()
        emu.server.set_faults(Faults(rate_429=1.0, retry_after=0, only=("GET /v1.0/users",)))
        with pytest.raises(ThrottledError):
            listing(adapter)
        assert emu.server.counts["GET /v1.0/users"] == 2


def test_throttled_listing_recovers(monkeypatch):
    with running(generate(1200), monkeypatch, max_retries=5, skip_role_holders=False) as (emu, adapter):
        adapter.scopes()
        emu.server.set_faults(Faults(rate_429=0.4, retry_after=1, seed=2, only=("GET /v1.0/users",)))
        assert len(listing(adapter)) == 1200
        assert emu.server.injected["429"] > 0
        assert emu.server.counts["GET /v1.0/users"] == 3 + emu.server.injected["429"]


def test_entra_listing_times_out_and_fails(monkeypatch):
    """A provider that answers too slowly fails within the configured timeout."""
    users = [user(f"u{i}@example.test") for i in range(3)]
    with running(tenant(users), monkeypatch, timeout_seconds=0.3, max_retries=1) as (emu, adapter):
        scope = adapter.scopes()[0]
        emu.server.set_faults(Faults(latency_ms=1500, only=("GET /v1.0/users",)))
        started = time.monotonic()
        with pytest.raises(ProviderError):
            list(adapter.list_identities(scope))
        assert time.monotonic() - started < 12  # a few bounded tries of 0.3 s, never the 100 s default


def _refs(adapter: EntraAdapter, logins: list[str] | None = None) -> list[CredentialRef]:
    found = listing(adapter)
    return [CredentialRef.of(i, i.credentials[0]) for login, i in found.items() if logins is None or login in logins]


def test_apply_disable_then_restore(monkeypatch):
    scn = generate(30, seed=5)
    with running(scn, monkeypatch) as (emu, adapter):
        refs = [r for r in _refs(adapter) if emu.enabled(r.identity_id)][:5]
        outcomes = adapter.apply(Action.DISABLE, refs)
        assert {o.ref.key for o in outcomes} == {r.key for r in refs} and all(o.ok for o in outcomes)
        assert not any(emu.enabled(r.identity_id) for r in refs)
        assert all(not adapter.refresh(r).enabled for r in refs)
        assert all(o.ok for o in adapter.apply(Action.ENABLE, refs))
        assert all(emu.enabled(r.identity_id) for r in refs)


def test_disable_of_a_deleted_user_fails_and_says_so(monkeypatch):
    with running(generate(3), monkeypatch) as (_, adapter):
        ref = _refs(adapter)[0]
        gone = CredentialRef(ref.provider, ref.scope, "deleted-user", "gone@example.test", ref.kind, "deleted-user")
        by_key = {o.ref.key: o for o in adapter.apply(Action.DISABLE, [ref, gone])}
        assert by_key[ref.key].ok
        assert not by_key[gone.key].ok and by_key[gone.key].error == "user not found"


def test_batch_items_throttled_are_retried_and_each_user_disabled_once(monkeypatch):
    with running(generate(60, seed=7), monkeypatch) as (emu, adapter):
        refs = _refs(adapter)
        emu.set_item_faults(Faults(rate_429=0.3, retry_after=0, seed=11))
        emu.server.reset_counts()
        outcomes = [o for n in range(0, 60, 20) for o in adapter.apply(Action.DISABLE, refs[n:n + 20])]
        assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
        assert emu.app.item_injected[429] > 0
        assert all(emu.state.patches[r.identity_id] == 1 for r in refs)
        assert not any(emu.enabled(r.identity_id) for r in refs)
        assert emu.server.counts["POST /v1.0/$batch"] > 3  # the retries went out as further batches


def test_items_throttled_beyond_the_budget_fail_without_hanging(monkeypatch):
    with running(generate(5), monkeypatch, max_retries=2) as (emu, adapter):
        refs = _refs(adapter)
        emu.set_item_faults(Faults(rate_429=1.0, retry_after=0))
        outcomes = adapter.apply(Action.DISABLE, refs)
        assert all(not o.ok and "throttled" in o.error for o in outcomes)
        assert emu.server.counts["POST /v1.0/$batch"] == 3
        assert not any(emu.state.patches[r.identity_id] for r in refs)  # nothing reached the users


def test_revoke_sessions_goes_in_the_same_batches(monkeypatch):
    with running(generate(15, seed=2), monkeypatch, revoke_sessions=True) as (emu, adapter):
        refs = _refs(adapter)[:15]
        emu.server.reset_counts()
        outcomes = adapter.apply(Action.DISABLE, refs)
        assert all(o.ok and o.note == "sign-in sessions revoked" for o in outcomes)
        assert all(emu.state.revoked[r.identity_id] == 1 for r in refs)
        assert emu.server.counts["POST /v1.0/$batch"] == 2  # 30 items, 20 a batch
        adapter.apply(Action.ENABLE, refs)
        assert all(emu.state.revoked[r.identity_id] == 1 for r in refs)  # enabling revokes nothing


def test_disabling_1000_users_takes_50_batch_requests(monkeypatch):
    with running(generate(1000, seed=4), monkeypatch) as (emu, adapter):
        refs = _refs(adapter)
        emu.server.reset_counts()
        for n in range(0, 1000, adapter.batch_size):
            assert all(o.ok for o in adapter.apply(Action.DISABLE, refs[n:n + adapter.batch_size]))
        assert emu.server.total_requests == emu.server.counts["POST /v1.0/$batch"] == 50


def test_read_only_adapter_refuses_to_act(monkeypatch):
    with running(generate(2), monkeypatch, write=False) as (emu, adapter):
        with pytest.raises(ProviderError, match="read-only"):
            adapter.apply(Action.DISABLE, _refs(adapter))
        assert emu.server.counts["POST /v1.0/$batch"] == 0


def test_self_is_protected_when_the_token_names_a_user(monkeypatch):
    import base64
    import json
    claims = {"oid": "me", "tid": "t-1", "upn": "sweeper@example.test"}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    jwt = f"eyJhbGciOiJub25lIn0.{payload}.c2ln"
    scn = tenant([user("sweeper@example.test", id="me", created=T0, success=T0)], token=jwt)
    with running(scn, monkeypatch) as (_, adapter):
        who = adapter.whoami()
        assert who.id == "me" and "sweeper@example.test" in who.display and adapter.scopes() == ["t-1"]
        me = listing(adapter)["sweeper@example.test"]
        assert me.protected_by == "the sweeper's own identity"
        assert me.credentials[0].protected_by == "the sweeper's own identity"
        assert adapter.refresh(CredentialRef.of(me, me.credentials[0])).protected_by == "the sweeper's own identity"


def test_missing_token_variable_is_an_auth_error_naming_it(monkeypatch):
    emu = emulator.start(tenant([]))
    try:
        monkeypatch.delenv(TOKEN_ENV, raising=False)
        with pytest.raises(AuthError, match=TOKEN_ENV):
            EntraAdapter(settings(emu), write=False)
    finally:
        emu.stop()


def test_plain_http_to_a_remote_host_is_refused_before_sending(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "a-token-that-must-not-travel")
    s = settings(emulator.start(tenant([]))).model_copy(update={"endpoint": "http://graph.example.invalid/v1.0",
                                                               "tenant_id": "t"})
    adapter = EntraAdapter(s, write=False)
    try:
        with pytest.raises(ProviderError, match="https"):
            list(adapter.list_identities("t"))
    finally:
        adapter.close()


SECRET = "sEcReT-bearer-0123456789abcdef"


def _texts(err: BaseException) -> str:
    return "".join(traceback.format_exception(err)) + repr(err)


def test_the_token_never_appears_in_errors_or_output(monkeypatch):
    scn = tenant([user("a@example.test", created=T0, success=T0)], token=SECRET)
    with running(scn, monkeypatch, max_retries=1) as (emu, adapter):
        outputs = [repr(adapter.whoami()), repr(listing(adapter)), repr(adapter.check()), adapter.permissions(),
                   repr(adapter.credential), repr(adapter.apply(Action.DISABLE, _refs(adapter)))]
        errors: list[BaseException] = []
        for faults in (Faults(rate_malformed=1.0), Faults(fail_after=0, fail_status=0),
                       Faults(fail_after=0, fail_status=500), Faults(rate_429=1.0, retry_after=0)):
            emu.server.set_faults(faults)
            with pytest.raises(ProviderError) as caught:
                listing(adapter)
            errors.append(caught.value)
        emu.server.set_faults(Faults())
        emu.state.token = "rotated"  # now the adapter's token is rejected
        with pytest.raises(AuthError) as caught:
            adapter.apply(Action.ENABLE, _refs_from(emu))
        errors.append(caught.value)
    for text in outputs + [_texts(e) for e in errors]:
        assert SECRET not in text


def _refs_from(emu: emulator.GraphEmulator) -> list[CredentialRef]:
    u = emu.state.users[0]
    return [CredentialRef("entra", emu.tenant_id, u["id"], u["userPrincipalName"], CredentialKind.ACCOUNT, u["id"])]


def test_concurrent_calls_from_several_threads(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor
    with running(generate(200, seed=8), monkeypatch) as (emu, adapter):
        refs = _refs(adapter)[:80]
        chunks = [refs[n:n + 20] for n in range(0, 80, 20)]
        with ThreadPoolExecutor(6) as pool:
            listed = pool.submit(lambda: len(listing(adapter)))
            applied = list(pool.map(lambda c: adapter.apply(Action.DISABLE, c), chunks))
            refreshed = list(pool.map(adapter.refresh, refs))
        assert listed.result() == 200
        assert all(o.ok for batch in applied for o in batch)
        assert all(emu.state.patches[r.identity_id] == 1 for r in refs)
        assert all(c is not None and c.credential_id == r.identity_id for c, r in zip(refreshed, refs))


def test_missing_write_permission_fails_each_item_naming_it(monkeypatch):
    with running(generate(3) | {"denied": ["write"]}, monkeypatch) as (_, adapter):
        outcomes = adapter.apply(Action.DISABLE, _refs(adapter))
        assert all(not o.ok and "User.EnableDisableAccount.All" in o.error for o in outcomes)


def test_app_token_names_the_application(monkeypatch):
    import base64
    import json
    claims = {"oid": "sp-object", "appid": "app-123", "tid": "t-9", "idtyp": "app"}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with running(tenant([], token=f"e30.{payload}.c2ln"), monkeypatch) as (_, adapter):
        who = adapter.whoami()
        assert who.id == "sp-object" and "application app-123" in who.display and who.scope == "t-9"


def test_demo_tenant_lists_every_case(monkeypatch):
    from providers.entra.scenario import demo
    scn = demo()
    with running(scn, monkeypatch, exclude_groups=["g-contractors"]) as (_, adapter):
        found = listing(adapter)
    assert len(found) == len(scn["users"])
    assert found["globaladmin@contoso.test"].protected_by == "holds a directory role"
    assert found["pim-admin@contoso.test"].protected_by == "eligible for directory role Global Administrator (PIM)"
    assert found["contractor@contoso.test"].excluded_by == "member of group g-contractors"
    assert found["dave@contoso.test"].credentials[0].activity is Activity.NEVER
    assert found["odd@contoso.test"].credentials[0].activity is Activity.UNKNOWN
