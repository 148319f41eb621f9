"""#25 for Google Workspace as a people source, through the Directory emulator over HTTP: every address a
user is known by (`Identity.emails`), when a suspended or archived user was suspended or archived (the
Admin console's audit log, Reports API activities.list, with a token of its own scope), and the users
Google keeps as deleted."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import pytest
from google.auth import exceptions as auth_exceptions

from providers.google_workspace import departures, emulator
from providers.google_workspace.adapter import GoogleWorkspaceAdapter
from providers.google_workspace.client import SCOPE_AUDIT, DirectoryClient
from providers.google_workspace.emulator import ListingFaults
from providers.google_workspace.scenario import admin_event, deleted_user, suspended_user, user
from providers.google_workspace.settings import GoogleSettings
from sweeper.model import Departure
from tests.providers.google_workspace import definitions as d

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
SINCE = NOW - timedelta(days=90)
CUSTOMER = "C0leavers"
TOKEN = "ya29.leavers-SECRET-token"
ENV = "SWEEPER_GOOGLE_TOKEN"
DOMAIN = "example.com"


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def world(**extra: Any) -> dict[str, Any]:
    """ann active with aliases; ben suspended 10 days ago (suspended, unsuspended, suspended again: the
    newest counts); cid suspended before the window; dee archived 20 days ago; a deleted user."""
    ben, ben_event = suspended_user("802", f"ben@{DOMAIN}", created=ago(900), suspended_at=ago(10))
    dee, dee_event = suspended_user("804", f"dee@{DOMAIN}", created=ago(900), suspended_at=ago(20), archived=True)
    activities = [ben_event, admin_event(f"BEN@{DOMAIN}", ago(40)),  # the address in another case: still ben
                  admin_event(f"ben@{DOMAIN}", ago(30), name="UNSUSPEND_USER"), dee_event,
                  admin_event(f"cid@{DOMAIN}", ago(200)),  # before the window: not asked for
                  admin_event(f"someone@{DOMAIN}", ago(3))]
    users = [user("801", f"ann@{DOMAIN}", created=ago(900), last_login=ago(1),
                  aliases=[f"ann.smith@{DOMAIN}", f"ANN@{DOMAIN}"], nonEditableAliases=["ann@example.test-alias.com"]),
             ben, user("803", f"cid@{DOMAIN}", created=ago(900), suspended=True, suspensionReason="ADMIN"), dee]
    gone = [deleted_user("805", f"eve@{DOMAIN}", created=ago(700), deleted=ago(5), aliases=[f"eve.old@{DOMAIN}"])]
    return {"customer_id": CUSTOMER, "domain": DOMAIN, "token": TOKEN, "users": users, "deleted_users": gone,
            "audit": {"activities": activities}, **extra}


@pytest.fixture
def emu(clean_env: pytest.MonkeyPatch) -> Iterator[emulator.DirectoryEmulator]:
    em = emulator.start(world())
    clean_env.setenv(ENV, TOKEN)
    yield em
    em.stop()


def adapter(em: emulator.DirectoryEmulator, **settings: Any) -> GoogleWorkspaceAdapter:
    made = GoogleWorkspaceAdapter(GoogleSettings(**{**em.config(), "activity_sources": [], **settings}), write=False)
    made.clock = lambda: NOW  # how far back the audit log answers is measured from here
    return made


def leavers(n: int, when: Callable[[int], datetime]) -> dict[str, Any]:
    """`n` users suspended by an admin, the k-th at `when(k)`, each with its SUSPEND_USER activity."""
    pairs = [suspended_user(f"9{k:05d}", f"left{k:05d}@{DOMAIN}", created=ago(900), suspended_at=when(k))
             for k in range(n)]
    return {"customer_id": CUSTOMER, "token": TOKEN, "users": [u for u, _ in pairs],
            "audit": {"activities": [a for _, a in pairs]}}


def departed(a: GoogleWorkspaceAdapter, since: datetime | None = SINCE) -> dict[str, Any]:
    if since is not None:
        a.want_departures(since)
    [scope] = a.scopes()
    return {i.login: i for i in a.list_identities(scope)}


def test_emails_are_the_aliases_each_once_without_the_primary_address(emu) -> None:
    found = departed(adapter(emu), since=None)
    assert found[f"ann@{DOMAIN}"].emails == (f"ann.smith@{DOMAIN}", "ann@example.test-alias.com")
    assert found[f"ben@{DOMAIN}"].emails == ()
    assert all(i.departure is None for i in found.values())  # not a people source: nothing more


def test_a_user_suspended_ten_days_ago_departed_then(emu) -> None:
    a = adapter(emu)
    found = departed(a)
    assert found[f"ben@{DOMAIN}"].departure == Departure("suspended", ago(10), note="SUSPEND_USER in the Admin "
                                                         "console's audit log")
    assert found[f"ann@{DOMAIN}"].departure is None
    assert a.scope_notes(CUSTOMER) == []


def test_an_archived_user_is_dated_by_its_archive_event(emu) -> None:
    dee = departed(adapter(emu))[f"dee@{DOMAIN}"].departure
    assert dee == Departure("archived", ago(20), note="ARCHIVE_USER in the Admin console's audit log")


def test_a_user_renamed_since_is_found_by_its_old_address_now_an_alias(clean_env) -> None:
    renamed = user("806", f"fay.new@{DOMAIN}", created=ago(900), suspended=True, aliases=[f"fay@{DOMAIN}"])
    em = emulator.start({"customer_id": CUSTOMER, "token": TOKEN, "users": [renamed],
                         "audit": {"activities": [admin_event(f"fay@{DOMAIN}", ago(8))]}})
    clean_env.setenv(ENV, TOKEN)
    try:
        fay = departed(adapter(em))[f"fay.new@{DOMAIN}"].departure
    finally:
        em.stop()
    assert fay is not None and fay.since == ago(8) and not fay.before


def test_a_user_suspended_before_the_window_is_bounded_by_it(emu) -> None:
    cid = departed(adapter(emu))[f"cid@{DOMAIN}"].departure
    assert cid is not None and cid.state == "suspended" and cid.before and cid.since == SINCE
    assert cid.since_text == f"since before {SINCE.date().isoformat()}"


def test_a_window_longer_than_the_logs_180_days_is_bounded_by_them(emu) -> None:
    emu.exchanges = []
    cid = departed(adapter(emu), since=ago(400))[f"cid@{DOMAIN}"].departure
    assert cid is not None and cid.before and cid.since == ago(180) and "keeps 180 days" in (cid.note or "")
    asked = {req.arg("startTime") for req, _ in emu.exchanges if req.path.startswith("/admin/reports/v1/activity/")}
    assert asked == {departures.rfc3339(ago(180))}  # no more than the API answers


def test_one_scan_per_customer_and_event_asked_as_the_api_documents(emu) -> None:
    emu.exchanges = []
    a = adapter(emu)
    departed(a)
    departed(a, since=None)  # a second listing reuses what was read
    scans = [req for req, _ in emu.exchanges if req.path.startswith("/admin/reports/v1/activity/")]
    assert [(r.path, r.arg("eventName"), r.arg("startTime"), r.arg("maxResults"), r.arg("customerId"))
            for r in scans] == [
        ("/admin/reports/v1/activity/users/all/applications/admin", "SUSPEND_USER", "2026-08-22T09:30:00.000Z",
         "1000", CUSTOMER),
        ("/admin/reports/v1/activity/users/all/applications/admin", "ARCHIVE_USER", "2026-08-22T09:30:00.000Z",
         "1000", CUSTOMER)]
    problems = [p for req, resp in emu.exchanges if req.path.startswith("/admin/reports/")
                for p in d.request_problems(d.document(d.REPORTS), req)
                + d.answer_problems(d.document(d.REPORTS), req, resp.status, resp.body)]
    assert problems == []


def test_nothing_more_is_read_unless_departures_are_wanted(emu) -> None:
    departed(adapter(emu), since=None)
    plain = emu.server.request_counts()
    assert emu.audit_requests == 0
    fresh = emulator.start(world())
    try:
        departed(adapter(fresh))
        wanted = fresh.server.request_counts()
    finally:
        fresh.stop()
    path = "GET /admin/reports/v1/activity/users/all/applications/admin"
    assert wanted == {**plain, path: 2}  # one scan per event; the users listing as before


def test_no_scan_when_no_user_is_suspended(clean_env) -> None:
    em = emulator.start({"customer_id": CUSTOMER, "token": TOKEN, "users": [
        user("801", f"ann@{DOMAIN}", created=ago(900), last_login=ago(1))], "audit": {"activities": []}})
    clean_env.setenv(ENV, TOKEN)
    try:
        departed(adapter(em))
        assert em.audit_requests == 0
    finally:
        em.stop()


def test_the_scan_follows_page_tokens(clean_env) -> None:
    em = emulator.start(leavers(2300, lambda n: ago(1 + n % 60)))
    clean_env.setenv(ENV, TOKEN)
    try:
        found = departed(adapter(em))
        assert em.audit_requests == 3  # 1,000 a page
    finally:
        em.stop()
    assert all(found[f"left{n:05d}@{DOMAIN}"].departure.since == ago(1 + n % 60) for n in range(2300))


def test_a_refused_audit_scope_leaves_the_dates_unknown_and_names_the_scope(clean_env) -> None:
    em = emulator.start(world(audit={"activities": [], "tokens": []}))  # the token lacks the audit scope
    clean_env.setenv(ENV, TOKEN)
    try:
        a = adapter(em)
        found = departed(a)
        notes = a.scope_notes(CUSTOMER)
    finally:
        em.stop()
    assert len(found) == 4  # the listing is whole
    for login in (f"ben@{DOMAIN}", f"cid@{DOMAIN}", f"dee@{DOMAIN}"):
        gone = found[login].departure
        assert gone is not None and gone.since is None and not gone.before
        assert SCOPE_AUDIT in (gone.note or "") and "403" in (gone.note or "")
    assert len(notes) == 2 and all(SCOPE_AUDIT in n and n.startswith("leavers:") for n in notes), notes
    assert TOKEN not in " ".join(notes)


def test_a_token_google_refuses_to_mint_names_the_scope() -> None:
    """Domain-wide delegation without the audit scope: Google refuses the token, the note says which."""
    settings = GoogleSettings(auth="service_account", credentials_file="reader.json",
                              admin_subject="reader@example.com")
    client = DirectoryClient(settings, write=False)
    err = auth_exceptions.RefreshError("unauthorized_client: Client is unauthorized to retrieve access tokens")
    failed = client.translate(err, "read the admin audit log (SUSPEND_USER)", needs=departures.needs(settings))
    assert SCOPE_AUDIT in failed.detail and "reader@example.com" in failed.detail


def test_a_looping_audit_log_leaves_the_dates_unknown_never_partly_read(clean_env) -> None:
    em = emulator.start(leavers(1500, lambda n: ago(2)))
    em.audit_faults = ListingFaults(repeat_token=True)
    clean_env.setenv(ENV, TOKEN)
    try:
        a = adapter(em)
        found = departed(a)
        notes = a.scope_notes(CUSTOMER)
    finally:
        em.stop()
    assert {i.departure.since for i in found.values()} == {None}
    assert any("same next-page link came back twice" in n for n in notes), notes


# -- deleted users --------------------------------------------------------------------------------------

def test_deleted_users_are_listed_with_their_deletion_time(emu) -> None:
    a = adapter(emu)
    [scope] = a.scopes()
    plain = departed(a, since=None)
    emu.server.reset_counts()
    [eve] = list(a.list_deleted(scope))
    assert f"eve@{DOMAIN}" not in plain
    assert (eve.id, eve.login, eve.enabled, eve.credentials) == ("805", f"eve@{DOMAIN}", False, ())
    assert eve.departure == Departure("deleted", ago(5), note="deletionTime of the deleted user")
    assert eve.emails == (f"eve.old@{DOMAIN}",) and eve.display_name == "eve User"
    assert emu.list_requests == 1 and emu.audit_requests == 0


# -- permissions and the scenario's shapes -----------------------------------------------------------------

def test_permissions_name_the_audit_scope_for_people_sources() -> None:
    for mode in ("plan", "apply"):
        text = GoogleWorkspaceAdapter.permissions(mode)
        assert SCOPE_AUDIT in text and "[people] sources" in text, mode
    assert "SUSPEND_USER" in GoogleWorkspaceAdapter.permissions("plan")


def test_the_scenario_activities_are_in_the_documented_shape() -> None:
    raw, event = suspended_user("1", f"x@{DOMAIN}", created=ago(10), suspended_at=ago(1))
    assert raw["suspended"] is True
    assert d.shape_problems(d.document(d.REPORTS), {"kind": "admin#reports#activities", "items": [event]},
                            {"$ref": "Activities"}) == []
    assert d.shape_problems(d.document(d.DIRECTORY), raw, {"$ref": "User"}) == []
