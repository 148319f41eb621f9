"""The Google Workspace adapter over HTTP against the Directory emulator, configured as a user would
(endpoint + auth = access_token with a token from an environment variable)."""

from __future__ import annotations

import logging
import threading
import traceback
from datetime import datetime, timedelta, timezone

import pytest

from providers.emulator import Faults
from providers.google_workspace import emulator
from providers.google_workspace.adapter import GoogleWorkspaceAdapter
from providers.google_workspace.scenario import user
from providers.google_workspace.settings import GoogleSettings
from sweeper.errors import AuthError, DataError, PermissionDenied, ProviderError, ThrottledError
from sweeper.model import Action, Activity, CredentialKind, CredentialRef
from sweeper.testing.contract import AdapterContract, ContractSetup

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
TOKEN = "ya29.test-SECRET-token-do-not-leak"
ENV = "SWEEPER_TEST_GOOGLE_TOKEN"
LIST = "GET /admin/directory/v1/users"
CUSTOMER = "C0test99"


def population(n: int) -> list[dict]:
    users = [user(f"{100 + i}", f"user{i:05d}@x.test", created=NOW - timedelta(days=400),
                  last_login=NOW - timedelta(days=i % 300), customer_id=CUSTOMER) for i in range(n)]
    users[1].update(isAdmin=True)
    users[2].update(isDelegatedAdmin=True)
    users[3].update(orgUnitPath="/Service Accounts/bots")
    users[4].update(orgUnitPath="/Service Accounts Legacy")
    users[5].update(suspended=True)
    users[6].update(archived=True)
    users[7].update(lastLoginTime="1970-01-01T00:00:00.000Z", creationTime="2025-05-25T00:00:00.000Z")
    users[8].update(lastLoginTime="1970-01-01T00:00:00.000Z", creationTime="2023-01-01T00:00:00.000Z")
    users[9].update(lastLoginTime="last tuesday")
    users[10].update(creationTime=None, lastLoginTime="1970-01-01T00:00:00.000Z")
    users[11] = {"primaryEmail": "noid@x.test", "isAdmin": False}
    return users


def scenario(n: int = 12, **extra: object) -> dict:
    return {"customer_id": CUSTOMER, "domain": "x.test", "token": TOKEN, "users": population(n), **extra}


class Sleeps(list):
    """Records backoff waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def make(monkeypatch):
    """make(scenario, **settings) -> (emulator, adapter); make(None) reuses the last emulator.
    The adapter never really sleeps: its backoff waits are recorded."""
    monkeypatch.setenv(ENV, TOKEN)
    started = []

    def build(scn: dict | None = None, *, write: bool = True, **settings: object):
        em = started[-1] if scn is None and started else emulator.start(scn or scenario())
        if em not in started:
            started.append(em)
        opts = {**em.config(), "token_env": ENV, "num_retries": 3, "exclude_org_units": ["/Service Accounts"]}
        opts.update(settings)
        adapter = GoogleWorkspaceAdapter(GoogleSettings(**opts), write=write)
        adapter.client.sleep = Sleeps()
        return em, adapter

    yield build
    for em in started:
        em.stop()


def listing(adapter: GoogleWorkspaceAdapter) -> dict[str, object]:
    return {i.login: i for scope in adapter.scopes() for i in adapter.list_identities(scope)}


class TestContract(AdapterContract):
    @pytest.fixture
    def contract(self, make, monkeypatch) -> ContractSetup:
        em, adapter = make(scenario(1200))

        def break_listing() -> None:  # the probe and page 1 answer, then the service falls over
            em.server.set_faults(Faults(only=(LIST,), fail_after=2, fail_status=503))

        def bad_auth() -> GoogleWorkspaceAdapter:
            monkeypatch.setenv("SWEEPER_TEST_BAD_TOKEN", "not-the-token")
            return make(None, token_env="SWEEPER_TEST_BAD_TOKEN")[1]

        return ContractSetup(adapter, 1200, "user00020@x.test", CredentialKind.ACCOUNT, break_listing, bad_auth,
                             read_only=lambda: make(None, write=False)[1], garbled_login="user00009@x.test",
                             wrong_binding=lambda: make(None, write=False, customer="C0other99")[1])


def test_pages_of_500_and_the_customer_is_resolved(make) -> None:
    em, adapter = make(scenario(1200), activity_sources=[])
    assert adapter.scopes() == [CUSTOMER]
    em.server.reset_counts()
    found = listing(adapter)
    assert len(found) == 1200 and em.server.counts[LIST] == 3 and em.server.total_requests == 3
    em2, named = make(scenario(1200), customer=CUSTOMER, activity_sources=[])
    assert named.scopes() == [CUSTOMER] and len(listing(named)) == 1200
    assert em2.server.total_requests == 4  # a configured customer id is bound too: one one-user probe
    assert em2.list_pages == {CUSTOMER: 3}


def test_activity_protection_and_exclusion(make) -> None:
    _, adapter = make()
    ids = listing(adapter)
    cred = {login: i.credentials[0] for login, i in ids.items()}
    assert cred["user00000@x.test"].activity is Activity.SEEN
    assert ids["user00001@x.test"].protected_by == "super admin"
    assert ids["user00002@x.test"].protected_by == "delegated admin"
    assert ids["user00003@x.test"].excluded_by == "org unit /Service Accounts"
    assert ids["user00004@x.test"].excluded_by is None
    assert not cred["user00005@x.test"].enabled and not cred["user00006@x.test"].enabled
    new, old = cred["user00007@x.test"], cred["user00008@x.test"]
    assert new.activity is old.activity is Activity.NEVER
    assert (new.created, old.created) == (datetime(2025, 5, 25, tzinfo=timezone.utc),
                                          datetime(2023, 1, 1, tzinfo=timezone.utc))
    for login in ("user00009@x.test", "user00010@x.test", "noid@x.test"):
        assert cred[login].activity is Activity.UNKNOWN and cred[login].activity_note
    assert ids["noid@x.test"].id == "missing-id:noid@x.test"


def test_admins_are_not_protected_when_asked(make) -> None:
    _, adapter = make(skip_admins=False)
    assert listing(adapter)["user00001@x.test"].protected_by is None


def test_the_sweepers_own_account_is_protected(make) -> None:
    _, adapter = make(admin_subject="USER00000@x.test")
    assert listing(adapter)["user00000@x.test"].protected_by == "the sweeper's own identity"
    assert adapter.whoami().id == "USER00000@x.test"


def refs_of(adapter: GoogleWorkspaceAdapter, logins: list[str]) -> list[CredentialRef]:
    ids = listing(adapter)
    return [CredentialRef.of(ids[login], ids[login].credentials[0]) for login in logins]


def test_apply_then_restore(make) -> None:
    em, adapter = make()
    refs = refs_of(adapter, ["user00000@x.test", "user00004@x.test"])
    assert all(o.ok for o in adapter.apply(Action.DISABLE, refs))
    assert em.user("100")["suspended"] is True and em.user("104")["suspended"] is True
    assert adapter.refresh(refs[0]).enabled is False
    assert all(o.ok for o in adapter.apply(Action.ENABLE, refs))
    assert em.user("100")["suspended"] is False and adapter.refresh(refs[0]).enabled is True


def test_batches_retry_throttled_items_and_suspend_each_once(make) -> None:
    em, adapter = make(scenario(300), batch_size=1000)
    refs = refs_of(adapter, [f"user{i:05d}@x.test" for i in range(12, 300)])
    em.set_item_faults(emulator.ItemFaults(rate_429=0.2, rate_403=0.2, max_per_user=2, seed=7))
    em.server.reset_counts()
    outcomes = adapter.apply(Action.DISABLE, refs)
    assert [o.ref for o in outcomes] == refs and all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    assert all(em.directory.writes[r.identity_id] == 1 for r in refs)  # never sent again once done
    assert 2 <= em.server.counts["POST /batch"] <= 4 and adapter.client.sleep
    assert em.part_counts["PUT /admin/directory/v1/users/{userKey}"] > len(refs)


def test_items_still_throttled_fail_without_raising(make) -> None:
    em, adapter = make(num_retries=2)
    refs = refs_of(adapter, ["user00000@x.test", "user00004@x.test"])
    em.set_item_faults(emulator.ItemFaults(rate_403=1.0))
    outcomes = adapter.apply(Action.DISABLE, refs)
    assert not any(o.ok for o in outcomes) and "still throttled after 3 attempts" in outcomes[0].error
    assert em.server.counts["POST /batch"] == 3 and len(adapter.client.sleep) == 2


def test_delegated_admin_cannot_suspend_a_super_admin(make) -> None:
    em, adapter = make(scenario(delegated_admin=True), skip_admins=False)
    refs = refs_of(adapter, ["user00001@x.test", "user00000@x.test"])
    refs.append(CredentialRef("google_workspace", CUSTOMER, "999999", "gone@x.test", CredentialKind.ACCOUNT, "999999"))
    admin, plain, gone = adapter.apply(Action.DISABLE, refs)
    assert not admin.ok and "delegated admin cannot suspend" in admin.error and "HTTP 403" in admin.error
    assert em.user("101")["suspended"] is False
    assert plain.ok and not gone.ok and gone.error == "user not found"


def test_refresh_reads_live_state_and_missing_is_none(make) -> None:
    em, adapter = make()
    [ref] = refs_of(adapter, ["user00000@x.test"])
    em.directory.find("100").update(suspended=True, isAdmin=True)
    current = adapter.refresh(ref)
    assert not current.enabled and current.protected_by == "super admin"
    assert adapter.refresh(CredentialRef("google_workspace", CUSTOMER, "404", "x", CredentialKind.ACCOUNT, "404")) is None


def test_throttled_listing_retries_then_gives_up(make) -> None:
    em, adapter = make(scenario(1200), customer=CUSTOMER, activity_sources=[])
    em.server.set_faults(Faults(rate_429=0.3, seed=1))
    assert len(listing(adapter)) == 1200 and em.server.injected["429"] >= 1
    em.server.set_faults(Faults(rate_429=1.0))
    with pytest.raises(ThrottledError):
        listing(adapter)
    em.fault_reasons[403] = "quotaExceeded"  # the library does not retry this one: we do
    em.server.set_faults(Faults(fail_after=0, fail_status=403))
    em.server.reset_counts()
    with pytest.raises(ThrottledError, match="quotaExceeded"):
        listing(adapter)
    assert em.server.counts[LIST] == 4  # 1 + num_retries


def test_permission_errors_name_the_scope(make, monkeypatch) -> None:
    em, reader = make(write=False)
    em.server.set_faults(Faults(only=(LIST,), fail_after=1, fail_status=403))  # the binding probe answers
    with pytest.raises(PermissionDenied, match=r"admin\.directory\.user\.readonly.*domain-wide delegation"):
        listing(reader)
    customer, read = reader.check()[:2]
    assert customer.ok is True and CUSTOMER in customer.detail and read.ok is False
    em.server.set_faults(Faults())
    em, writer = make(scenario(readonly_tokens=["read-only-token"]))
    [ref] = refs_of(writer, ["user00000@x.test"])
    monkeypatch.setenv(ENV, "read-only-token")
    _, limited = make(None)
    [outcome] = limited.apply(Action.DISABLE, [ref])
    assert not outcome.ok and "insufficientPermissions" in outcome.error
    assert "https://www.googleapis.com/auth/admin.directory.user " in outcome.error


def test_missing_token_names_the_variable(make, monkeypatch) -> None:
    monkeypatch.delenv(ENV)
    _, adapter = make()
    with pytest.raises(AuthError, match=ENV):
        adapter.scopes()
    assert adapter.check()[0].ok is False and ENV in adapter.check()[0].detail


def test_malformed_page_is_a_data_error(make) -> None:
    em, adapter = make(customer=CUSTOMER)
    em.server.set_faults(Faults(rate_malformed=1.0))
    with pytest.raises(DataError):  # googleapiclient hands back unparseable JSON as a str
        listing(adapter)
    ref = CredentialRef("google_workspace", CUSTOMER, "100", "user00000@x.test", CredentialKind.ACCOUNT, "100")
    with pytest.raises(DataError):
        adapter.refresh(ref)


def test_parallel_apply_and_list_from_threads(make) -> None:
    em, adapter = make(scenario(600))
    logins = [f"user{i:05d}@x.test" for i in range(12, 412)]
    refs = refs_of(adapter, logins)
    results, errors = [], []

    def work(chunk: list[CredentialRef]) -> None:
        try:
            results.extend(adapter.apply(Action.DISABLE, chunk))
            assert len(listing(adapter)) == 600
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(refs[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 400 and all(o.ok for o in results)
    assert all(em.user(r.identity_id)["suspended"] for r in refs)


def test_the_token_never_leaks(make, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    em, adapter = make(scenario(delegated_admin=True), skip_admins=False, customer=CUSTOMER)
    refs = refs_of(adapter, ["user00001@x.test"])
    texts += [o.error or "" for o in adapter.apply(Action.DISABLE, refs)]
    for faults in (Faults(rate_429=1.0), Faults(rate_malformed=1.0), Faults(fail_after=0, fail_status=403),
                   Faults(rate_503=1.0), Faults(rate_drop=1.0)):
        em.server.set_faults(faults)
        with pytest.raises(ProviderError) as info:
            listing(adapter)
        texts.append("".join(traceback.format_exception(info.value)))
    em.server.set_faults(Faults())
    monkeypatch.setenv(ENV, TOKEN + "-revoked")  # a rejected token is a secret too
    _, rejected = make(None)
    with pytest.raises(AuthError) as info:
        listing(rejected)
    texts.append("".join(traceback.format_exception(info.value)))
    texts += [repr(adapter.whoami()), repr(adapter.check()), repr(rejected.check()), adapter.permissions()]
    texts.append(caplog.text)
    for text in texts:
        assert TOKEN not in text
    assert any("HTTP 401" in t for t in texts)


def test_service_account_settings(tmp_path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    missing = GoogleWorkspaceAdapter(GoogleSettings(auth="service_account", credentials_file=str(tmp_path / "nope.json"),
                                                    customer=CUSTOMER, endpoint="http://127.0.0.1:9"), write=False)
    with pytest.raises(AuthError, match="nope.json"):
        list(missing.list_identities(CUSTOMER))
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    key = tmp_path / "key.json"
    key.write_text(__import__("json").dumps({
        "type": "service_account", "client_email": "sweeper@proj.iam.gserviceaccount.com", "private_key": pem,
        "private_key_id": "abc", "client_id": "123", "token_uri": "https://oauth2.googleapis.com/token"}))
    adapter = GoogleWorkspaceAdapter(GoogleSettings(auth="service_account", credentials_file=str(key)), write=True)
    assert adapter.whoami().id == "sweeper@proj.iam.gserviceaccount.com"
    assert adapter.client._credentials._subject is None and adapter.client.scope.endswith("admin.directory.user")
    delegated = GoogleWorkspaceAdapter(GoogleSettings(auth="service_account", credentials_file=str(key),
                                                      admin_subject="admin@x.test"), write=False)
    assert delegated.whoami().id == "admin@x.test"
    delegated.client.service()
    assert delegated.client._credentials._subject == "admin@x.test"
    assert delegated.client._credentials._scopes == ["https://www.googleapis.com/auth/admin.directory.user.readonly"]


def test_permissions_text_covers_the_setup() -> None:
    plan = " ".join(GoogleWorkspaceAdapter.permissions("plan").split())
    apply = " ".join(GoogleWorkspaceAdapter.permissions("apply").split())
    assert GoogleWorkspaceAdapter.permissions() == GoogleWorkspaceAdapter.permissions("apply")
    for text in (plan, apply):
        for needle in ("Domain-wide delegation", "token_format: access_token", "access_token_subject",
                       "admin.directory.user.readonly"):
            assert needle in text
    assert "Users > Read only" in plan and "Users > Update" in apply
    assert "delegated admin cannot suspend super admins" in apply


def test_a_users_notices_go_to_its_primary_email(make) -> None:
    em, adapter = make(scenario(20))
    found = listing(adapter)
    assert len(found) == 20 and all(identity.owner == login for login, identity in found.items())
