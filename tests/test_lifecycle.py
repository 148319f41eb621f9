"""#13 in the core, over the fake provider: what this sweeper disabled and nobody missed is removed
after remove_after_days (opt-in, with --allow-remove), and restore brings back what it can."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.journal import Journal
from tests.fakes import Crash, FakeCloud, FakeUser

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)  # + 70 days stays in the past: apply needs no --allow-future-as-of
runner = CliRunner()


def day(n: int) -> str:
    return (NOW + timedelta(days=n)).date().isoformat()


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def cfg(tmp_path, cloud: FakeCloud):
    for n in range(10):
        cloud.add(FakeUser(f"user{n}@example.com", ago(n), ago(900)))
    cloud.add(FakeUser("stale@example.com", ago(200), ago(900)))
    cloud.add(FakeUser("svc@example.com", ago(200), ago(900), keys=1))  # an account and a key, both stale
    cloud.add(FakeUser("off@example.com", ago(300), ago(900), enabled=False))  # disabled by someone else
    path = tmp_path / "sweeper.toml"
    path.write_text('[policy]\nmax_disable_percent = 100\nremove_after_days = 30\n[providers.fake]\ncloud = "default"\n')
    return path


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def findings(r) -> dict[str, dict]:
    assert r.stdout.lstrip().startswith("{"), r.output
    return {(f["identity"], f["credential"]): f for f in json.loads(r.stdout)["findings"]}


def test_the_whole_lifecycle_disable_remove_restore(cfg, cloud):
    r = run("apply", "-c", cfg, "--as-of", day(0), "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    assert ("disable", "stale@example.com") in cloud.calls
    # before the window: nothing to remove
    assert not any(f["decision"] == "remove" for f in findings(run("plan", "-c", cfg, "--as-of", day(20), "-f", "json")).values())
    planned = findings(run("plan", "-c", cfg, "--as-of", day(31), "-f", "json"))
    stale = planned[("stale@example.com", "account")]
    assert stale["decision"] == "remove" and stale["action"] == "planned"
    assert "disabled by this sweeper in run" in stale["reason"] and "remove_after_days = 30" in stale["reason"]
    assert ("off@example.com", "account") not in planned  # disabled by someone else: never removed
    # the config alone never removes
    r = run("apply", "-c", cfg, "--as-of", day(31), "--yes", "-f", "json")
    assert r.exit_code == 0 and "apply needs --allow-remove" in findings(r)[("stale@example.com", "account")]["reason"]
    assert "stale@example.com" in cloud.users
    r = run("apply", "-c", cfg, "--as-of", day(31), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    assert findings(r)[("stale@example.com", "account")]["action"] == "removed"
    assert json.loads(r.stdout)["summary"]["removed"] == 3  # stale@, and svc@ with its key
    assert "stale@example.com" not in cloud.users and "stale@example.com" in cloud.deleted
    key = findings(r)[("svc@example.com", "access_key:svc@example.com#k1")]
    assert key["action"] == "removed" and key["irreversible"] and "irreversible" in key["reason"]
    assert "svc@example.com#k1" in cloud.removed_keys
    journal = Journal(cfg.parent / "sweeper.db")
    run_id = next(x.run_id for x in journal.runs() if x.mode == "apply" and x.done)
    removal = [a for a in journal.actions(run_id) if a.action.value == "remove"]
    assert sorted((a.ref.login, a.ref.kind.value, a.state, a.irreversible) for a in removal) == [
        ("stale@example.com", "account", "done", False), ("svc@example.com", "access_key", "done", True),
        ("svc@example.com", "account", "done", False)]
    # restore brings it back, disabled as it was
    r = run("restore", run_id, "-c", cfg, "--yes")
    assert r.exit_code == 0, r.output
    assert "undeleted" in r.output and not cloud.users["stale@example.com"].enabled
    assert "was removed irreversibly" in r.output  # the key: said, not attempted
    # and it is not removed again: a person brought it back
    again = findings(run("plan", "-c", cfg, "--as-of", day(70), "-f", "json"))
    assert ("stale@example.com", "account") not in again


def test_no_remove_without_remove_after_days(cfg, cloud):
    cfg.write_text(cfg.read_text().replace("remove_after_days = 30\n", ""))
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    for n in (31, 150):
        r = run("apply", "-c", cfg, "--as-of", day(n), "--yes", "--allow-remove", "-f", "json")
        assert not any(f["decision"] == "remove" for f in findings(r).values())
    assert "stale@example.com" in cloud.users


def test_reenabled_or_used_in_between_is_never_removed(cfg, cloud):
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    user = cloud.users["stale@example.com"]
    user.enabled = True  # a helpdesk re-enables it; the next run sees that
    assert run("plan", "-c", cfg, "--as-of", day(5)).exit_code == 0
    user.enabled = False  # and someone disables it again by hand
    r = run("apply", "-c", cfg, "--as-of", day(40), "--yes", "--allow-remove", "-f", "json")
    assert ("stale@example.com", "account") not in findings(r) and "stale@example.com" in cloud.users


def test_the_live_recheck_keeps_what_was_used_since(cfg, cloud):
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    cloud.refresh_override["stale@example.com"] = NOW + timedelta(days=10)  # the live read shows a use
    r = run("apply", "-c", cfg, "--as-of", day(40), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    assert "stale@example.com" in cloud.users
    assert "not removed: it was used on" in json.loads(r.stdout)["providers"][0]["message"]


def test_removals_have_their_own_cap(cfg, cloud):
    cloud.add(FakeUser("stale2@example.com", ago(200), ago(900)))
    cfg.write_text(cfg.read_text().replace("remove_after_days = 30\n", "remove_after_days = 30\nmax_remove = 1\n"))
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    r = run("apply", "-c", cfg, "--as-of", day(31), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 3, r.output  # a safety stop
    assert "removal cap: 4 removals exceed max_remove = 1" in json.loads(r.stdout)["providers"][0]["message"]
    assert {"stale@example.com", "stale2@example.com"} <= set(cloud.users)


def test_a_removal_killed_midway_is_reconciled(cfg, cloud):
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    cloud.crash_after_change.add("stale@example.com")
    with pytest.raises(Crash):
        runner.invoke(app, ["apply", "-c", str(cfg), "--as-of", day(31), "--yes", "--allow-remove"],
                      catch_exceptions=False)
    assert "stale@example.com" in cloud.deleted  # the delete landed, the journal still says intent
    r = run("apply", "-c", cfg, "--as-of", day(32), "--yes", "--allow-remove")
    assert r.exit_code == 0 and "reconciled" in r.output, r.output
    removals = [a for a in Journal(cfg.parent / "sweeper.db").actions() if a.action.value == "remove"
                and a.ref.login == "stale@example.com"]
    assert [a.state for a in removals] == ["done"]


def test_restore_outside_the_window_says_so(cfg, cloud):
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    assert run("apply", "-c", cfg, "--as-of", day(31), "--yes", "--allow-remove").exit_code == 0
    cloud.purge("stale@example.com")
    journal = Journal(cfg.parent / "sweeper.db")
    run_id = next(x.run_id for x in journal.runs() if x.mode == "apply" and x.done)
    r = run("restore", run_id, "-c", cfg, "--yes")
    assert r.exit_code != 0 and "past the 30-day recovery window" in r.output, r.output


def test_a_rule_sets_its_own_removal_age_and_a_reporting_rule_removes_nothing(cfg, cloud):
    """#26: remove_after_days per rule; an identity whose rule now only reports is never removed."""
    cfg.write_text(cfg.read_text() + '[[rules]]\nname = "svc"\nremove_after_days = 60\n'
                                      '[rules.match]\nlogin = ["svc@*"]\n')
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes", "-f", "json").exit_code == 0
    planned = findings(run("plan", "-c", cfg, "--as-of", day(31), "-f", "json"))
    assert planned[("stale@example.com", "account")]["decision"] == "remove"  # the defaults: 30 days
    assert ("svc@example.com", "account") not in planned  # its rule: 60 days
    planned = findings(run("plan", "-c", cfg, "--as-of", day(61), "-f", "json"))
    assert planned[("svc@example.com", "account")]["decision"] == "remove"
    assert "remove_after_days = 60" in planned[("svc@example.com", "account")]["reason"]
    cfg.write_text(cfg.read_text().replace('remove_after_days = 60\n', 'action = "report"\n'))
    planned = findings(run("plan", "-c", cfg, "--as-of", day(61), "-f", "json"))
    assert ("svc@example.com", "account") not in planned
