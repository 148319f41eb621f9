"""#12: notices before disabling and exceptions that expire, through a real SMTP server (aiosmtpd)
and local HTTP receivers for a Slack-style (Mattermost) and a JSON webhook, over the fake provider."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.journal import Journal
from tests.fakes import FakeCloud, FakeUser

aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is not installed (python3 dev.py test installs it)")
pytest.importorskip("apprise", reason="apprise is not installed")

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
SMTP_PASSWORD = "smtp-Pa55word-do-not-leak"
HOOK_TOKEN = "mmtoken0123456789abcdef"
runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """An SMTP server on 127.0.0.1 that requires a login and keeps every message it accepts."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.logins: list[tuple[str, str]] = []
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                box.messages.append((list(envelope.rcpt_tos),
                                     email.message_from_bytes(envelope.content, policy=email.policy.default)))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            box.logins.append((auth_data.login.decode(), auth_data.password.decode()))
            return AuthResult(success=auth_data.password.decode() == SMTP_PASSWORD)

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticator,
                                     auth_require_tls=False, auth_exclude_mechanism=["LOGIN"])
        self.controller.start()

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt]

    def stop(self) -> None:
        self.controller.stop()


class Hooks:
    """An HTTP server on 127.0.0.1 receiving webhook POSTs; `status` is what it answers."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.status = 200
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    hooks.posts.append((self.path, json.loads(body or b"{}")))
                except ValueError:
                    hooks.posts.append((self.path, {"raw": body.decode(errors="replace")}))
                self.send_response(hooks.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.stop()


@pytest.fixture
def hooks():
    h = Hooks()
    yield h
    h.stop()


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("SWEEPER_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("SWEEPER_HOOK_TOKEN", HOOK_TOKEN)


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def day(n: int) -> str:
    return (NOW + timedelta(days=n)).date().isoformat()


def seed(cloud: FakeCloud) -> None:
    for n in range(20):
        cloud.add(FakeUser(f"user{n}@example.com", ago(n % 30), ago(900)))
    cloud.add(FakeUser("stale@example.com", ago(200), ago(900)))
    cloud.add(FakeUser("warned@example.com", ago(80), ago(900)))
    cloud.add(FakeUser("keys@example.com", ago(85), ago(900), keys=1))
    cloud.add(FakeUser("svc-batch", ago(300), ago(900)))  # no address: nobody to notify
    cloud.add(FakeUser("contractor@example.com", ago(300), ago(900), owner="manager@example.com"))


def write_config(tmp_path: Path, mailbox: Mailbox | None, hooks: Hooks | None, extra: str = "",
                 smtp_port: int | None = None) -> Path:
    lines = ['[policy]', 'max_disable_percent = 100', '[providers.fake]', 'cloud = "default"', '[notify]']
    if mailbox is not None or smtp_port:
        port = smtp_port or mailbox.port
        lines.append(f'owner_url = "mailto://sweeper:{{env:SWEEPER_SMTP_PASSWORD}}@127.0.0.1:{port}'
                     '?from=sweeper@example.com&mode=insecure"')
    if hooks is not None:
        lines.append(f'channels = ["mmost://127.0.0.1:{hooks.port}/{{env:SWEEPER_HOOK_TOKEN}}", '
                     f'"json://127.0.0.1:{hooks.port}/digest"]')
    lines.append('report_url = "https://ci.example.com/runs/{run_id}"')
    path = tmp_path / "sweeper.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_owners_and_channels_get_exactly_what_concerns_them(tmp_path, cloud, mailbox, hooks, env):
    seed(cloud)
    cfg = write_config(tmp_path, mailbox, hooks)
    r = run("notify", "-c", cfg, "--as-of", day(0), "-f", "json")
    assert r.exit_code == 0, r.output
    recipients = sorted(a for rcpt, _ in mailbox.messages for a in rcpt)
    assert recipients == ["keys@example.com", "manager@example.com", "stale@example.com", "warned@example.com"]
    assert mailbox.logins and all(pw == SMTP_PASSWORD for _, pw in mailbox.logins)
    stale = mailbox.to("stale@example.com")[0]
    text = stale.get_body(("plain", "html")).get_content()
    assert "about to be disabled" in stale["Subject"]
    assert "stale@example.com" in text and "last used 2026-05-05" in text and "90 days" in text
    assert day(0) in text  # disabled on or after today: no notice period is required
    warned = mailbox.to("warned@example.com")[0].get_body(("plain", "html")).get_content()
    assert "will be disabled" in mailbox.to("warned@example.com")[0]["Subject"]
    assert "last used 2026-09-02" in warned and "2026-12-01" in warned  # the day it reaches 90 days
    keys = mailbox.to("keys@example.com")[0].get_body(("plain", "html")).get_content()
    assert "keys@example.com#k1" in keys and "account" in keys  # one notice lists both credentials
    assert not mailbox.to("user1@example.com")
    # the channels: one digest each, Slack-style text and JSON, counts and what is coming
    paths = sorted(p for p, _ in hooks.posts)
    assert paths == ["/digest", f"/hooks/{HOOK_TOKEN}"]
    for path, body in hooks.posts:
        said = body.get("text") or body.get("message") or ""
        assert "fake fake-tenant: ok, 25 identities, 3 to disable, 3 in the warn window" in said, said
        assert "stale@example.com" in said and "svc-batch" in said  # coming up; and no owner to notify
        assert "No owner to notify (1): fake svc-batch" in said
        assert "https://ci.example.com/runs/" in said
    assert "no owner to notify" in r.stderr and "svc-batch" in r.stderr
    notices = json.loads(r.stdout)["notices"]
    assert {n["to"] for n in notices if n["result"] == "sent" and n["stage"] != "digest"} == {
        "keys@example.com", "manager@example.com", "stale@example.com", "warned@example.com"}


def test_no_notice_twice_and_a_new_one_after_reentering_the_window(tmp_path, cloud, mailbox, hooks, env):
    seed(cloud)
    cfg = write_config(tmp_path, mailbox, hooks)
    assert run("notify", "-c", cfg, "--as-of", day(0)).exit_code == 0
    first = len(mailbox.messages)
    r = run("notify", "-c", cfg, "--as-of", day(1))
    assert r.exit_code == 0, r.output
    assert len(mailbox.messages) == first, "a second run sent owner notices again"
    assert len(hooks.posts) == 4  # a digest per channel per run
    # warned@ reaches its threshold: the final notice is a new stage, sent once
    r = run("notify", "-c", cfg, "--as-of", day(12))
    finals = [m for m in mailbox.to("warned@example.com") if "about to be disabled" in m["Subject"]]
    assert len(finals) == 1, [m["Subject"] for m in mailbox.to("warned@example.com")]
    # stale@ signs in (leaves the window) and then goes quiet again: it hears again
    cloud.users["stale@example.com"].last_used = NOW + timedelta(days=12)
    assert run("notify", "-c", cfg, "--as-of", day(13)).exit_code == 0
    assert len(mailbox.to("stale@example.com")) == 1
    assert run("notify", "-c", cfg, "--as-of", day(95)).exit_code == 0  # 83 days after that sign-in: warn window
    again = mailbox.to("stale@example.com")
    assert len(again) == 2 and "will be disabled" in again[1]["Subject"]
    stages = [n["stage"] for n in Journal(tmp_path / "sweeper.db").notices(("fake", "fake-tenant", "stale@example.com",
                                                                             "account", "stale@example.com"),
                                                                            since_cleared=False)]
    assert stages == ["final", "cleared", "warn"]


def test_failed_deliveries_are_reported_and_retried_and_the_sweep_completes(tmp_path, cloud, hooks, env):
    seed(cloud)
    dead = free_port()  # nothing listens there
    cfg = write_config(tmp_path, None, hooks, smtp_port=dead)
    hooks.status = 500
    r = run("notify", "-c", cfg, "--as-of", day(0), "-f", "json")
    assert r.exit_code == 4, r.output  # every channel failed
    rep = json.loads(r.stdout)
    assert rep["providers"][0]["status"] == "ok"  # the sweep itself completed
    failed = [n for n in rep["notices"] if n["stage"] in ("warn", "final") and n["result"] != "sent"]
    assert {n["to"] for n in failed} == {"keys@example.com", "manager@example.com", "stale@example.com",
                                         "warned@example.com"}
    stale = next(f for f in rep["findings"] if f["identity"] == "stale@example.com")
    assert "owner notice failed" in stale["reason"]
    # the next run, with both back, delivers what failed
    box = Mailbox.__new__(Mailbox)
    Mailbox.__init__(box)
    try:
        cfg = write_config(tmp_path, box, hooks)
        hooks.status = 200
        r = run("notify", "-c", cfg, "--as-of", day(1))
        assert r.exit_code == 0, r.output
        assert sorted(a for rcpt, _ in box.messages for a in rcpt) == [
            "keys@example.com", "manager@example.com", "stale@example.com", "warned@example.com"]
    finally:
        box.stop()


def test_one_dead_channel_is_reported_but_not_a_failed_run(tmp_path, cloud, mailbox, hooks, env):
    seed(cloud)
    cfg = write_config(tmp_path, mailbox, hooks)
    text = cfg.read_text().replace(f'"json://127.0.0.1:{hooks.port}/digest"', f'"json://127.0.0.1:{free_port()}/x"')
    cfg.write_text(text)
    r = run("notify", "-c", cfg, "--as-of", day(0), "-f", "json")
    assert r.exit_code == 0, r.output
    digests = [n for n in json.loads(r.stdout)["notices"] if n["stage"] == "digest"]
    assert sorted(n["result"] == "sent" for n in digests) == [False, True]


def test_secrets_in_notification_urls_never_show(tmp_path, cloud, mailbox, hooks, env):
    seed(cloud)
    cfg = write_config(tmp_path, mailbox, hooks)
    hooks.status = 500
    outputs = []
    for argv in (["notify", "-c", cfg, "--as-of", day(0), "-f", "json", "-o", tmp_path / "n.json",
                  "-o", tmp_path / "n.md"],
                 ["notify", "-c", cfg, "--as-of", day(1)], ["history", "-c", cfg]):
        r = run(*argv)
        outputs.append(r.stdout + r.stderr)
    seen = "\n".join(outputs) + (tmp_path / "n.json").read_text() + (tmp_path / "n.md").read_text()
    journal = (tmp_path / "sweeper.db").read_bytes()
    for secret in (SMTP_PASSWORD, HOOK_TOKEN):
        assert secret not in seen
        assert secret.encode() not in journal
    assert "mmost://127.0.0.1" in json.loads((tmp_path / "n.json").read_text())["notices"][-2]["to"] or \
        any("mmost://" in (n["to"] or "") for n in json.loads((tmp_path / "n.json").read_text())["notices"])


def test_a_secret_variable_must_be_a_sweeper_one(tmp_path, cloud, mailbox, monkeypatch):
    seed(cloud)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_should_never_be_sent")
    cfg = write_config(tmp_path, mailbox, None)
    cfg.write_text(cfg.read_text().replace("{env:SWEEPER_SMTP_PASSWORD}", "{env:GITHUB_TOKEN}"))
    r = run("notify", "-c", cfg, "--as-of", day(0), "-f", "json")
    assert "SWEEPER_" in r.output and "ghs_should_never_be_sent" not in r.output
    assert not mailbox.messages and not any(pw == "ghs_should_never_be_sent" for _, pw in mailbox.logins)


def test_required_notice_days_gates_apply_across_days(tmp_path, cloud, mailbox, env):
    seed(cloud)
    cfg = write_config(tmp_path, mailbox, None, extra="")
    cfg.write_text(cfg.read_text().replace("[notify]\n", "[notify]\nrequired_notice_days = 7\n"))

    def apply(n: int) -> dict:
        r = run("apply", "-c", cfg, "--as-of", day(n), "--yes", "-f", "json")
        assert r.exit_code == 0, r.output
        return {f["identity"]: f for f in json.loads(r.stdout)["findings"]}

    before = apply(0)  # nobody was told yet: nothing is disabled
    assert before["stale@example.com"]["decision"] == "warn"
    assert "no notice delivered yet (required_notice_days = 7)" in before["stale@example.com"]["reason"]
    assert cloud.calls == []
    assert run("notify", "-c", cfg, "--as-of", day(0)).exit_code == 0
    stale_text = mailbox.to("stale@example.com")[0].get_body(("plain", "html")).get_content()
    assert day(7) in stale_text  # the notice names the day it will happen
    mid = apply(3)
    assert f"notice sent {day(0)}, disabled on or after {day(7)}" in mid["stale@example.com"]["reason"]
    assert cloud.calls == []
    after = apply(7)
    assert after["stale@example.com"]["action"] == "disabled"
    assert after["svc-batch"]["decision"] == "warn"  # nobody could be told: kept, and said so
    assert ("disable", "stale@example.com") in cloud.calls and ("disable", "svc-batch") not in cloud.calls


def exceptions_toml(expires: str, owner: str = "owner@example.com") -> str:
    return (f'[[exceptions]]\nmatch = "stale@*"\nreason = "quarterly batch job"\nticket = "SEC-42"\n'
            f'owner = "{owner}"\nexpires = {expires}\n')


def test_an_exception_applies_until_it_expires_and_reminds_its_owner(tmp_path, cloud, mailbox, env):
    seed(cloud)
    cfg = write_config(tmp_path, mailbox, None, extra=exceptions_toml(day(10)))

    def plan(n: int) -> dict:
        r = run("plan", "-c", cfg, "--as-of", day(n), "-f", "json")
        assert r.exit_code == 0, r.output
        return {f["identity"]: f for f in json.loads(r.stdout)["findings"]}

    kept = plan(0)["stale@example.com"]
    assert kept["decision"] == "excluded"
    assert f"exception until {day(10)} (quarterly batch job; ticket SEC-42)" in kept["reason"]
    assert plan(10)["stale@example.com"]["decision"] == "excluded"  # through its last day
    ended = plan(11)["stale@example.com"]
    assert ended["decision"] == "disable" and f"exception expired on {day(10)} (quarterly batch job; ticket SEC-42)" \
        in ended["reason"]
    # the owner is reminded once, inside the reminder window (14 days by default)
    assert run("notify", "-c", cfg, "--as-of", day(0)).exit_code == 0
    assert run("notify", "-c", cfg, "--as-of", day(1)).exit_code == 0
    reminders = mailbox.to("owner@example.com")
    assert len(reminders) == 1 and day(10) in reminders[0]["Subject"]
    assert "SEC-42" in reminders[0].get_body(("plain",)).get_content()
    assert not mailbox.to("stale@example.com")  # excluded: no notice to the account itself


@pytest.mark.parametrize("entry, says", [
    ('[[exceptions]]\nmatch = "x"\nexpires = 2027-01-01\n', "exceptions[0].reason: required key is missing"),
    ('[[exceptions]]\nmatch = "x"\nreason = "r"\nexpires = 2020-01-01\n', "exceptions[0]: expires 2020-01-01 is more"),
    ('[[exceptions]]\nmatch = "x"\nreason = "r"\nexpires = 2027-01-01\n[[exceptions]]\nmatch = "y"\nreason = ""\n'
     'expires = 2027-01-01\n', "exceptions[1].reason"),
    ('[[exceptions]]\nmatch = "x"\nreason = "r"\nprovider = "nope"\nexpires = 2027-01-01\n', "exceptions[0]"),
    ('[notify]\nrequired_notice_days = -1\n', "notify.required_notice_days"),
])
def test_bad_exceptions_are_config_errors_naming_the_entry(tmp_path, cloud, entry, says):
    path = tmp_path / "sweeper.toml"
    path.write_text('[providers.fake]\ncloud = "default"\n' + entry)
    r = run("plan", "-c", path)
    assert r.exit_code == 2 and says in r.output, r.output


def test_templates_can_be_replaced(tmp_path, cloud, mailbox, env):
    seed(cloud)
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "notice.html.j2").write_text("<p>Hi {{ login }}: {% for c in credentials %}{{ c.label }} due {{ c.due }}"
                                           "{% endfor %}</p>")
    cfg = write_config(tmp_path, mailbox, None)
    cfg.write_text(cfg.read_text().replace("[notify]\n", f'[notify]\ntemplates = "{folder}"\n'))
    assert run("notify", "-c", cfg, "--as-of", day(0)).exit_code == 0
    body = mailbox.to("stale@example.com")[0].get_body(("html",)).get_content()
    assert f"Hi stale@example.com: account due {day(0)}" in body


def test_preview_sends_and_records_nothing(tmp_path, cloud, mailbox, hooks, env):
    seed(cloud)
    cfg = write_config(tmp_path, mailbox, hooks)
    r = run("notify", "-c", cfg, "--as-of", day(0), "--preview")
    assert r.exit_code == 0, r.output
    assert "--- to stale@example.com (final) ---" in r.stderr and "--- digest to 2 channel(s) ---" in r.stderr
    assert not mailbox.messages and not hooks.posts
    assert Journal(tmp_path / "sweeper.db").notices() == []


def test_notices_are_in_the_audited_journal(tmp_path, cloud, mailbox, env):
    import sqlite3

    seed(cloud)
    cfg = write_config(tmp_path, mailbox, None)
    assert run("notify", "-c", cfg, "--as-of", day(0)).exit_code == 0
    journal = Journal(tmp_path / "sweeper.db")
    assert journal.verify() is None
    db = sqlite3.connect(tmp_path / "sweeper.db")
    db.execute("UPDATE notices SET as_of = '2026-01-01' WHERE recipient = 'stale@example.com'")  # backdate a notice
    db.commit()
    db.close()
    assert "notices row" in (Journal(tmp_path / "sweeper.db").verify() or "")


def test_a_journal_in_object_storage_remembers_notices_across_machines(tmp_path, cloud, mailbox, env):
    import uuid

    from stores.memory import MemoryStore

    seed(cloud)
    MemoryStore.make_bucket("notices")
    url = f"memory://notices/{uuid.uuid4().hex}"
    cfg = write_config(tmp_path, mailbox, None)
    assert run("notify", "-c", cfg, "--as-of", day(0), "--journal", url).exit_code == 0
    sent = len(mailbox.messages)
    assert sent == 4
    r = run("notify", "-c", cfg, "--as-of", day(1), "--journal", url)  # a fresh runner: same journal
    assert r.exit_code == 0 and len(mailbox.messages) == sent, r.output


def test_the_html_notice_escapes_provider_strings():
    """notice.html.j2 ends in .j2: autoescape must still apply to it (a login is the cloud's data)."""
    from sweeper.notify import Templates

    hostile = '<script>alert(1)</script>"&'
    body = Templates().render("notice.html.j2", stage="final", provider_name="Entra <b>", due="2026-12-01",
                              login=hostile, display_name=hostile, scope="t", run_id="r",
                              credentials=[{"label": hostile, "used": "never", "threshold_days": 90, "due": "x"}])
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&amp;" in body
    assert "Entra &lt;b&gt;" in body and "<strong>" in body  # the template's own markup stays
