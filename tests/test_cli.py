"""The CLI end to end over the registered fake provider: plan → plan file → apply → history → restore."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.journal import Journal
from tests import fakes
from tests.fakes import Crash, FakeCloud, FakeUser

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
AS_OF = "2026-11-21"
runner = CliRunner()


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def seed(cloud: FakeCloud, stale: int = 3, fresh: int = 20) -> None:
    for n in range(stale):
        cloud.add(FakeUser(f"stale{n}@example.com", ago(200 + n), ago(900)))
    for n in range(fresh):
        cloud.add(FakeUser(f"user{n}@example.com", ago(n % 30), ago(900)))
    cloud.add(FakeUser("warned@example.com", ago(80), ago(900)))
    cloud.add(FakeUser("breakglass-1@example.com", ago(500), ago(900)))
    cloud.add(FakeUser("admin@example.com", ago(500), ago(900), protected_by="super admin"))
    cloud.add(FakeUser("odd@example.com", None, ago(900), activity=fakes.Activity.UNKNOWN, note="garbled date"))
    cloud.add(FakeUser("gone@example.com", ago(500), ago(900), enabled=False))


@pytest.fixture
def cfg(tmp_path, cloud):
    seed(cloud)
    path = tmp_path / "sweeper.toml"
    path.write_text('[policy]\nmax_disable_percent = 50\nexclude = ["BreakGlass-*"]\n'
                    '[providers.fake]\ncloud = "default"\n')
    return path


def run(*args: object, input: str | None = None, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input, env=env)


def report(result) -> dict:
    assert result.stdout.lstrip().startswith("{"), result.output
    return json.loads(result.stdout)


def test_plan_json_report_follows_the_schema(cfg):
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json")
    assert r.exit_code == 0, r.output
    rep = report(r)
    assert rep["schema_version"] == 1 and rep["mode"] == "plan" and rep["as_of"] == "2026-11-21T00:00:00Z"
    assert rep["providers"] == [{"name": "fake", "scope": "fake-tenant", "status": "ok", "identities": 28,
                                 "credentials": 28, "message": None, "instance": "default",
                                 "decisions": {"disable": 3, "excluded": 1, "protected": 1, "unknown": 1,
                                               "warn": 1}}]
    by = {f["identity"]: f for f in rep["findings"]}
    assert {k for k, f in by.items() if f["decision"] == "disable"} == {f"stale{n}@example.com" for n in range(3)}
    assert by["warned@example.com"]["decision"] == "warn"
    assert by["breakglass-1@example.com"]["decision"] == "excluded"
    assert by["admin@example.com"]["decision"] == "protected"
    assert by["odd@example.com"]["decision"] == "unknown" and "garbled date" in by["odd@example.com"]["reason"]
    f = by["stale0@example.com"]
    assert f["last_used"] == "2026-05-05T00:00:00Z" and f["days_inactive"] == 200 and f["threshold_days"] == 90
    assert f["action"] == "planned" and f["error"] is None and f["credential"] == "account"
    assert set(f) >= {"provider", "scope", "identity", "identity_id", "credential", "kind", "decision", "reason",
                      "last_used", "created", "days_inactive", "threshold_days", "action", "error",
                      "risk", "controls"}
    assert rep["summary"] == {"identities": 28, "credentials": 28, "already_disabled": 1, "disable": 3,
                              "warn": 1, "excluded": 1, "protected": 1, "unknown": 1, "disabled": 0, "failed": 0}


def test_plan_changes_nothing_and_exit_code_flag(cfg, cloud):
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "--exit-code", "-f", "csv")
    assert r.exit_code == 10
    assert cloud.calls == []
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("provider,scope,identity,identity_id,credential,kind,decision,reason")
    assert len(lines) == 1 + 7
    clean = run("plan", "-c", cfg, "--as-of", "2026-01-01", "--exit-code", "-f", "json")
    assert clean.exit_code == 0, clean.output


def test_formats_and_output_file(cfg, tmp_path):
    out = tmp_path / "r.md"
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "markdown", "-o", out)
    assert r.exit_code == 0 and r.stdout == ""
    md = out.read_text()
    assert md.startswith("## identity-sweeper plan") and "| fake | stale0@example.com | account | disable |" in md
    table = run("plan", "-c", cfg, "--as-of", AS_OF)
    assert "stale0@example.com" in table.stdout and "28 identities" in table.stdout


def test_github_step_summary_is_appended(cfg, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json").exit_code == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "**3 to disable**" in text


def test_plan_file_apply_history_restore(cfg, cloud, tmp_path):
    plan = tmp_path / "plan.json"
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "--plan-out", plan, "-f", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(plan.read_text())
    assert {t["identity"] for t in doc["targets"]} == {f"stale{n}@example.com" for n in range(3)}
    # between plan and apply: one target is used again, and a new stale user appears
    cloud.refresh_override["stale1@example.com"] = NOW - timedelta(hours=2)
    cloud.add(FakeUser("latecomer@example.com", ago(300), ago(900)))
    r = run("apply", plan, "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    rep = report(r)
    acted = {f["identity"]: f["action"] for f in rep["findings"] if f["decision"] == "disable"}
    assert acted == {"stale0@example.com": "disabled", "stale2@example.com": "disabled",
                     "latecomer@example.com": "none"}
    assert sorted(cloud.calls) == [("disable", "stale0@example.com"), ("disable", "stale2@example.com")]
    assert "in use on the live check" in rep["providers"][0]["message"]
    run_id = rep["run_id"]

    h = run("history", "-c", cfg, "-f", "json")
    assert h.exit_code == 0
    runs = json.loads(h.stdout)["runs"]
    assert [x["mode"] for x in runs] == ["apply", "plan"]
    assert runs[0] == {**runs[0], "run_id": run_id, "status": "done",
                       "actions": {"done": 2, "failed": 0, "pending": 0}}
    one = json.loads(run("history", "-c", cfg, "--run", run_id, "-f", "json").stdout)
    assert {a["identity"] for a in one["actions"]} == {"stale0@example.com", "stale2@example.com"}

    dry = run("restore", run_id, "-c", cfg, "--dry-run")
    assert dry.exit_code == 0 and "would restore" in dry.stdout and not cloud.users["stale0@example.com"].enabled
    back = run("restore", run_id, "-c", cfg)
    assert back.exit_code == 0, back.output
    assert cloud.users["stale0@example.com"].enabled and cloud.users["stale2@example.com"].enabled
    runs = json.loads(run("history", "-c", cfg, "-f", "json").stdout)["runs"]
    assert runs[0]["mode"] == "restore" and runs[0]["actions"]["done"] == 2


def test_second_apply_changes_nothing(cfg, cloud):
    assert run("apply", "-c", cfg, "--as-of", AS_OF, "--yes").exit_code == 0
    first = list(cloud.calls)
    assert len(first) == 3
    r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 0 and cloud.calls == first
    assert report(r)["summary"]["already_disabled"] == 4


def test_cap_stops_the_scope_and_the_override_lifts_it(tmp_path, cloud):
    seed(cloud, stale=6, fresh=10)
    path = tmp_path / "s.toml"
    path.write_text('[policy]\nmax_disable = 5\nmax_disable_percent = 100\nexclude = ["breakglass-*"]\n[providers.fake]\n')
    r = run("apply", "-c", path, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 3
    rep = report(r)
    assert rep["providers"][0]["status"] == "capped" and "max_disable = 5" in rep["providers"][0]["message"]
    assert cloud.calls == [] and rep["summary"]["disabled"] == 0
    plan = run("plan", "-c", path, "--as-of", AS_OF, "-f", "json")
    assert plan.exit_code == 3
    r = run("apply", "-c", path, "--as-of", AS_OF, "--yes", "--max-disable", "6", "-f", "json")
    assert r.exit_code == 0 and len(cloud.calls) == 6


def test_percent_cap(tmp_path, cloud):
    seed(cloud, stale=3, fresh=10)  # 3 disables of 18 identities: 16.7 %
    path = tmp_path / "s.toml"
    path.write_text('[policy]\nmax_disable_percent = 10\nexclude = ["breakglass-*"]\n[providers.fake]\n')
    r = run("apply", "-c", path, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 3 and "max_disable_percent = 10%" in report(r)["providers"][0]["message"]
    assert cloud.calls == []


def test_not_measured_provider_disables_nothing(cfg, cloud):
    for user in cloud.users.values():
        user.activity = fakes.Activity.UNKNOWN
        user.note = "signInActivity unavailable"
    r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 3
    assert report(r)["providers"][0]["status"] == "not_measured" and cloud.calls == []
    cloud.not_measured = True
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json")
    assert r.exit_code == 3 and "licence" in report(r)["providers"][0]["message"]


def test_one_failed_provider_does_not_stop_the_other(tmp_path, cloud):
    seed(cloud)
    other = FakeCloud(scope="other")
    seed(other)
    other.fail_listing_after = 5
    fakes.CLOUDS["other"] = other
    path = tmp_path / "s.toml"
    path.write_text('[policy]\nmax_disable_percent = 50\nexclude = ["breakglass-*"]\n'
                    '[providers.fake]\n[providers.fake2]\ncloud = "other"\n')
    try:
        r = run("apply", "-c", path, "--as-of", AS_OF, "--yes", "-f", "json")
    finally:
        fakes.CLOUDS.pop("other")
    assert r.exit_code == 4
    status = {p["name"]: p for p in report(r)["providers"]}
    assert status["fake"]["status"] == "ok" and status["fake2"]["status"] == "failed"
    assert "after 5 identities" in status["fake2"]["message"] and "partial listing" in status["fake2"]["message"]
    assert len(cloud.calls) == 3 and other.calls == []
    assert not any(f["provider"] == "fake2" for f in report(r)["findings"])


def test_failed_action_is_exit_4_and_recorded(cfg, cloud):
    cloud.fail_apply_for.add("stale1@example.com")
    r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 4
    f = {x["identity"]: x for x in report(r)["findings"]}["stale1@example.com"]
    assert f["action"] == "failed" and f["error"] == "403 forbidden"
    runs = json.loads(run("history", "-c", cfg, "-f", "json").stdout)["runs"]
    assert runs[0]["actions"] == {"done": 2, "failed": 1, "pending": 0} and runs[0]["status"] == "partial"


@pytest.mark.parametrize("where", ["after", "before"])
def test_killed_mid_apply_is_reconciled_and_never_done_twice(cfg, cloud, where):
    victim = "stale1@example.com"
    (cloud.crash_after_change if where == "after" else cloud.crash_before_change).add(victim)
    with pytest.raises(Crash):
        runner.invoke(app, ["apply", "-c", str(cfg), "--as-of", AS_OF, "--yes"], catch_exceptions=False)
    journal = Journal(cfg.parent / "sweeper.db")
    assert any(a.state == "intent" and a.ref.login == victim for a in journal.actions())
    r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    assert "reconciled" in r.stderr and "unfinished action" in r.stderr
    assert sorted(cloud.calls).count(("disable", victim)) == 1
    assert sorted({login for _, login in cloud.calls}) == [f"stale{n}@example.com" for n in range(3)]
    assert all(not cloud.users[f"stale{n}@example.com"].enabled for n in range(3))
    runs = json.loads(run("history", "-c", cfg, "-f", "json").stdout)["runs"]
    assert runs[1]["status"] == "interrupted" and runs[1]["actions"]["pending"] == 0
    # restoring the killed run leaves alone what the later run did; restoring that one undoes it
    killed, finished = runs[1]["run_id"], runs[0]["run_id"]
    assert run("restore", killed, "-c", cfg).exit_code == 0
    assert cloud.users[victim].enabled is (where == "after")  # only a change the killed run made
    assert run("restore", finished, "-c", cfg).exit_code == 0
    assert all(u.enabled for login, u in cloud.users.items() if login.startswith("stale"))


def test_concurrent_apply_is_refused(cfg, cloud):
    journal = Journal(cfg.parent / "sweeper.db")
    with journal.exclusive():
        r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes")
    assert r.exit_code == 2 and "another sweeper apply/restore" in r.stderr
    assert cloud.calls == []


def test_journal_file_is_private(cfg):
    run("plan", "-c", cfg, "--as-of", AS_OF)
    mode = stat.S_IMODE(os.stat(cfg.parent / "sweeper.db").st_mode)
    assert mode == 0o600


def _plan(cfg, tmp_path) -> Path:
    plan = tmp_path / "plan.json"
    assert run("plan", "-c", cfg, "--as-of", AS_OF, "--plan-out", plan).exit_code == 0
    return plan


@pytest.mark.parametrize("mutate,needle", [
    (lambda t: t[: len(t) // 2], "invalid JSON"),
    (lambda t: "hello", "invalid JSON"),
    (lambda t: "[]", "not an identity-sweeper plan"),
    (lambda t: t.replace('"schema_version": 1', '"schema_version": 2'), "schema_version 2"),
    (lambda t: t.replace("stale0@example.com", "user1@example.com"), "digest does not match"),
])
def test_bad_plan_files_are_refused(cfg, cloud, tmp_path, mutate, needle):
    plan = _plan(cfg, tmp_path)
    plan.write_text(mutate(plan.read_text()))
    r = run("apply", plan, "-c", cfg, "--as-of", AS_OF, "--yes")
    assert r.exit_code == 2 and needle in r.stderr and "Traceback" not in r.output
    assert cloud.calls == []


def test_plan_from_another_config_or_too_old(cfg, cloud, tmp_path):
    plan = _plan(cfg, tmp_path)
    other = tmp_path / "other.toml"
    other.write_text(cfg.read_text().replace("max_disable_percent = 50", "max_disable_percent = 40"))
    r = run("apply", plan, "-c", other, "--yes")
    assert r.exit_code == 2 and "another configuration" in r.stderr
    doc = json.loads(plan.read_text())
    from sweeper import planfile
    body = {k: v for k, v in doc.items() if k != "digest"}
    body["created"] = "2020-01-01T00:00:00Z"
    plan.write_text(json.dumps({**body, "digest": planfile._digest(body)}))
    r = run("apply", plan, "-c", cfg, "--yes")
    assert r.exit_code == 2 and "older than plan_max_age_hours = 24" in r.stderr
    assert cloud.calls == []


@pytest.mark.parametrize("args,needle", [
    (["plan", "--as-of", "yesterday"], "--as-of 'yesterday'"),
    (["plan", "-p", "azure"], "-p azure: unknown provider"),
    (["plan", "-p", "aws"], "-p aws: not configured"),
    (["restore", "some-run", "-p", "azure"], "-p azure: unknown provider"),
    (["plan", "-f", "xml"], "xml"),
    (["apply", "--max-disable", "-1", "--yes"], "--max-disable"),
])
def test_bad_arguments_exit_2(cfg, args, needle):
    r = run(*args, "-c", cfg)
    assert r.exit_code == 2 and needle in r.output and "Traceback" not in r.output


def test_bad_config_exits_2_naming_the_key(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[policy]\ninactive_days = -3\n[providers.fake]\n")
    r = run("plan", "-c", p)
    assert r.exit_code == 2 and "policy.inactive_days" in r.stderr and "-3" in r.stderr
    assert "Traceback" not in r.output


def test_confirmation_on_a_terminal(cfg, cloud, monkeypatch):
    monkeypatch.setattr("sweeper.cli.interactive", lambda: True)
    r = run("apply", "-c", cfg, "--as-of", AS_OF, input="n\n")
    assert r.exit_code == 0 and "nothing changed" in r.stderr and cloud.calls == []


def test_every_command_has_help_with_an_example():
    from typer.main import get_command
    commands = get_command(app).commands
    assert set(commands) == {"plan", "notify", "apply", "restore", "history", "check", "permissions", "demo", "explain"}
    for name, command in commands.items():
        r = run(name, "--help")
        assert r.exit_code == 0, (name, r.output)
        shown = " ".join(r.stdout.replace("│", " ").split())
        assert "Example: sweeper " + name in shown, (name, shown)
        assert f"Example: sweeper {name}" in (command.help or ""), name


def test_check_and_permissions(cfg):
    r = run("check", "-c", cfg)
    assert r.exit_code == 0 and "list users" in r.stdout
    r = run("permissions", "-p", "fake")
    assert r.exit_code == 0 and "fake provider (apply)" in r.stdout


def test_several_outputs_take_their_format_from_the_extension(cfg, tmp_path):
    outs = [tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.md", tmp_path / "r.txt"]
    args = [x for o in outs for x in ("-o", o)]
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json", *args)
    assert r.exit_code == 0 and r.stdout == ""
    assert json.loads(outs[0].read_text())["summary"]["disable"] == 3
    assert outs[1].read_text().startswith("provider,scope,identity")
    assert outs[2].read_text().startswith("## identity-sweeper plan")
    assert json.loads(outs[3].read_text())["schema_version"] == 1  # unknown suffix: the -f format


def test_progress_bars_draw_on_a_terminal_only(cfg):
    import io

    from rich.console import Console

    from sweeper.config import load
    from sweeper.engine import Progress, Sweep
    from sweeper.progress import RichProgress, make_progress

    config = load(str(cfg))
    buf = io.StringIO()
    with make_progress(Console(file=buf, force_terminal=True, width=100)) as progress:
        assert isinstance(progress, RichProgress)
        Sweep(config, ["fake"], NOW, progress=progress).run()
    assert "listing fake fake-tenant" in buf.getvalue()
    quiet = io.StringIO()
    with make_progress(Console(file=quiet, force_terminal=False)) as progress:
        assert type(progress) is Progress
    assert quiet.getvalue() == ""


def test_a_live_listing_is_not_checked_again(cfg, cloud, monkeypatch):
    from tests.fakes import FakeAdapter

    monkeypatch.setattr(FakeAdapter, "listing_is_live", True)
    monkeypatch.setattr(FakeAdapter, "refresh", lambda self, ref: pytest.fail("refresh of a live listing"))
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json")
    assert r.exit_code == 0 and report(r)["summary"]["disable"] == 3


def test_many_processes_open_a_new_journal_at_once(tmp_path):
    """Each opens the same brand-new file (WAL switch and migration race); none may fail."""
    import subprocess
    import sys

    db = tmp_path / "new.db"
    code = ("import sys; from sweeper.journal import Journal; j = Journal(sys.argv[1]); "
            "j.start_run(sys.argv[2], 'plan', None); j.finish_run(sys.argv[2], 'done')")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), f"run{i}"], stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert len(Journal(db).runs()) == 8
