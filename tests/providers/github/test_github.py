"""The GitHub adapter over HTTP against the GitHub emulator, configured as a user would (endpoint and a
token from a SWEEPER_* variable, or a GitHub App's key)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from providers.emulator import Faults
from providers.github import emulator
from providers.github.adapter import GitHubAdapter
from providers.github.scenario import credential, event, seat
from providers.github.settings import GitHubSettings
from sweeper.errors import NotMeasured, ThrottledError
from sweeper.model import Action, Activity, CredentialKind, CredentialRef
from sweeper.testing.contract import AdapterContract, ContractSetup

NOW = datetime.now(timezone.utc)
TOKEN = "ghp_test-SECRET-token-do-not-leak"
ENV = "SWEEPER_TEST_GITHUB_TOKEN"
ORG = "acme"


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def scenario(n: int = 6, **org_extra: object) -> dict:
    """bot (owner, the token's user), boss (owner, stale), lead (protected team), old (event 150 days ago),
    quiet (no event), tokened (credential used 2 days ago), pilot (Copilot yesterday), fresh (joined 5 days
    ago), garbled (unreadable time), then n busy users; an outside collaborator."""
    names = ["bot", "boss", "lead", "old", "quiet", "tokened", "pilot", "fresh", "garbled", "outsider",
             *(f"user{i:03d}" for i in range(n))]
    uid = {login: 100 + k for k, login in enumerate(names)}
    users = [{"login": login, "id": n} for login, n in uid.items()]
    members = {login: "member" for login in names if login != "outsider"}
    members.update(bot="admin", boss="admin")
    log = [event("boss", uid["boss"], "repo.create", ago(days=170)),
           event("old", uid["old"], "git.clone", ago(days=150)),
           event("old", uid["old"], "repo.create", ago(days=160)),
           event("tokened", uid["tokened"], "repo.create", ago(days=170)),
           event("bot", uid["bot"], "org.add_member", ago(days=5), user="fresh"),
           event("garbled", uid["garbled"], "repo.create", ago(days=3)),
           *(event(f"user{i:03d}", uid[f"user{i:03d}"], "pull_request.merge", ago(hours=i + 1)) for i in range(n))]
    log[5]["@timestamp"] = "last tuesday"
    org = {"id": 77, "members": members, "outside_collaborators": ["outsider"], "audit_log": log,
           "teams": [{"id": 1, "slug": "admins", "members": {"lead": "maintainer"}},
                     {"id": 2, "slug": "backend", "members": {"old": "maintainer", "user000": "member"}},
                     {"id": 3, "slug": "payments", "parent": "backend", "members": {"quiet": "member"}}],
           "credential_authorizations": [credential("tokened", ago(days=2), ago(days=300))],
           "copilot_seats": [seat("pilot", uid["pilot"], ago(days=1), ago(days=300))], **org_extra}
    return {"token": TOKEN, "user": {"login": "bot", "id": uid["bot"]}, "users": users, "orgs": {ORG: org}}


class Sleeps(list):
    """Records waits and moves the emulator's clock instead of sleeping."""

    def __init__(self, em: emulator.GitHubEmulator) -> None:
        super().__init__()
        self.em = em

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.em.advance(seconds)


@pytest.fixture
def make(monkeypatch):
    monkeypatch.setenv(ENV, TOKEN)
    started: list[emulator.GitHubEmulator] = []

    def build(scn: dict | None = None, *, write: bool = True, **settings: object):
        em = started[-1] if scn is None and started else emulator.start(scn or scenario())
        if em not in started:
            started.append(em)
        opts = {**em.config(), "token_env": ENV, "protect_teams": ["admins"], **settings}
        adapter = GitHubAdapter(GitHubSettings(**opts), write=write)
        adapter.client.sleep = Sleeps(em)
        adapter.client.clock = em.now
        return em, adapter

    yield build
    for em in started:
        em.stop()


def listing(adapter: GitHubAdapter) -> dict:
    return {i.login: i for scope in adapter.scopes() for i in adapter.list_identities(scope)}


class TestContract(AdapterContract):
    @pytest.fixture
    def contract(self, make, monkeypatch) -> ContractSetup:
        em, adapter = make(scenario(230))

        def break_listing() -> None:  # the org, the audit log and page 1 of the owners answer, then it falls over
            em.server.set_faults(Faults(only=("/members",), fail_after=1, fail_status=502))

        def bad_auth() -> GitHubAdapter:
            monkeypatch.setenv("SWEEPER_TEST_BAD_TOKEN", "ghp_not-the-token")
            return make(None, token_env="SWEEPER_TEST_BAD_TOKEN")[1]

        return ContractSetup(adapter, 240, "user010", CredentialKind.ACCOUNT, break_listing, bad_auth,
                             read_only=lambda: make(None, write=False)[1], garbled_login="garbled")


def test_activity_from_the_audit_log_credentials_and_copilot(make) -> None:
    em, adapter = make()
    found = listing(adapter)
    old = found["old"].credentials[0]
    assert old.activity is Activity.SEEN and abs((old.last_used - ago(days=150)).total_seconds()) < 5
    assert "git.clone" in old.activity_note  # the newest event, a Git event
    tokened = found["tokened"].credentials[0]
    assert abs((tokened.last_used - ago(days=2)).total_seconds()) < 5
    assert "credential_accessed_at" in tokened.activity_note
    pilot = found["pilot"].credentials[0]
    assert abs((pilot.last_used - ago(days=1)).total_seconds()) < 5 and "Copilot" in pilot.activity_note
    assert found["garbled"].credentials[0].activity is Activity.UNKNOWN
    audit = [k for k in em.request_counts() if "audit-log" in k]
    assert em.request_counts()[audit[0]] == 1  # one scan of the window for the whole organisation


def test_a_member_with_no_signal_is_bounded_by_the_window_and_a_new_joiner_is_judged_by_joining(make) -> None:
    scn = scenario()  # the log holds an event from just before the window's start: it covers the whole window
    scn["orgs"][ORG]["audit_log"].append(event("user000", 110, "repo.create", ago(days=180, seconds=1)))
    _, adapter = make(scn, audit_log_days=180)
    found = listing(adapter)
    quiet = found["quiet"].credentials[0]
    assert quiet.activity is Activity.SEEN  # at most at the window's start: an upper bound, said so
    assert abs((quiet.last_used - ago(days=180)).total_seconds()) < 600
    assert "no audit-log event since" in quiet.activity_note and "start of the scanned window" in quiet.activity_note
    fresh = found["fresh"].credentials[0]
    assert fresh.created is not None and abs((fresh.created - ago(days=5)).total_seconds()) < 5
    assert fresh.last_used < fresh.created  # the core's rule 11 turns this into NEVER since joining, by age
    from sweeper.policy import since_creation
    assert since_creation(fresh).activity is Activity.NEVER


def test_the_bound_never_reaches_before_the_oldest_event_and_an_empty_log_tells_nothing(make) -> None:
    young = scenario()
    log = young["orgs"][ORG]["audit_log"]
    young["orgs"][ORG]["audit_log"] = [e for e in log if e["actor"] != "boss" and e["action"] != "repo.create"]
    _, adapter = make(young)  # the oldest event left: old's git.clone, 150 days ago
    quiet = listing(adapter)["quiet"].credentials[0]
    assert abs((quiet.last_used - ago(days=150)).total_seconds()) < 5 and "its oldest event" in quiet.activity_note
    empty = scenario()
    empty["orgs"][ORG]["audit_log"] = []
    _, adapter = make(empty)
    found = listing(adapter)
    assert found["quiet"].credentials[0].activity is Activity.UNKNOWN
    assert found["tokened"].credentials[0].activity is Activity.SEEN  # its own signal still counts


def test_owners_protected_teams_and_the_sweepers_own_user_are_protected(make) -> None:
    _, adapter = make()
    found = listing(adapter)
    assert found["boss"].protected_by == "organisation owner" and found["boss"].privileged
    assert found["lead"].protected_by == "member of protected team admins"
    assert found["bot"].protected_by == "organisation owner"
    assert found["old"].protected_by is None
    assert found["outsider"].kind.value == "guest" and found["outsider"].credentials[0].report_only
    ref = CredentialRef.of(found["boss"], found["boss"].credentials[0])
    [outcome] = adapter.apply(Action.DISABLE, [ref])
    assert not outcome.ok and "owner" in outcome.error  # refused live too


def test_an_organisation_without_audit_log_access_is_not_measured(make) -> None:
    _, adapter = make(scenario(audit_log=None, audit_log_status=403))
    with pytest.raises(NotMeasured, match="audit log of acme cannot be read.*never guessed"):
        listing(adapter)


def test_rate_limits_are_waited_out(make) -> None:
    em, adapter = make()
    em.secondary(2, retry_after=7)  # a secondary limit with retry-after: waited twice
    assert len(listing(adapter)) == 16
    assert adapter.client.sleep[:2] == [7, 7]
    em2, adapter2 = make(scenario(), retries=3, retry_max_wait=1800)
    em2.rate_window, em2._reset, em2.rate_limit = 1200, em2.now() + 1200, 6  # spent part-way: wait for the reset
    assert len(listing(adapter2)) == 16
    assert any(1150 < w < 1250 for w in adapter2.client.sleep)  # until the reset, 20 minutes away
    em3, adapter3 = make(scenario(), retry_max_wait=60)
    em3.rate_limit = em3._used + 1
    with pytest.raises(ThrottledError, match="retry_max_wait"):
        listing(adapter3)
    em4, adapter4 = make(scenario())
    em4.secondary(1)  # no retry-after: a minute
    adapter4.scopes()
    assert adapter4.client.sleep == [60]


def test_removal_records_role_and_teams_and_restore_reinvites_with_them(make) -> None:
    em, adapter = make()
    found = listing(adapter)
    ref = CredentialRef.of(found["quiet"], found["quiet"].credentials[0])
    [out] = adapter.apply(Action.DISABLE, [ref])
    assert out.ok and "payments (member)" in out.note and "three months" in out.note
    assert "backend" not in out.note.split("restore=")[1]  # inherited through the child team: not recorded
    assert "quiet" not in em.members(ORG) and adapter.refresh(ref).enabled is False
    adapter.journaled({ref.key: out.note})
    [back] = adapter.apply(Action.ENABLE, [ref])
    assert back.ok and "pending" in back.note and "payments (member)" in back.note
    assert em.pending(ORG) == {"quiet": "member"}
    fresh = adapter.refresh(ref)
    assert fresh.enabled and "pending until quiet accepts" in fresh.activity_note


def test_apply_then_restore_through_the_cli(make, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from sweeper.cli import app

    em, _ = make(scenario(ghes=True))
    em.state.ghes = True  # GitHub Enterprise Server: re-adding is immediate
    cfg = tmp_path / "sweeper.toml"
    section = em.config_toml(token_env=ENV, protect_teams=["admins"], max_disable_percent=50)
    cfg.write_text(f"[journal]\npath = \"{tmp_path / 'j.db'}\"\n\n" + section)
    runner = CliRunner()
    r = runner.invoke(app, ["apply", "-c", str(cfg), "--yes", "--new-journal", "-f", "json"])
    assert r.exit_code == 0, r.output
    assert "old" not in em.members(ORG) and "quiet" not in em.members(ORG) and "boss" in em.members(ORG)
    assert "old" not in em.team_members(ORG, "backend")
    run_id = __import__("json").loads(r.stdout)["run_id"]
    r = runner.invoke(app, ["restore", "-c", str(cfg), run_id, "--yes"])
    assert r.exit_code == 0, r.output
    assert em.members(ORG)["old"] == "member" and em.team_members(ORG, "backend")["old"] == "maintainer"
    assert em.team_members(ORG, "payments")["quiet"] == "member"


def test_github_app_installation_tokens(make, monkeypatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    monkeypatch.setenv("SWEEPER_TEST_APP_KEY", pem)
    scn = {**scenario(), "app": {"id": 4242, "slug": "sweeper", "public_key": public, "installations": {ORG: 99}}}
    em, adapter = make(scn, auth="app", app_id="4242", private_key_env="SWEEPER_TEST_APP_KEY")
    assert adapter.whoami().display == "GitHub App sweeper"
    found = listing(adapter)
    assert len(found) == 16
    assert em.request_counts()["POST /app/installations/99/access_tokens"] == 1  # one token, reused
    assert any("credential authorizations not read" in n for n in adapter.scope_notes(ORG))


def test_permissions_and_settings(make) -> None:
    plan, apply = GitHubAdapter.permissions("plan"), GitHubAdapter.permissions("apply")
    assert "Members: Read-only" in plan and "Read and write" not in plan and "Read and write" in apply
    with pytest.raises(ValueError):
        GitHubAdapter.permissions("org-member")
    with pytest.raises(ValueError, match="api/v3"):
        GitHubSettings(orgs=["acme"], endpoint="https://github.example.com", allow_custom_endpoint=True)
    assert GitHubSettings(orgs=["acme"], endpoint="https://github.example.com/api/v3",
                          allow_custom_endpoint=True).warnings()
    with pytest.raises(ValueError, match="SWEEPER_"):
        GitHubSettings(orgs=["acme"], token_env="GITHUB_TOKEN")
    with pytest.raises(ValueError, match="not a GitHub organisation"):
        GitHubSettings(orgs=["-bad-"])


def test_the_audit_log_is_one_paged_scan_following_the_after_cursor(make) -> None:
    em, adapter = make(scenario(250))
    found = listing(adapter)
    assert len(found) == 260
    counts = em.request_counts()
    assert counts["GET /orgs/acme/audit-log"] == 3  # 256 events, 100 a page, the `after` cursor followed
    assert found["user249"].credentials[0].activity is Activity.SEEN
    assert "pull_request.merge" in found["user249"].credentials[0].activity_note


def test_missing_credentials_are_named_not_a_traceback(make, monkeypatch) -> None:
    from sweeper.errors import AuthError

    em, _ = make()
    monkeypatch.delenv(ENV)
    with pytest.raises(AuthError, match=f"the variable {ENV} is not set"):
        GitHubAdapter(GitHubSettings(**{**em.config(), "token_env": ENV}), write=False)
    monkeypatch.setenv("SWEEPER_TEST_APP_KEY", "not a key")
    with pytest.raises(AuthError, match="holds no PEM private key"):
        GitHubAdapter(GitHubSettings(**{**em.config(), "auth": "app", "app_id": "1",
                                        "private_key_env": "SWEEPER_TEST_APP_KEY"}), write=False)


def test_a_protected_team_that_does_not_exist_fails_the_organisation(make) -> None:
    from sweeper.errors import ProviderError

    _, adapter = make(protect_teams=["no-such-team"])
    with pytest.raises(ProviderError, match="protect_teams names no-such-team"):
        listing(adapter)


def test_server_errors_and_dropped_connections_are_tried_again(make) -> None:
    em, adapter = make(scenario(120))
    em.faults = Faults(rate_503=0.2, rate_drop=0.1, seed=7)
    assert len(listing(adapter)) == 130
    assert em.server.injected["503"] + em.server.injected["drop"] > 0


def test_the_emulator_answers_in_githubs_shapes(make) -> None:
    import json
    import urllib.error
    import urllib.request

    em, _ = make(scenario(150))

    def get(path: str, token: str = TOKEN) -> tuple[int, dict, object]:
        req = urllib.request.Request(em.base_url + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers), json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), json.loads(err.read())

    status, headers, body = get("/orgs/acme/members?role=member&per_page=100")
    assert status == 200 and len(body) == 100 and set(body[0]) >= {"login", "id", "node_id", "type", "site_admin"}
    assert 'rel="next"' in headers["Link"] and "page=2" in headers["Link"] and 'rel="last"' in headers["Link"]
    assert int(headers["x-ratelimit-remaining"]) < int(headers["x-ratelimit-limit"])
    status, _, body = get("/orgs/acme/members", token="wrong")
    assert status == 401 and body["message"] == "Bad credentials" and "documentation_url" in body
    status, _, body = get("/orgs/acme/memberships/old")
    assert body["state"] == "active" and body["role"] == "member" and body["user"]["login"] == "old"
    status, _, body = get("/orgs/acme/copilot/billing/seats")
    assert body["total_seats"] == 1 and body["seats"][0]["assignee"]["login"] == "pilot"
    status, headers, body = get("/orgs/acme/audit-log?include=all&per_page=100&phrase=created:>=2000-01-01")
    assert status == 200 and "after=" in headers["Link"] and isinstance(body[0]["@timestamp"], int)
    stamps = [e["@timestamp"] for e in body if isinstance(e["@timestamp"], int)]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    status, _, body = get("/orgs/acme/audit-log?include=web&per_page=100&phrase=created:>=2000-01-01")
    assert all(not e["action"].startswith("git.") for e in body)
