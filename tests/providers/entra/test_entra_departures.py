"""#25 for Entra as a people source, through the Graph emulator over HTTP: every address a user is known by
(`Identity.emails`), when a disabled user was disabled (the directory audit log's "Disable account"
events, one paged scan per tenant), and the users in deleted items with the login they had."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from msgraph.generated.models.directory_audit import DirectoryAudit
from msgraph.generated.models.user import User

from providers.entra import departures, scenario
from providers.entra.adapter import EntraAdapter
from providers.entra.scenario import deleted_user, disable_event, disabled_user, guest, user
from sweeper.model import Departure
from tests.providers.entra.support import listing, running, tenant
from tests.providers.entra.test_entra_definitions import problems

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=30)
D = "contoso.test"
AUDIT = "GET /v1.0/auditLogs/directoryAudits"
DELETED = "GET /v1.0/directory/deletedItems/microsoft.graph.user"


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def people() -> dict[str, Any]:
    """alice active; bob disabled 10 days ago (disabled, enabled, disabled again: the newest counts, and a
    failed attempt later does not); carol disabled before the window; a guest whose mail is external."""
    bob, bob_event = disabled_user(f"bob@{D}", ago(10), created=ago(900), success=ago(40))
    carol = user(f"carol@{D}", created=ago(900), success=ago(400), enabled=False)
    events = [bob_event, disable_event(bob["id"], f"bob@{D}", ago(25)),
              disable_event(bob["id"], f"bob@{D}", ago(2), result="failure"),
              disable_event(carol["id"], f"carol@{D}", ago(45)),  # older than the window: not asked for
              disable_event("someone-else", f"dave@{D}", ago(5))]
    return tenant([user(f"alice@{D}", created=ago(900), success=ago(1), mail=f"alice.smith@{D}",
                        proxy_addresses=[f"SMTP:alice.smith@{D}", f"smtp:alice@{D}", f"smtp:a.smith@{D}",
                                         "SIP:alice@contoso.test", f"smtp:ALICE.SMITH@{D}", "X500:/o=ExchangeLabs"]),
                   bob, carol, guest("erin@fabrikam.test", D, created=ago(300), success=ago(3))],
                  directory_audits=events)


def departed(adapter: EntraAdapter, since: datetime = SINCE) -> dict[str, Any]:
    adapter.clock = lambda: NOW  # what the audit log still holds is measured from here
    adapter.want_departures(since)
    return listing(adapter)


def test_emails_are_mail_and_smtp_proxy_addresses_each_once_without_the_login(monkeypatch) -> None:
    with running(people(), monkeypatch) as (emu, adapter):
        found = listing(adapter)
    alice = found[f"alice@{D}"]
    assert alice.emails == (f"alice.smith@{D}", f"a.smith@{D}")  # SIP and X500 are not mail; the login not again
    erin = found[f"erin_fabrikam.test#EXT#@{D}"]
    assert erin.emails == ("erin@fabrikam.test",) and erin.owner == "erin@fabrikam.test"
    assert found[f"carol@{D}"].emails == ()  # mail is the login
    assert all(i.departure is None for i in found.values())  # not a people source: nothing more


def test_a_user_disabled_ten_days_ago_departed_then_by_the_newest_successful_event(monkeypatch) -> None:
    with running(people(), monkeypatch) as (emu, adapter):
        found = departed(adapter)
        notes = adapter.scope_notes(adapter.scopes()[0])
    bob = found[f"bob@{D}"].departure
    assert bob == Departure("disabled", ago(10).replace(microsecond=0), note="'Disable account' in the directory "
                            "audit log")
    assert bob.since_text == f"since {ago(10).date().isoformat()}"
    assert found[f"alice@{D}"].departure is None and found[f"erin_fabrikam.test#EXT#@{D}"].departure is None
    assert notes == []


def test_a_disable_logged_as_update_user_counts_and_other_updates_do_not(monkeypatch) -> None:
    """Graph and sync log a disable as "Update user" with AccountEnabled [true] -> [false]; a rename is
    logged alike without it, and says nothing of when the user was disabled."""
    kim = user(f"kim@{D}", created=ago(900), success=ago(50), enabled=False)
    lee = user(f"lee@{D}", created=ago(900), success=ago(50), enabled=False)
    update = disable_event(kim["id"], f"kim@{D}", ago(6), activity="Update user")
    rename = disable_event(lee["id"], f"lee@{D}", ago(4), activity="Update user")
    rename["targetResources"][0]["modifiedProperties"] = [{"displayName": "DisplayName", "oldValue": '["Lee"]',
                                                           "newValue": '["Lee Old"]'}]
    with running(tenant([kim, lee], directory_audits=[update, rename]), monkeypatch) as (_, adapter):
        found = departed(adapter)
    assert found[f"kim@{D}"].departure == Departure("disabled", ago(6).replace(microsecond=0), note="'Update user' "
                                                    "in the directory audit log (AccountEnabled set to false)")
    lee_gone = found[f"lee@{D}"].departure
    assert lee_gone is not None and lee_gone.before and lee_gone.since == SINCE


def test_a_user_disabled_before_the_window_is_bounded_by_it(monkeypatch) -> None:
    with running(people(), monkeypatch) as (_, adapter):
        carol = departed(adapter)[f"carol@{D}"].departure
    assert carol is not None and carol.state == "disabled" and carol.before is True and carol.since == SINCE
    assert carol.since_text == f"since before {SINCE.date().isoformat()}"
    assert "no 'Disable account'" in (carol.note or "")


def test_a_window_longer_than_the_logs_retention_is_bounded_by_what_the_log_holds(monkeypatch) -> None:
    """The core asks back 90 days; Entra keeps 30: carol was disabled before 30 days ago, not before 90."""
    with running(people(), monkeypatch) as (emu, adapter):
        found = departed(adapter, since=ago(90))
    carol, bob = found[f"carol@{D}"].departure, found[f"bob@{D}"].departure
    assert carol is not None and carol.before and carol.since == ago(30) and "keeps 30 days" in (carol.note or "")
    assert bob is not None and bob.since == ago(10).replace(microsecond=0) and not bob.before
    asked = [dict(q)["$filter"] for m, p, q in emu.app.asked if p == "/v1.0/auditLogs/directoryAudits"]
    assert asked == ["(activityDisplayName eq 'Disable account' or activityDisplayName eq 'Update user') and "
                     f"activityDateTime ge {ago(30).strftime('%Y-%m-%dT%H:%M:%SZ')}"]  # no more than the log holds


def test_the_audit_scan_asks_graph_for_the_window_and_the_activity(monkeypatch) -> None:
    with running(people(), monkeypatch) as (emu, adapter):
        departed(adapter)
        asked = [dict(q) for m, p, q in emu.app.asked if p == "/v1.0/auditLogs/directoryAudits"]
    assert asked == [{"$filter": "(activityDisplayName eq 'Disable account' or activityDisplayName eq 'Update user') "
                                 f"and activityDateTime ge {SINCE.strftime('%Y-%m-%dT%H:%M:%SZ')}"}]


def test_an_audit_log_refused_leaves_the_dates_unknown_and_says_which_permission(monkeypatch) -> None:
    with running(people() | {"denied": ["auditLogs"]}, monkeypatch) as (emu, adapter):
        found = departed(adapter)
        notes = adapter.scope_notes(adapter.scopes()[0])
        counts = emu.server.request_counts()
    for login in (f"bob@{D}", f"carol@{D}"):
        gone = found[login].departure
        assert gone is not None and gone.state == "disabled" and gone.since is None and not gone.before
        assert "AuditLog.Read.All" in (gone.note or "") and "403" in (gone.note or "")
        assert gone.since_text == "since a date not known"
    assert len(found) == 4  # the listing itself is whole
    assert any("AuditLog.Read.All" in n and n.startswith("leavers:") for n in notes), notes
    assert counts[AUDIT] == 1  # one refusal, not one per disabled user


def test_nothing_more_is_read_unless_departures_are_wanted(monkeypatch) -> None:
    with running(people(), monkeypatch) as (emu, adapter):
        listing(adapter)
        plain = emu.server.request_counts()
    with running(people(), monkeypatch) as (emu, adapter):
        departed(adapter)
        wanted = emu.server.request_counts()
    assert AUDIT not in plain and DELETED not in plain
    assert wanted == {**plain, AUDIT: 1}  # one scan for the tenant, for both disabled users; nothing else


def test_no_audit_request_when_no_user_is_disabled(monkeypatch) -> None:
    scn = tenant([user(f"alice@{D}", created=ago(900), success=ago(1))], directory_audits=[])
    with running(scn, monkeypatch) as (emu, adapter):
        departed(adapter)
        assert AUDIT not in emu.server.request_counts()


def test_the_audit_scan_follows_next_links_once_per_tenant(monkeypatch) -> None:
    users, events = [], []
    for n in range(230):
        raw, event = disabled_user(f"leaver{n:03d}@{D}", ago(1 + n % 20), created=ago(900), success=ago(60))
        users.append(raw)
        events.append(event)
    with running(tenant(users, directory_audits=events), monkeypatch) as (emu, adapter):
        found = departed(adapter)
        counts = emu.server.request_counts()
    assert counts[AUDIT] == 3  # 100 a page, Graph's default
    for n in range(230):
        gone = found[f"leaver{n:03d}@{D}"].departure
        assert gone is not None and gone.since == ago(1 + n % 20).replace(microsecond=0) and not gone.before


def test_a_broken_audit_log_leaves_the_dates_unknown_never_partly_read(monkeypatch) -> None:
    users, events = [], []
    for n in range(150):
        raw, event = disabled_user(f"leaver{n:03d}@{D}", ago(3), created=ago(900), success=ago(60))
        users.append(raw)
        events.append(event)
    with running(tenant(users, directory_audits=events), monkeypatch) as (emu, adapter):
        emu.set_hostile(emulator_hostile(repeat_next_link=True))
        found = departed(adapter)
        notes = adapter.scope_notes(adapter.scopes()[0])
    assert {i.departure.since for i in found.values() if i.departure} == {None}
    assert any("same next-page link came back twice" in n for n in notes), notes


def emulator_hostile(**kw: Any) -> Any:
    from providers.entra.emulator import Hostile

    return Hostile(only=("GET /v1.0/auditLogs",), **kw)


# -- deleted items -----------------------------------------------------------------------------------

def test_deleted_users_are_listed_with_the_login_they_had(monkeypatch) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)  # the emulator purges items 30 days old by its clock
    frank = deleted_user(f"frank@{D}", now - timedelta(days=4), created=ago(700), mail=f"frank.jones@{D}",
                         proxy_addresses=[f"SMTP:frank.jones@{D}", f"smtp:frank@{D}"])
    gina = deleted_user("gina_partner.test#EXT#@contoso.test", now - timedelta(days=1), created=ago(50),
                        user_type="Guest", external_state="Accepted")
    assert frank["userPrincipalName"] == frank["id"].replace("-", "") + f"frank@{D}"  # as Graph shows it
    with running(tenant([user(f"alice@{D}", created=ago(900), success=ago(1))], deleted_users=[frank, gina]),
                 monkeypatch) as (emu, adapter):
        plain = listing(adapter)
        gone = {i.login: i for i in adapter.list_deleted(adapter.scopes()[0])}
        counts = emu.server.request_counts()
    assert set(plain) == {f"alice@{D}"}
    assert set(gone) == {f"frank@{D}", "gina_partner.test#EXT#@contoso.test"}
    f = gone[f"frank@{D}"]
    assert f.id == frank["id"] and f.enabled is False and f.credentials == ()
    assert f.departure == Departure("deleted", now - timedelta(days=4), note="deletedDateTime of the deleted item")
    assert f.emails == (f"frank.jones@{D}",) and f.owner == f"frank.jones@{D}"
    assert gone["gina_partner.test#EXT#@contoso.test"].kind.value == "guest"
    assert counts[DELETED] == 1


def test_a_login_is_stripped_only_of_its_own_id() -> None:
    uid = "0d1f5c2e-aaaa-4bbb-8ccc-1234567890c4"
    assert departures.original_login(uid, "0d1f5c2eaaaa4bbb8ccc1234567890c4alice@contoso.test") == "alice@contoso.test"
    assert departures.original_login(uid, "0D1F5C2EAAAA4BBB8CCC1234567890C4alice@contoso.test") == "alice@contoso.test"
    assert departures.original_login(uid, "alice@contoso.test") == "alice@contoso.test"  # not renamed: as given
    assert departures.original_login(uid, "0d1f5c2eaaaa4bbb8ccc1234567890c5x@contoso.test").startswith("0d1f")


def test_deleted_items_refused_fail_the_call_naming_the_permission(monkeypatch) -> None:
    from sweeper.errors import PermissionDenied

    with running(tenant([], deleted_users=[], denied=["users"]), monkeypatch) as (_, adapter):
        with pytest.raises(PermissionDenied) as err:
            list(adapter.list_deleted(adapter.scopes()[0]))
    assert "User.Read.All" in err.value.detail


# -- the emulator's answers, in Graph's definitions ----------------------------------------------------

def _get(emu: Any, path: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{emu.endpoint}{path}", headers={"Authorization": f"Bearer {emu.token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_emulator_answers_audits_and_deleted_users_in_graphs_definitions(monkeypatch) -> None:
    now = datetime.now(timezone.utc)
    scn = people() | {"deleted_users": [deleted_user(f"hal@{D}", now - timedelta(days=2), created=ago(90),
                                                     proxy_addresses=[f"SMTP:hal@{D}"])]}
    with running(scn, monkeypatch) as (emu, _):
        flt = urllib.parse.quote(departures.audit_url("", SINCE).split("$filter=")[1], safe="%")
        status, body = _get(emu, f"/auditLogs/directoryAudits?$filter={flt}&$top=2")
        assert status == 200 and len(body["value"]) == 2 and "@odata.nextLink" in body
        times = [e["activityDateTime"] for e in body["value"]]
        assert times == sorted(times, reverse=True)  # newest first, as Graph lists them
        for n, event in enumerate(body["value"]):
            assert problems(event, DirectoryAudit, f"directoryAudits[{n}]") == []
        status, body = _get(emu, f"{departures.DELETED_PATH}?$select={departures.DELETED_SELECT}")
        assert status == 200 and [u["userPrincipalName"][32:] for u in body["value"]] == [f"hal@{D}"]
        for n, item in enumerate(body["value"]):
            assert problems(item, User, f"deletedItems[{n}]") == []
        assert _get(emu, "/auditLogs/directoryAudits?$filter=" + urllib.parse.quote("foo eq 'x'"))[0] == 400
        emu.state.denied.add("auditLogs")
        status, body = _get(emu, "/auditLogs/directoryAudits")
        assert status == 403 and body["error"]["code"] == "Authorization_RequestDenied"


def test_permissions_say_what_the_people_source_reads() -> None:
    text = EntraAdapter.permissions("plan")
    assert "[people] sources" in text and "'Disable account'" in text and "directory/deletedItems" in text
    assert "AuditLog.Read.All" in text and "User.Read.All" in text


def test_scenario_builders_give_graphs_shapes() -> None:
    raw, event = disabled_user(f"ivan@{D}", ago(3), created=ago(100))
    assert raw["accountEnabled"] is False and event["targetResources"][0]["id"] == raw["id"]
    assert event["activityDisplayName"] == "Disable account" and event["result"] == "success"
    assert problems(event, DirectoryAudit, "event") == []
    g = scenario.guest("jo@fabrikam.test", D)
    assert g["userPrincipalName"] == f"jo_fabrikam.test#EXT#@{D}" and g["mail"] == "jo@fabrikam.test"
    assert g["userType"] == "Guest"
