"""#26 for Google: `[[rules]]` that match on groups, through the CLI and the adapter against the
Directory emulator's members.list (paging, nested groups, 404 for unknown groups, 403 for a token
without the group scope)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from google.auth import exceptions as auth_exceptions
from typer.testing import CliRunner

from providers.emulator import Request
from providers.google_workspace import emulator, groups
from providers.google_workspace.adapter import GoogleWorkspaceAdapter
from providers.google_workspace.client import SCOPE_GROUPS, DirectoryClient
from providers.google_workspace.emulator import ListingFaults
from providers.google_workspace.scenario import user
from providers.google_workspace.settings import GoogleSettings
from sweeper.cli import app
from sweeper.errors import AuthError, DataError
from tests.providers.google_workspace import definitions as d

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
AS_OF = NOW.isoformat()
CUSTOMER = "C0groups1"
TOKEN = "ya29.groups-SECRET-token"
ENV = "SWEEPER_GOOGLE_TOKEN"
AUDITORS = "auditors@example.com"
RULE = """
[[rules]]
name = "auditors"
inactive_days = 30
[rules.match]
groups = ["auditors@example.com"]
"""


def person(n: int, name: str, days: int) -> dict[str, Any]:
    return user(f"{700 + n}", f"{name}@example.com", created=NOW - timedelta(days=900),
                last_login=NOW - timedelta(days=days))


def people() -> list[dict[str, Any]]:
    """Idle 40 days: two auditors (one directly, one through a nested group) and one who is not;
    an auditor in use 10 days ago; a non-member idle 200 days."""
    return [person(1, "direct", 40), person(2, "nested", 40), person(3, "other", 40), person(4, "busy", 10),
            person(5, "stale", 200)]


def world(population: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    group_list = [
        {"id": "03grpaudit", "email": AUDITORS, "aliases": ["audit@example.com"],
         "members": [{"email": "DIRECT@example.com"}, {"email": "busy@example.com", "role": "OWNER"},
                     {"email": "fieldwork@example.com"}]},
        {"id": "03grpfield", "email": "fieldwork@example.com", "members": [{"id": "702"}]},
        {"id": "03grpempty", "email": "empty@example.com", "members": []},
    ]
    return {"customer_id": CUSTOMER, "domain": "example.com", "token": TOKEN, "users": population or people(),
            "groups": group_list, **extra}


@pytest.fixture
def emu(clean_env: pytest.MonkeyPatch) -> Iterator[emulator.DirectoryEmulator]:
    em = emulator.start(world())
    clean_env.setenv(ENV, TOKEN)
    yield em
    em.stop()


def config(tmp_path: Path, em: emulator.DirectoryEmulator, rules: str = RULE, **google: Any) -> str:
    path = tmp_path / "sweeper.toml"
    google.setdefault("activity_sources", [])
    path.write_text("[policy]\ninactive_days = 90\nwarn_days = 14\nmax_disable = 1000\nmax_disable_percent = 100\n"
                    + em.config_toml(**google) + rules)
    return str(path)


def plan(tmp_path: Path, em: emulator.DirectoryEmulator, rules: str = RULE, *, ok: bool = True,
         **google: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """`sweeper plan -f json`: (the Google provider row, findings by login)."""
    run = CliRunner().invoke(app, ["plan", "-c", config(tmp_path, em, rules, **google), "--as-of", AS_OF, "-f", "json"])
    assert (run.exit_code == 0) is ok, run.output
    report = json.loads(run.stdout)
    [row] = report["providers"]
    return row, {f["identity"]: f for f in report["findings"]}


def adapter(em: emulator.DirectoryEmulator, **settings: Any) -> GoogleWorkspaceAdapter:
    return GoogleWorkspaceAdapter(GoogleSettings(**{**em.config(), "activity_sources": [], **settings}), write=False)


def listed(a: GoogleWorkspaceAdapter) -> dict[str, tuple[str, ...]]:
    [scope] = a.scopes()
    return {i.login: i.groups for i in a.list_identities(scope)}


# --- a rule for a group's members --------------------------------------------------------------------

def test_a_30_day_rule_applies_to_the_groups_direct_and_nested_members_only(emu, tmp_path) -> None:
    row, found = plan(tmp_path, emu)
    assert row["status"] == "ok", row
    assert f"{AUDITORS}: 3 member(s)" in row["message"]  # direct, busy, nested (the nested group is not a user)
    for login in ("direct@example.com", "nested@example.com"):
        assert found[login]["decision"] == "disable"
        assert found[login]["threshold_days"] == 30
        assert "under rule 'auditors'" in found[login]["reason"] and "30-day threshold" in found[login]["reason"]
    assert "other@example.com" not in found  # idle as long, not a member: the 90-day default
    assert "busy@example.com" not in found  # a member, in use
    assert found["stale@example.com"]["decision"] == "disable"
    assert "rule" not in found["stale@example.com"]["reason"] and found["stale@example.com"]["threshold_days"] == 90
    assert emu.member_requests == 1  # one group, one page: the nested group's members come with it


def test_identities_carry_the_groups_as_the_rules_name_them(emu) -> None:
    a = adapter(emu)
    a.want_groups([AUDITORS, "fieldwork@example.com", "03grpempty", "Audit@Example.com"])
    got = listed(a)
    assert got["direct@example.com"] == (AUDITORS, "Audit@Example.com")  # an alias names the same group
    assert got["nested@example.com"] == (AUDITORS, "fieldwork@example.com", "Audit@Example.com")
    assert got["other@example.com"] == () and got["stale@example.com"] == ()
    assert emu.member_requests == 4  # once per group: the alias is read as a group of its own
    [scope] = a.scopes()
    assert "03grpempty: 0 member(s); rules naming only it match nobody" in " ".join(a.scope_notes(scope))
    list(a.list_identities(scope))
    assert emu.member_requests == 4  # read once per run, not once per listing


def test_a_group_named_twice_in_other_cases_is_read_once(emu, tmp_path) -> None:
    rules = RULE + '\n[[rules]]\nname = "auditors again"\ninactive_days = 20\n[rules.match]\ngroups = ["AUDITORS@example.com"]\n'
    row, found = plan(tmp_path, emu, rules)
    assert row["status"] == "ok" and emu.member_requests == 1
    assert "under rule 'auditors'" in found["direct@example.com"]["reason"]  # the first rule that matches


def test_members_are_matched_by_id_else_by_email_whatever_its_case(clean_env) -> None:
    population = [person(i, f"user{i}", 40) for i in range(4)]
    members = [{"raw": {"kind": "admin#directory#member", "id": "700", "type": "USER"}},  # no email
               {"raw": {"kind": "admin#directory#member", "email": "USER1@EXAMPLE.COM", "type": "USER"}},  # no id
               {"raw": {"kind": "admin#directory#member", "id": "999", "email": "User2@example.com", "type": "USER"}}]
    scn = world(population)
    scn["groups"][0]["members"] = members
    em = emulator.start(scn)
    clean_env.setenv(ENV, TOKEN)
    try:
        a = adapter(em)
        a.want_groups([AUDITORS])
        got = listed(a)
        assert [login for login, g in sorted(got.items()) if g] == ["user0@example.com", "user1@example.com",
                                                                   "user2@example.com"]
        assert got["user3@example.com"] == ()
    finally:
        em.stop()


def test_a_customer_member_puts_every_user_in_the_group(clean_env) -> None:
    scn = world()
    scn["groups"][0]["members"] = [{"type": "CUSTOMER"}]
    em = emulator.start(scn)
    clean_env.setenv(ENV, TOKEN)
    try:
        a = adapter(em)
        a.want_groups([AUDITORS])
        assert set(listed(a).values()) == {(AUDITORS,)}
        [scope] = a.scopes()
        assert "every user of the customer" in " ".join(a.scope_notes(scope))
    finally:
        em.stop()


# --- paging and bounds ---------------------------------------------------------------------------------

def test_members_are_read_in_pages_of_200(clean_env, tmp_path) -> None:
    population = [person(i, f"member{i:04d}", 40) for i in range(450)] + [person(900, "outsider", 40)]
    scn = world(population)
    scn["groups"][0]["members"] = [{"id": u["id"]} for u in population[:450]]
    em = emulator.start(scn)
    clean_env.setenv(ENV, TOKEN)
    try:
        row, found = plan(tmp_path, em)
        assert row["status"] == "ok" and f"{AUDITORS}: 450 member(s)" in row["message"]
        assert em.member_requests == 3  # 200 + 200 + 50
        under = {login for login, f in found.items() if "under rule 'auditors'" in f["reason"]}
        assert len(under) == 450 and "outsider@example.com" not in found
    finally:
        em.stop()


def test_a_member_page_token_that_repeats_fails_the_scope(emu) -> None:
    emu.directory.groups.groups[0]["members"] += [{"email": f"guest{i}@else.test"} for i in range(400)]
    emu.member_faults = ListingFaults(repeat_token=True)
    a = adapter(emu)
    a.want_groups([AUDITORS])
    [scope] = a.scopes()
    with pytest.raises(DataError, match="same next-page link came back twice"):
        list(a.list_identities(scope))
    assert emu.member_requests == 2 and emu.list_requests == 1  # no user listed


# --- failures name the group, the rules and the scope --------------------------------------------------

def test_an_unknown_group_fails_the_scope_naming_it_and_the_rules(emu, tmp_path) -> None:
    rules = RULE.replace(AUDITORS, "auditers@example.com")
    row, found = plan(tmp_path, emu, rules, ok=False)
    assert row["status"] == "failed" and found == {}
    assert "read members of group auditers@example.com ([[rules]] match.groups)" in row["message"]
    assert "'auditers@example.com' does not exist (HTTP 404)" in row["message"]
    assert emu.list_requests == 1  # the binding probe only: no user was listed, nothing judged


def test_a_token_without_the_group_scope_fails_the_scope_naming_the_scope(clean_env, tmp_path) -> None:
    em = emulator.start(world(group_tokens=[]))
    clean_env.setenv(ENV, TOKEN)
    try:
        row, found = plan(tmp_path, em, ok=False)
        assert row["status"] == "failed" and found == {}
        assert "read members of group auditors@example.com ([[rules]] match.groups)" in row["message"]
        assert "HTTP 403" in row["message"] and SCOPE_GROUPS in row["message"]
        assert "Groups > Read" in row["message"]
        # the same token without rules that name groups: the sweep works as before
        row, _ = plan(tmp_path, em, rules="")
        assert row["status"] == "ok"
    finally:
        em.stop()


def test_a_refused_token_for_the_group_scope_names_it() -> None:
    """Domain-wide delegation without the group scope: Google refuses to mint the token."""
    settings = GoogleSettings(auth="service_account", credentials_file="reader.json", admin_subject="reader@example.com")
    client = DirectoryClient(settings, write=False)
    err = auth_exceptions.RefreshError("unauthorized_client: Client is unauthorized to retrieve access tokens")
    failed = client.translate(err, "read members of group auditors@example.com", needs=groups.needs(settings))
    assert isinstance(failed, AuthError)
    assert SCOPE_GROUPS in failed.detail and "domain-wide delegation" in failed.detail
    assert "reader@example.com" in failed.detail


def test_a_member_that_names_nobody_fails_the_scope(clean_env, tmp_path) -> None:
    scn = world()
    scn["groups"][0]["members"] = [{"email": "direct@example.com"}, {"raw": {"kind": "admin#directory#member",
                                                                            "type": "USER", "status": "ACTIVE"}}]
    em = emulator.start(scn)
    clean_env.setenv(ENV, TOKEN)
    try:
        row, found = plan(tmp_path, em, ok=False)
        assert row["status"] == "failed" and found == {}
        assert "names neither an id nor an email address" in row["message"]
    finally:
        em.stop()


# --- nothing changes for configs whose rules name no group ---------------------------------------------

@pytest.mark.parametrize("rules", ["", '\n[[rules]]\nname = "contractors"\ninactive_days = 30\n'
                                      '[rules.match]\nlogin = ["contractor-*"]\n'])
def test_no_members_request_when_no_rule_names_a_group(emu, tmp_path, rules) -> None:
    row, _ = plan(tmp_path, emu, rules)
    assert row["status"] == "ok" and "groups" not in (row["message"] or "")
    assert emu.member_requests == 0
    assert dict(emu.server.counts) == {"GET /admin/directory/v1/users": 2}  # the binding probe and one page
    a = adapter(emu)
    listed(a)
    assert a.client._groups is None  # no token of the group scope is ever minted


def test_permissions_and_docs_name_the_group_scope() -> None:
    for mode in ("plan", "apply"):
        text = GoogleWorkspaceAdapter.permissions(mode)
        assert SCOPE_GROUPS in text and "[[rules]] match on groups" in text and "Groups > Read" in text
    page = (Path(__file__).parents[3] / "docs" / "google_workspace.md").read_text()
    assert SCOPE_GROUPS in page and "match.groups" in page


# --- the emulator and the adapter keep to the discovery document ------------------------------------------

def test_members_list_answers_and_requests_are_in_the_documented_shapes(emu) -> None:
    emu.exchanges = []
    a = adapter(emu)
    a.want_groups([AUDITORS, "03grpempty"])
    listed(a)
    doc = d.document(d.DIRECTORY)
    member_calls = [(req, resp) for req, resp in emu.exchanges if "/groups/" in req.path]
    assert len(member_calls) == 2
    for req, resp in member_calls:
        found = d.find(doc, req.method, req.path)
        assert found and found[0]["id"] == "directory.members.list"
        assert d.request_problems(doc, req) == []
        assert d.answer_problems(doc, req, resp.status, resp.body) == []
        assert req.arg("includeDerivedMembership") == "true"
    full = Request("GET", f"/admin/directory/v1/groups/{AUDITORS}/members",
                   {"includeDerivedMembership": ["true"], "maxResults": ["2"]}, {}, b"")
    page = emu.directory.groups.serve(full, TOKEN)
    assert isinstance(page, dict) and page["nextPageToken"] and len(page["members"]) == 2
    assert d.shape_problems(doc, page, {"$ref": "Members"}) == []
    assert {m["type"] for m in page["members"]} <= {"USER", "GROUP"}


def test_the_page_size_is_the_documents_maximum(emu) -> None:
    limit = d.method(d.document(d.DIRECTORY), "directory.members.list")["parameters"]["maxResults"]
    assert groups.PAGE == 200 and "200" in limit["description"]
    too_many = Request("GET", f"/admin/directory/v1/groups/{AUDITORS}/members", {"maxResults": ["201"]}, {}, b"")
    answer = emu.directory.groups.serve(too_many, TOKEN)
    assert not isinstance(answer, dict) and answer.status == 400
