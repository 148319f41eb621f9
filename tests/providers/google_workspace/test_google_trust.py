"""#18 for Google Workspace, through the CLI and the Directory emulator: credentials go only to the
configured endpoint (no redirect is followed), the customer is bound before anything is listed, the
plan side asks only for the read-only scope, and every listing is bounded."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs

import pytest
from typer.testing import CliRunner

from providers.emulator import toml_section
from providers.google_workspace import emulator
from providers.google_workspace.adapter import GoogleWorkspaceAdapter
from providers.google_workspace.client import SCOPE_READ, SCOPE_REPORTS, SCOPE_WRITE
from providers.google_workspace.emulator import ListingFaults
from providers.google_workspace.scenario import user
from providers.google_workspace.settings import GoogleSettings
from sweeper import planfile
from sweeper.cli import app
from sweeper.errors import DataError, ProviderError
from sweeper.model import Action, CredentialKind, CredentialRef

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
AS_OF = NOW.isoformat()
CUSTOMER = "C0trust01"
TOKEN = "ya29.trust-SECRET-token"
ENV = "SWEEPER_GOOGLE_TOKEN"


def scenario(n: int = 600) -> dict[str, Any]:
    """`n` users, all stale (so anything listed would be disabled): two pages at 600."""
    users = [user(f"{1000 + i}", f"stale{i:04d}@trust.test", created=NOW - timedelta(days=900),
                  last_login=NOW - timedelta(days=400)) for i in range(n)]
    return {"customer_id": CUSTOMER, "domain": "trust.test", "token": TOKEN, "users": users}


@pytest.fixture
def emu(clean_env: pytest.MonkeyPatch) -> Iterator[emulator.DirectoryEmulator]:
    em = emulator.start(scenario())
    clean_env.setenv(ENV, TOKEN)
    yield em
    em.stop()


def config(tmp_path: Path, em: emulator.DirectoryEmulator | None = None, **google: Any) -> str:
    section = em.config_toml(**google) if em else toml_section("providers.google_workspace", google)
    path = tmp_path / "sweeper.toml"
    path.write_text("[policy]\nmax_disable = 10000\nmax_disable_percent = 100\n"
                    f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n' + section)
    return str(path)


def sweeper(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def google_of(report: dict[str, Any]) -> dict[str, Any]:
    [found] = [p for p in report["providers"] if p["name"] == "google_workspace"]
    return found


class Recorder:
    """A loopback server that records every request it receives (the target of a hostile redirect)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                recorder.seen.append((self.command, self.path, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PUT = do_PATCH = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.close()


# --- 1. endpoints and token variables ---------------------------------------------------------------

@pytest.mark.parametrize("google, says", [
    ({"endpoint": "http://evil.example"}, "plain http is allowed only to a loopback address"),
    ({"endpoint": "https://evil.example"}, "set allow_custom_endpoint = true"),
    ({"token_env": "GITHUB_TOKEN"}, "must be named SWEEPER_*"),
])
def test_the_config_cannot_send_credentials_elsewhere(tmp_path, clean_env, google, says) -> None:
    key = next(iter(google))
    cfg = config(tmp_path, auth="access_token", **google)
    for command in (["plan", "-c", cfg], ["check", "-c", cfg]):
        run = sweeper(*command)
        assert run.exit_code == 2, run.output
        assert f"providers.google_workspace.{key}" in run.output or key in run.output
        assert says in " ".join(run.output.split()), run.output


def test_a_custom_https_endpoint_needs_the_flag_and_is_warned_about(tmp_path, clean_env) -> None:
    cfg = config(tmp_path, endpoint="https://directory.proxy.example", allow_custom_endpoint=True)
    run = sweeper("permissions", "-p", "google_workspace", "--for", "plan", "-c", cfg)  # reads the config, calls nobody
    assert run.exit_code == 0, run.output
    said = " ".join(run.stderr.split())
    assert "warning: providers.google_workspace: custom endpoint https://directory.proxy.example" in said
    assert "credentials are sent to directory.proxy.example" in said


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_refused_and_its_target_receives_nothing(emu, recorder, tmp_path, status) -> None:
    emu.listing_faults = ListingFaults(redirect=(status, recorder.url + "/admin/directory/v1/users?customer=x"))
    run = sweeper("apply", "-c", config(tmp_path, emu), "--yes", "-f", "json", "--as-of", AS_OF)
    assert run.exit_code == 4, run.output
    google = google_of(json.loads(run.stdout))
    assert google["status"] == "failed"
    assert f"refused a redirect (HTTP {status} to {recorder.url})" in google["message"]
    assert recorder.seen == []  # above all, no bearer token
    assert not emu.directory.writes


def test_a_redirected_batch_suspends_nothing_and_sends_nothing_elsewhere(emu, recorder) -> None:
    settings = GoogleSettings(**emu.config(), num_retries=1)
    adapter = GoogleWorkspaceAdapter(settings, write=True)
    [scope] = adapter.scopes()
    refs = [CredentialRef.of(i, i.credentials[0]) for i in list(adapter.list_identities(scope))[:3]]
    emu.listing_faults = ListingFaults(redirect=(307, recorder.url + "/batch"))
    emu.reset_counts()
    outcomes = adapter.apply(Action.DISABLE, refs)
    adapter.close()
    assert [o.ok for o in outcomes] == [False] * 3
    assert all("refused a redirect (HTTP 307" in (o.error or "") for o in outcomes), outcomes
    assert emu.request_counts() == {"POST /batch": 1}  # refused at once, not retried
    assert recorder.seen == [] and not emu.directory.writes


# --- 2. binding: the customer -------------------------------------------------------------------------

def test_a_configured_customer_that_is_not_the_credentials_stops_everything(emu, tmp_path) -> None:
    cfg = config(tmp_path, emu, customer="C0someoneelse")
    for command in ("plan", "apply"):
        run = sweeper(command, "-c", cfg, "--yes" if command == "apply" else "--exit-code", "--as-of", AS_OF)
        assert run.exit_code == 2, run.output
        text = " ".join(run.output.split())
        assert "the configured customer is C0someoneelse, but the credentials are for C0trust01" in text
        assert "Traceback" not in run.output
    check = sweeper("check", "-c", cfg)
    assert check.exit_code == 2 and "MISMATCH" in check.output, check.output
    assert "C0someoneelse" in check.output and CUSTOMER in check.output
    assert sum(emu.list_pages.values()) == 0 and not emu.directory.writes  # only the one-user probes


def test_the_customer_is_my_customer_or_an_id(tmp_path, clean_env) -> None:
    run = sweeper("plan", "-c", config(tmp_path, auth="access_token", customer="C0x&fields=users"))
    assert run.exit_code == 2 and "providers.google_workspace.customer" in " ".join(run.stderr.split()), run.output
    assert GoogleSettings(customer="C03az79cb").customer == "C03az79cb"


def test_my_customer_is_resolved_shown_recorded_and_pinned(emu, tmp_path) -> None:
    cfg = config(tmp_path, emu)  # customer = "my_customer"
    check = sweeper("check", "-c", cfg)
    assert check.exit_code == 0, check.output
    assert f"the credentials belong to {CUSTOMER} (resolved from my_customer)" in " ".join(check.output.split())
    run = sweeper("apply", "-c", cfg, "--yes", "-f", "json", "--as-of", AS_OF)
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    assert google_of(report)["scope"] == CUSTOMER and report["summary"]["disabled"] == 600
    assert {f["scope"] for f in report["findings"]} == {CUSTOMER}
    assert set(emu.list_pages) == {CUSTOMER}  # every page asked for the resolved id, never my_customer
    history = json.loads(sweeper("history", "-c", cfg, "--run", report["run_id"], "-f", "json").stdout)
    assert {a["scope"] for a in history["actions"]} == {CUSTOMER}


def test_a_configured_customer_that_matches_is_swept(emu, tmp_path) -> None:
    run = sweeper("plan", "-c", config(tmp_path, emu, customer=CUSTOMER), "-f", "json", "--as-of", AS_OF)
    assert run.exit_code == 0, run.output
    google = google_of(json.loads(run.stdout))
    assert {k: google[k] for k in ("name", "scope", "status", "identities", "credentials", "instance")} == {
        "name": "google_workspace", "scope": CUSTOMER, "status": "ok", "identities": 600, "credentials": 600,
        "instance": "default"}


def test_a_user_of_another_customer_in_a_page_fails_the_listing(emu, tmp_path) -> None:
    emu.listing_faults = ListingFaults(foreign_customer="C0intruder")
    run = sweeper("apply", "-c", config(tmp_path, emu), "--yes", "-f", "json", "--as-of", AS_OF)
    assert run.exit_code == 4, run.output
    google = google_of(json.loads(run.stdout))
    assert google["status"] == "failed" and google["scope"] == CUSTOMER
    assert "belongs to customer 'C0intruder', not C0trust01" in google["message"]
    assert not emu.directory.writes


def test_runs_recorded_as_my_customer_still_restore(emu) -> None:
    """Journals written before the binding hold scope "my_customer": refresh and re-enable still work;
    a ref whose recorded customer differs from the user's now is refused."""
    adapter = GoogleWorkspaceAdapter(GoogleSettings(**emu.config()), write=True)
    emu.directory.find("1000").update(suspended=True)
    old = CredentialRef("google_workspace", "my_customer", "1000", "stale0000@trust.test", CredentialKind.ACCOUNT,
                        "1000")
    assert adapter.refresh(old).enabled is False
    [done] = adapter.apply(Action.ENABLE, [old])
    assert done.ok and emu.user("1000")["suspended"] is False
    other = CredentialRef("google_workspace", "C0elsewhere", "1000", "stale0000@trust.test", CredentialKind.ACCOUNT,
                          "1000")
    with pytest.raises(DataError, match="belongs to customer 'C0trust01', not C0elsewhere"):
        adapter.refresh(other)
    adapter.close()


def test_a_plan_made_before_the_binding_no_longer_matches(emu, tmp_path) -> None:
    """A plan whose targets say "my_customer" (as before the binding) disables nothing: fail closed."""
    cfg = config(tmp_path, emu)
    plan_path = tmp_path / "plan.json"
    made = sweeper("plan", "-c", cfg, "--plan-out", str(plan_path), "--as-of", AS_OF)
    assert made.exit_code == 0, made.output
    plan = json.loads(plan_path.read_text())
    assert plan["targets"] and {t["scope"] for t in plan["targets"]} == {CUSTOMER}
    body = {k: v for k, v in plan.items() if k != "digest"}
    body["targets"] = [{**t, "scope": "my_customer"} for t in plan["targets"]]
    plan_path.write_text(json.dumps({**body, "digest": planfile._digest(body)}))
    run = sweeper("apply", "-c", cfg, str(plan_path), "--yes", "-f", "json", "--as-of", AS_OF)
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["summary"]["disabled"] == 0 and not emu.directory.writes


# --- 3. least privilege by mode ------------------------------------------------------------------------

class TokenServer:
    """A loopback OAuth token endpoint: records the claims of each JWT assertion, answers `token`
    valid for `expires_in` seconds, or, once `redirect_to` is set, a 308 redirect there. A scope in
    `refused` is answered as Google does when domain-wide delegation does not grant it."""

    def __init__(self, token: str, expires_in: int = 3600) -> None:
        self.claims: list[dict[str, Any]] = []
        self.redirect_to: str | None = None
        self.refused: set[str] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                payload = form["assertion"][0].split(".")[1]
                outer.claims.append(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
                if outer.redirect_to:
                    self.send_response(308)
                    self.send_header("Location", outer.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, answer = 200, {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}
                if outer.claims[-1]["scope"] in outer.refused:
                    status, answer = 401, {"error": "unauthorized_client", "error_description": "Client is "
                                           "unauthorized to retrieve access tokens using this method, or client "
                                           "not authorized for any of the scopes requested."}
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def key_file(tmp_path: Path, token_uri: str) -> Path:
    """A service account key (a fresh RSA key) whose token endpoint is `token_uri`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "service_account", "client_email": "sweeper@proj.iam.gserviceaccount.com",
                               "private_key": pem, "private_key_id": "k1", "client_id": "1", "token_uri": token_uri}))
    return key


@pytest.mark.parametrize("sources", [None, []], ids=["reports", "no-reports"])
def test_plan_mints_only_the_read_only_scope_and_apply_the_write_scope(emu, tmp_path, sources) -> None:
    """Each token carries one scope: the Directory's (read-only for plan and check, write for apply)
    and, only while activity_sources asks for usage reports, a token of the reports scope alone."""
    tokens = TokenServer(TOKEN)
    key = key_file(tmp_path, tokens.url)
    extra = {} if sources is None else {"activity_sources": sources}
    cfg = config(tmp_path, emu, auth="service_account", credentials_file=str(key), admin_subject="admin@trust.test",
                 **extra)
    reports = {SCOPE_REPORTS} if sources is None else set()
    try:
        for command in (["check", "-c", cfg], ["plan", "-c", cfg, "--as-of", AS_OF]):
            run = sweeper(*command)
            assert run.exit_code == 0, run.output
        assert tokens.claims and {c["scope"] for c in tokens.claims} == {SCOPE_READ} | reports
        assert {c["sub"] for c in tokens.claims} == {"admin@trust.test"}
        tokens.claims.clear()
        run = sweeper("apply", "-c", cfg, "--yes", "--as-of", AS_OF)
        assert run.exit_code == 0, run.output
        assert tokens.claims and {c["scope"] for c in tokens.claims} == {SCOPE_WRITE} | reports
    finally:
        tokens.close()


def test_a_delegation_without_the_reports_scope_falls_back_to_last_login_time(emu, tmp_path) -> None:
    """Domain-wide delegation that grants the Directory scope but not the reports one: the reports
    token is refused, the Directory one is not (each is minted alone); the sweep says so and judges
    by lastLoginTime."""
    tokens = TokenServer(TOKEN)
    tokens.refused = {SCOPE_REPORTS}
    cfg = config(tmp_path, emu, auth="service_account", credentials_file=str(key_file(tmp_path, tokens.url)),
                 admin_subject="admin@trust.test")
    try:
        run = sweeper("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json")
    finally:
        tokens.close()
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    row = google_of(report)
    assert row["status"] == "ok" and "usage reports not readable (RefreshError" in row["message"]
    assert "unauthorized_client" in row["message"] and "activity is lastLoginTime alone" in row["message"]
    assert report["summary"]["disable"] == 600  # every user idle by lastLoginTime, as before the reports
    assert {c["scope"] for c in tokens.claims} == {SCOPE_READ, SCOPE_REPORTS}


def test_a_token_fetched_for_a_batch_goes_through_the_guarded_transport(emu, recorder, tmp_path) -> None:
    """googleapiclient would fetch an expired token for a batch through a plain httplib2.Http, which
    follows a 308 with the signed assertion; the adapter fetches it itself, through its own transport."""
    tokens = TokenServer(TOKEN, expires_in=1)  # expired at once for google-auth: fetched before each call
    settings = GoogleSettings(**{**emu.config(), "auth": "service_account",
                                 "credentials_file": str(key_file(tmp_path, tokens.url))})
    adapter = GoogleWorkspaceAdapter(settings, write=True)
    try:
        [scope] = adapter.scopes()
        refs = [CredentialRef.of(i, i.credentials[0]) for i in list(adapter.list_identities(scope))[:2]]
        tokens.redirect_to = recorder.url + "/token"
        outcomes = adapter.apply(Action.DISABLE, refs)
    finally:
        adapter.close()
        tokens.close()
    assert [o.ok for o in outcomes] == [False, False]
    assert all("refused a redirect (HTTP 308" in (o.error or "") for o in outcomes), outcomes
    assert recorder.seen == [] and not emu.directory.writes


def test_permissions_by_mode(tmp_path, clean_env) -> None:
    plan = sweeper("permissions", "-p", "google_workspace", "--for", "plan")
    apply = sweeper("permissions", "-p", "google_workspace", "--for", "apply")
    assert plan.exit_code == apply.exit_code == 0
    write_scope = SCOPE_WRITE + "\n"  # the write scope ends a line; the read-only one continues with ".readonly"
    assert SCOPE_READ in plan.stdout and write_scope not in plan.stdout
    assert "the only ones the plan job mints" in plan.stdout and "Users > Read only" in plan.stdout
    assert write_scope in apply.stdout and "protected environment" in apply.stdout
    for text in (plan.stdout, apply.stdout):  # the usage report's scope, read only, in both jobs by default
        assert f"{SCOPE_REPORTS}\n" in text and "Admin console privileges > Reports" in text
    assert "environment:<environment>" in apply.stdout and "Users > Update" in apply.stdout
    member = sweeper("permissions", "-p", "google_workspace", "--for", "org-member")
    assert member.exit_code == 2 and "no 'org-member' permissions" in member.output
    with pytest.raises(ValueError):
        GoogleWorkspaceAdapter.permissions("org-member")
    cfg = config(tmp_path, auth="access_token", token_env="SWEEPER_GOOGLE_READER", admin_subject="reader@x.test")
    shaped = sweeper("permissions", "-p", "google_workspace", "--for", "plan", "-c", cfg)
    assert "$SWEEPER_GOOGLE_READER" in shaped.stdout and "access_token_subject: reader@x.test" in shaped.stdout
    assert f"access_token_scopes: {SCOPE_READ},{SCOPE_REPORTS}\n" in shaped.stdout
    cfg = config(tmp_path, auth="access_token", activity_sources=[])
    for mode in ("plan", "apply"):
        bare = sweeper("permissions", "-p", "google_workspace", "--for", mode, "-c", cfg)
        assert bare.exit_code == 0 and SCOPE_REPORTS not in bare.stdout and "Reports" not in bare.stdout


# --- 4. bounded listings ---------------------------------------------------------------------------------

BOUNDS = [
    pytest.param(ListingFaults(repeat_token=True), {}, "the same next-page link came back twice", id="repeat-token"),
    pytest.param(ListingFaults(drip_seconds=0.2), {"timeout_seconds": 1, "num_retries": 0},
                 "an answer was still arriving timeout_seconds = 1 after its request began", id="drip"),
    pytest.param(ListingFaults(drip_seconds=0.2), {"timeout_seconds": 60, "listing_deadline_seconds": 1},
                 "the listing did not finish within listing_deadline_seconds = 1", id="listing-deadline"),
    pytest.param(ListingFaults(oversize_bytes=3 * 1024 * 1024), {"max_response_mb": 1},
                 "an answer was larger than max_response_mb = 1", id="oversize"),
    pytest.param(ListingFaults(duplicate_ids=True), {}, "gave identity id '1000' twice", id="duplicate-ids"),
]


@pytest.mark.parametrize("faults, google, says", BOUNDS)
def test_a_hostile_listing_fails_its_scope_and_disables_nothing(emu, tmp_path, faults, google, says) -> None:
    emu.listing_faults = faults
    started = time.monotonic()
    run = sweeper("apply", "-c", config(tmp_path, emu, **google), "--yes", "-f", "json", "--as-of", AS_OF)
    assert time.monotonic() - started < 15
    assert run.exit_code == 4, run.output
    report = json.loads(run.stdout)
    found = google_of(report)
    assert found["status"] == "failed" and says in found["message"], found
    assert report["summary"]["disabled"] == 0 and not emu.directory.writes
    assert TOKEN not in run.output


def test_each_request_has_one_deadline_however_slowly_it_drips(emu) -> None:
    """httplib2's timeout is per read: a byte every 0.2 s never trips a 1 s timeout, the deadline does."""
    emu.listing_faults = ListingFaults(drip_seconds=0.2)
    adapter = GoogleWorkspaceAdapter(GoogleSettings(**emu.config(), timeout_seconds=1, num_retries=1), write=False)
    adapter.client.sleep = lambda seconds: None
    [scope] = adapter.scopes()
    started = time.monotonic()
    with pytest.raises(ProviderError, match="still arriving timeout_seconds = 1"):
        list(adapter.list_identities(scope))
    assert 1.8 < time.monotonic() - started < 6  # two tries of one second each
    assert sum(emu.list_pages.values()) == 2
    adapter.close()
