"""The Okta adapter over HTTP against the emulator: the shipped contract suite, then what issue #27 asks
for: never signed in judged by creation, suspended users not counted, admins protected, paging, 429 with
its reset, suspend and unsuspend (restore)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from providers.emulator import Faults
from providers.okta.adapter import OktaAdapter
from providers.okta.scenario import user
from sweeper.errors import AuthError, DataError, ProviderError, ThrottledError
from sweeper.model import Action, Activity, CredentialKind, CredentialRef
from sweeper.testing.contract import AdapterContract, ContractSetup
from tests.providers.okta.support import DOMAIN, ago, listing, login, scenario

LIST = "GET /api/v1/users"


class TestContract(AdapterContract):
    @pytest.fixture
    def contract(self, make, monkeypatch) -> ContractSetup:
        emu, adapter = make(scenario(1200))

        def break_listing() -> None:  # the first pages answer, then Okta falls over
            emu.faults = Faults(only=(LIST,), fail_after=2, fail_status=503)

        def bad_auth() -> OktaAdapter:
            monkeypatch.setenv("SWEEPER_TEST_BAD_TOKEN", "not-the-okta-token")
            return make(None, token_env="SWEEPER_TEST_BAD_TOKEN")[1]

        # 1200 users plus the sweeper's own, less the DEPROVISIONED one, which Okta does not list
        return ContractSetup(adapter, 1200, login(20), CredentialKind.ACCOUNT, break_listing, bad_auth,
                             read_only=lambda: make(None, write=False)[1], garbled_login=login(8),
                             wrong_binding=lambda: make(None, write=False, org_id="00oSomeOtherOrg0001")[1])


def test_never_signed_in_is_judged_by_creation_or_a_later_activation(make) -> None:
    _, adapter = make(scenario(40))
    found = listing(adapter)
    old, new, late = (found[login(i)].credentials[0] for i in (0, 1, 2))
    assert old.activity is new.activity is late.activity is Activity.NEVER
    assert old.last_used is None and (NOW_DAYS(old.created), NOW_DAYS(new.created)) == (400, 3)
    assert NOW_DAYS(late.created) == 5 and "activation" in str(late.activity_note)  # created 400 days ago
    unreadable = found[login(9)].credentials[0]
    assert unreadable.activity is Activity.UNKNOWN and "created" in str(unreadable.activity_note)
    garbled = found[login(8)].credentials[0]
    assert garbled.activity is Activity.UNKNOWN and "last tuesday" in str(garbled.activity_note)
    seen = found[login(30)].credentials[0]
    assert seen.activity is Activity.SEEN and NOW_DAYS(seen.last_used) == 30


def NOW_DAYS(when: datetime | None) -> int:
    assert when is not None and when.tzinfo is not None
    return (datetime.now(timezone.utc) - when).days


def test_states_suspended_and_staged_are_disabled_deprovisioned_is_not_listed(make) -> None:
    _, adapter = make()
    found = listing(adapter)
    assert login(7) not in found  # DEPROVISIONED
    assert not found[login(3)].enabled and not found[login(3)].credentials[0].enabled  # SUSPENDED: not counted
    for i in (4, 5, 6, 10):  # LOCKED_OUT, PROVISIONED, STAGED, PASSWORD_EXPIRED: Okta cannot suspend them
        cred = found[login(i)].credentials[0]
        assert cred.enabled and "only ACTIVE" in str(cred.report_only)
    assert found[login(20)].credentials[0].report_only is None


def test_admins_are_protected_and_privileged_the_token_user_too(make) -> None:
    _, adapter = make()
    found = listing(adapter)
    admin = found[login(11)]
    assert admin.protected_by == admin.privileged == "holds an Okta admin role"
    me = found[f"sweeper@{DOMAIN}"]
    assert me.protected_by == "the sweeper's own identity" and me.privileged
    assert found[login(20)].protected_by is None and found[login(20)].privileged is None
    _, loose = make(None, skip_admins=False)
    again = listing(loose)
    assert again[login(11)].protected_by is None and again[login(11)].privileged == "holds an Okta admin role"
    assert again[f"sweeper@{DOMAIN}"].protected_by == "the sweeper's own identity"


def test_pages_follow_the_link_header(make) -> None:
    emu, adapter = make(scenario(450), page_size=200)
    emu.reset_counts()
    found = listing(adapter)
    assert len(found) == 450  # 450 + the sweeper's own - 1 deprovisioned
    assert emu.request_counts()[LIST] == 3 and emu.list_pages == 3


def test_admins_are_read_over_every_page(make) -> None:
    scn = scenario(300)
    scn["admins"] += [u["id"] for u in scn["users"][100:250]]
    emu, adapter = make(scn)
    found = listing(adapter)
    assert emu.request_counts()["GET /api/v1/iam/assignees/users"] == 2  # 100 a page
    assert sum(1 for i in found.values() if i.privileged) == len(set(scn["admins"])) == 152
    assert found[login(240)].protected_by == "holds an Okta admin role"


def test_a_next_link_to_another_host_is_refused(make) -> None:
    emu, adapter = make(scenario(450), page_size=200)
    real = emu.server.app

    def elsewhere(req):
        resp = real(req)
        if "link" in {k.lower() for k in resp.headers} and req.path == "/api/v1/users":
            resp.headers["Link"] = '<https://evil.example/api/v1/users?after=x>; rel="next"'
        return resp

    emu.server.app = elsewhere
    with pytest.raises(DataError, match="evil.example"):
        listing(adapter)


def test_a_429_waits_until_the_reset_then_goes_on(make) -> None:
    emu, adapter = make(scenario(450), page_size=200)
    adapter.scopes()
    emu.throttle(2)
    reset_in = emu._window_start + emu.window - emu.clock()
    found = listing(adapter)
    assert len(found) == 450 and emu.throttled == 2
    waits = adapter.client.sleep.waits
    assert waits and abs(waits[0] - reset_in) < 2, (waits, reset_in)  # until X-Rate-Limit-Reset, not a guess


def test_no_requests_left_waits_for_the_reset_before_asking(make) -> None:
    emu, adapter = make(scenario(900, rate_limit={"limit": 3, "window": 60}), page_size=200)
    found = listing(adapter)
    assert len(found) == 900
    assert emu.throttled == 0  # X-Rate-Limit-Remaining: 0 was honoured, no 429 was needed
    assert adapter.client.sleep.waits and all(0 < w <= 61 for w in adapter.client.sleep.waits)


def test_a_reset_too_far_away_ends_with_throttled(make) -> None:
    emu, adapter = make(scenario(12, rate_limit={"limit": 1, "window": 3600}), max_rate_limit_wait=30)
    with pytest.raises(ThrottledError, match="max_rate_limit_wait = 30"):
        listing(adapter)
    assert sum(adapter.client.sleep.waits) <= 30


def test_suspend_and_unsuspend(make) -> None:
    emu, adapter = make()
    found = listing(adapter)
    target = found[login(20)]
    ref = CredentialRef.of(target, target.credentials[0])
    [done] = adapter.apply(Action.DISABLE, [ref])
    assert done.ok and done.note == "suspended" and emu.status_of(target.id) == "SUSPENDED"
    [again] = adapter.apply(Action.DISABLE, [ref])
    assert again.ok and "already" in str(again.note)
    [back] = adapter.apply(Action.ENABLE, [ref])
    assert back.ok and emu.status_of(target.id) == "ACTIVE"
    locked = found[login(4)]
    [refused] = adapter.apply(Action.DISABLE, [CredentialRef.of(locked, locked.credentials[0])])
    assert not refused.ok and "LOCKED_OUT" in str(refused.error) and emu.status_of(locked.id) == "LOCKED_OUT"


def test_removal_deactivates_a_suspended_user_only_and_cannot_be_undone(make) -> None:
    emu, adapter = make()
    found = listing(adapter)
    active, suspended = found[login(20)], found[login(3)]
    a_ref, s_ref = (CredentialRef.of(i, i.credentials[0]) for i in (active, suspended))
    refused, removed = adapter.apply(Action.REMOVE, [a_ref, s_ref])
    assert not refused.ok and "not deactivated" in str(refused.error) and emu.status_of(active.id) == "ACTIVE"
    assert removed.ok and emu.status_of(suspended.id) == "DEPROVISIONED"
    assert adapter.refresh(s_ref) is None and login(3) not in listing(adapter)
    [undo] = adapter.apply(Action.UNDELETE, [s_ref])
    assert not undo.ok and "cannot undo" in str(undo.error) and emu.status_of(suspended.id) == "DEPROVISIONED"


def test_a_rejected_token_says_so_without_the_token(make, monkeypatch) -> None:
    monkeypatch.setenv("SWEEPER_TEST_BAD_TOKEN", "wrong-token-value-123")
    _, adapter = make(token_env="SWEEPER_TEST_BAD_TOKEN")
    with pytest.raises(AuthError) as caught:
        listing(adapter)
    assert "E0000011" in str(caught.value) and "wrong-token-value-123" not in str(caught.value)
    monkeypatch.delenv("SWEEPER_TEST_BAD_TOKEN")
    with pytest.raises(AuthError, match="SWEEPER_TEST_BAD_TOKEN is not set"):
        make(None, token_env="SWEEPER_TEST_BAD_TOKEN")[1].whoami()


def test_malformed_records_are_unknown_and_a_malformed_page_fails(make) -> None:
    scn = scenario()
    scn["users"].append({"status": "ACTIVE", "profile": {"login": f"noid@{DOMAIN}"}, "lastLogin": None})
    scn["users"].append(user(f"odd@{DOMAIN}", created=ago(days=400), status="SOMETHING_NEW"))
    emu, adapter = make(scn)
    found = listing(adapter)
    for name in (f"noid@{DOMAIN}", f"odd@{DOMAIN}"):
        cred = found[name].credentials[0]
        assert cred.activity is Activity.UNKNOWN and cred.activity_note
    emu.faults = Faults(only=(LIST,), rate_malformed=1.0)
    with pytest.raises(DataError):
        listing(adapter)


def test_passing_503s_and_dropped_connections_are_tried_again(make) -> None:
    emu, adapter = make(scenario(450), page_size=200, retries=6)
    adapter.scopes()
    emu.faults = Faults(only=(LIST,), rate_503=0.25, rate_drop=0.15, seed=7)
    assert len(listing(adapter)) == 450
    assert emu.server.injected["503"] + emu.server.injected["drop"] > 0


def test_a_redirect_is_refused_and_not_followed(make) -> None:
    from providers.emulator import Response

    emu, adapter = make()
    real = emu.server.app
    emu.server.app = lambda req: (Response(302, b"", {"Location": "https://evil.example/steal"})
                                  if req.path == "/api/v1/users" else real(req))
    with pytest.raises(ProviderError, match="redirect to https://evil.example"):
        listing(adapter)


def test_an_answer_larger_than_the_limit_is_refused(make) -> None:
    _, adapter = make(scenario(400), max_response_mb=0.05)
    with pytest.raises(DataError, match="max_response_mb"):
        listing(adapter)


def test_as_a_people_source_suspended_and_deactivated_users_are_dated_by_status_changed(make) -> None:
    scn = scenario()
    scn["users"][4]["statusChanged"] = "2026-01-02T03:04:05.000Z"  # user00003, SUSPENDED
    scn["users"][8]["statusChanged"] = "2025-05-06T07:08:09.000Z"  # user00007, DEPROVISIONED
    _, adapter = make(scn)
    assert listing(adapter)[login(3)].departure is None  # only a people source is asked
    adapter.want_departures(ago(days=30))
    found = listing(adapter)
    left = found[login(3)].departure
    assert left is not None and left.state == "suspended"
    assert left.since == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert found[login(6)].departure is None and found[login(20)].departure is None  # STAGED is no leaver
    [gone] = list(adapter.list_deleted(adapter.scopes()[0]))
    assert gone.login == login(7) and not gone.enabled and gone.credentials == ()
    assert gone.departure is not None and gone.departure.state == "deactivated"
    assert gone.departure.since == datetime(2025, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    assert adapter.scope_notes(adapter.scopes()[0]) == []


def test_a_suspended_user_without_a_date_is_said(make) -> None:
    scn = scenario()
    scn["users"][4]["statusChanged"] = "sometime"
    _, adapter = make(scn)
    adapter.want_departures(ago(days=30))
    left = listing(adapter)[login(3)].departure
    assert left is not None and left.since is None and "sometime" in str(left.note)
    assert "1 suspended user(s)" in adapter.scope_notes(adapter.scopes()[0])[0]
