"""Operator experience (#20 items 2-5): what a person or a CI log sees on stderr, the one-shot apply's
preview, a plan that opens only its providers, the 80-column table, and Unix edges (EPIPE, missing
output folders, Ctrl-C during apply)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from tests import fakes
from tests.fakes import FakeUser
from tests.test_cli import AS_OF, ago, run, seed

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def two(tmp_path, cloud):
    """fake (seeded) and fake2, whose cloud is down: opening it fails."""
    seed(cloud)
    path = tmp_path / "sweeper.toml"
    path.write_text('[policy]\nmax_disable_percent = 50\nexclude = ["breakglass-*"]\n'
                    '[providers.fake]\n[providers.fake2]\ncloud = "down"\n')
    return path


def test_json_to_a_file_still_says_each_failed_scope_on_stderr(two, tmp_path):
    out = tmp_path / "report.json"
    r = run("plan", "-c", two, "--as-of", AS_OF, "-f", "json", "-o", out)
    assert r.exit_code == 4
    assert r.stdout == ""
    lines = [line for line in r.stderr.splitlines() if "fake2" in line]
    assert len(lines) == 1 and "failed" in lines[0] and lines[0].startswith("error:"), r.stderr
    assert "3 to disable" in r.stderr  # the run's totals too
    assert json.loads(out.read_text())["summary"]["disable"] == 3


def test_a_capped_scope_is_said_on_stderr(tmp_path, cloud):
    seed(cloud)
    path = tmp_path / "s.toml"
    path.write_text('[policy]\nmax_disable_percent = 5\n[providers.fake]\n')
    r = run("plan", "-c", path, "--as-of", AS_OF, "-f", "json")
    assert r.exit_code == 3
    capped = [line for line in r.stderr.splitlines() if "capped" in line]
    assert len(capped) == 1 and "fake fake-tenant" in capped[0] and "--max-disable" in capped[0], r.stderr


AZURE_FAILS = """
import sys
from sweeper.cli import quiet_libraries
quiet_libraries(sys.argv[1] == "verbose")
from azure.identity import DefaultAzureCredential
skip = ("managed_identity", "cli", "powershell", "developer_cli", "interactive_browser", "visual_studio_code",
        "shared_token_cache")
try:
    DefaultAzureCredential(**{f"exclude_{name}_credential": True for name in skip}).get_token("https://graph/.default")
except Exception as err:
    print(type(err).__name__)
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_the_azure_sdks_warnings_only_with_verbose(verbose):
    """The Azure SDK logs a dozen lines when no credential works; the sweeper says it in one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    p = subprocess.run([sys.executable, "-c", AZURE_FAILS, "verbose" if verbose else "quiet"], capture_output=True,
                       text=True, timeout=60, cwd=ROOT, env=env)
    assert p.stdout.strip() == "ClientAuthenticationError", p.stderr
    assert ("DefaultAzureCredential failed to retrieve a token" in p.stderr) is verbose, p.stderr
    assert verbose or p.stderr == ""


def test_verbose_is_a_flag_of_every_command(two):
    import logging

    from sweeper.cli import quiet_libraries

    try:
        r = run("--verbose", "plan", "-c", two, "-p", "fake", "--as-of", AS_OF, "-f", "json")
        assert r.exit_code == 0, r.output
        assert logging.getLogger("azure.identity").getEffectiveLevel() == logging.WARNING
    finally:
        quiet_libraries(False)  # this process's later runs are quiet again
    assert logging.getLogger("azure.identity").getEffectiveLevel() == logging.CRITICAL


def test_one_shot_apply_shows_counts_and_targets_before_asking(two, cloud, monkeypatch):
    monkeypatch.setattr("sweeper.cli.interactive", lambda: True)
    r = run("apply", "-c", two, "--as-of", AS_OF, "-p", "fake", input="n\n")
    assert r.exit_code == 0 and cloud.calls == []
    head = r.stderr.split("Disable these")[0]
    assert "would disable: 3 in fake" in head
    assert all(f"stale{n}@example.com" in head for n in range(3))
    assert "Disable these 3 credential(s)" in r.stderr and "nothing changed" in r.stderr
    r = run("apply", "-c", two, "--as-of", AS_OF, "-p", "fake", "-f", "json", input="y\n")
    assert r.exit_code == 0, r.output
    assert sorted(login for _, login in cloud.calls) == [f"stale{n}@example.com" for n in range(3)]


def test_one_shot_apply_previews_with_the_raised_cap(tmp_path, cloud, monkeypatch):
    monkeypatch.setattr("sweeper.cli.interactive", lambda: True)
    seed(cloud)
    path = tmp_path / "s.toml"
    path.write_text('[policy]\nmax_disable_percent = 5\n[providers.fake]\n')
    r = run("apply", "-c", path, "--as-of", AS_OF, "-f", "json", input="y\n")
    assert r.exit_code == 0 and "nothing to disable" in r.stderr and "capped" in r.stderr and cloud.calls == []
    r = run("apply", "-c", path, "--as-of", AS_OF, "-f", "json", "--max-disable", "10", input="y\n")
    assert r.exit_code == 0, r.output
    assert "would disable: 4 in fake" in r.stderr and len(cloud.calls) == 4


def test_one_shot_apply_acts_only_on_what_it_showed(two, cloud, monkeypatch):
    """A credential that became a target after the preview is left alone."""
    monkeypatch.setattr("sweeper.cli.interactive", lambda: True)
    late = cloud.add(FakeUser("late@example.com", ago(10), ago(900)))

    import typer

    def confirm(text: str, **kw):  # noqa: ANN001 - while the person reads, the account turns out to be stale
        late.last_used = ago(400)
        return True

    monkeypatch.setattr(typer, "confirm", confirm)
    r = run("apply", "-c", two, "--as-of", AS_OF, "-p", "fake", "-f", "json")
    assert r.exit_code == 0, r.output
    assert ("disable", "late@example.com") not in cloud.calls and len(cloud.calls) == 3


def test_a_plan_opens_only_the_providers_it_names(two, cloud, tmp_path):
    plan = tmp_path / "p.json"
    r = run("plan", "-c", two, "--as-of", AS_OF, "-p", "fake", "--plan-out", plan, "-f", "json")
    assert r.exit_code == 0, r.output
    r = run("apply", plan, "-c", two, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    assert [p["name"] for p in json.loads(r.stdout)["providers"]] == ["fake"]
    assert len(cloud.calls) == 3 and "fake2" not in r.stderr


def test_the_table_reads_at_80_columns(tmp_path, cloud):
    seed(cloud)
    cloud.add(FakeUser("svc-nightly-AKIAIOSFODNN7EXAMPLE", ago(300), ago(900), keys=1))
    key = "svc-nightly-AKIAIOSFODNN7EXAMPLE#k1"  # the key's label: an id with no space to break at
    cloud.add(FakeUser("a-rather-long-service-login-for-the-nightly-export@example.com", ago(300), ago(900)))
    path = tmp_path / "s.toml"
    path.write_text('[policy]\nmax_disable_percent = 50\nexclude = ["breakglass-*"]\n[providers.fake]\n')
    r = run("plan", "-c", path, "--as-of", AS_OF, env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(line for line in lines if len(line) > 80)
    assert any(key in line for line in lines)  # never broken
    row = next(line for line in lines if line.startswith("stale0@example.com"))
    assert row.split()[2:] == ["disable", "200", "90"], row
    below = lines[lines.index(row) + 1]
    assert below.startswith("    planned: last used") and "threshold" in below
    assert len(lines) < 60, r.stdout
    wide = run("plan", "-c", path, "--as-of", AS_OF, "--wide", env={"COLUMNS": "200"})
    assert any("reason" in line and "action" in line for line in wide.stdout.splitlines())


def test_piped_output_honours_columns(two):
    narrow = run("plan", "-c", two, "-p", "fake", "--as-of", AS_OF, env={"COLUMNS": "60"})
    assert narrow.exit_code == 0, narrow.output
    assert max(map(len, narrow.stdout.splitlines())) <= 60


@pytest.mark.parametrize("flag", ["--plan-out", "-o"])
def test_a_missing_output_folder_is_refused_before_listing(two, cloud, tmp_path, flag):
    missing = tmp_path / "nope" / "p.json"
    r = run("plan", "-c", two, "--as-of", AS_OF, flag, missing)
    assert r.exit_code == 2, r.output
    assert str(missing.parent) in r.stderr and "internal error" not in r.stderr
    assert cloud.listings == 0


DRIVER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timedelta, timezone
    from sweeper import registry
    from tests import fakes

    class Slow(fakes.FakeAdapter):
        def apply(self, action, refs):
            out = super().apply(action, refs)
            with open(sys.argv[1], "a") as fh:
                fh.write("changed\\n")
            time.sleep(0.4)
            return out

    registry.register("fake", "tests.fakes:FakeSettings", "__main__:Slow")
    cloud = fakes.FakeCloud()
    now = datetime(2026, 11, 21, tzinfo=timezone.utc)
    for n in range(int(sys.argv[2])):
        cloud.add(fakes.FakeUser(f"stale{n:03}@example.com", now - timedelta(days=300), now - timedelta(days=900)))
    fakes.CLOUDS["default"] = cloud
    from sweeper.cli import app
    app(sys.argv[3:], prog_name="sweeper")
""")


def driver(tmp_path: Path, users: int, *args: str, **kw) -> subprocess.Popen:  # noqa: ANN003
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    config = tmp_path / "s.toml"
    config.write_text('[policy]\nmax_disable_percent = 100\nmax_disable = 1000\n'
                      f'[journal]\npath = "{tmp_path / "journal.db"}"\n'
                      '[providers.fake]\nbatch_size = 1\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "changes"), str(users), *args,
                             "-c", str(config)], cwd=tmp_path, env=env, **kw)


@pytest.mark.parametrize("command", [["permissions"], ["plan", "--as-of", AS_OF], ["plan", "--as-of", AS_OF, "-f", "json"]])
def test_a_closed_pipe_is_a_normal_exit(tmp_path, command):
    p = driver(tmp_path, 300, *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) \
        if command[0] == "plan" else subprocess.Popen(
            [sys.executable, "-c", "from sweeper.cli import main; main()", *command],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    p.stdout.close()  # the reader is gone before anything is written: `| head -0`
    err = p.stderr.read().decode()
    assert p.wait(60) == 0, err
    assert "internal error" not in err and "Traceback" not in err and "Broken pipe" not in err, err


def test_ctrl_c_during_apply_stops_new_work_and_writes_the_report(tmp_path):
    report = tmp_path / "report.json"
    p = driver(tmp_path, 40, "apply", "--as-of", AS_OF, "--yes", "-f", "json", "-o", str(report),
               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    changes = tmp_path / "changes"
    deadline = time.monotonic() + 60
    while not (changes.exists() and len(changes.read_text().splitlines()) >= 2):
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    sent = time.monotonic()
    out, err = p.communicate(timeout=30)
    assert time.monotonic() - sent < 6, err  # stopped at once, waited only for the changes under way
    assert p.returncode == 130, err
    assert "internal error" not in err and "Traceback" not in err, err
    assert "interrupted" in err and "`sweeper apply` continues" in err and "sweeper restore" in err, err
    done = json.loads(report.read_text())
    made = len(changes.read_text().splitlines())
    assert 2 <= done["summary"]["disabled"] == made < 40, (made, done["summary"])
    left = [f for f in done["findings"] if f["action"] == "none"]
    assert len(left) == 40 - made and all("interrupted" in f["reason"] for f in left)
    history = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(changes), "0", "history", "-f", "json",
                              "-c", str(tmp_path / "s.toml")], capture_output=True, text=True, cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    runs = json.loads(history.stdout)["runs"]
    assert runs[0]["status"] == "interrupted", runs[0]


def test_reconciling_a_killed_run_names_the_runs_to_restore(two, cloud):
    cloud.crash_after_change.add("stale1@example.com")
    with pytest.raises(fakes.Crash):
        runner.invoke(app, ["apply", "-c", str(two), "-p", "fake", "--as-of", AS_OF, "--yes"], catch_exceptions=False)
    r = run("apply", "-c", two, "-p", "fake", "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    runs = json.loads(run("history", "-c", two, "-f", "json").stdout)["runs"]
    killed, latest = runs[1]["run_id"], runs[0]["run_id"]
    assert runs[1]["status"] == "interrupted"
    said = " ".join(r.stderr.split())
    assert f"run(s) {killed} ended without finishing" in said and f"sweeper restore {killed}" in said
    assert f"sweeper restore {latest}; sweeper restore {killed}" in said


class TwoScopes(fakes.FakeAdapter):
    """The fake provider with a second scope, whose listings are counted."""

    listed: list[str] = []

    def scopes(self) -> list[str]:
        return [*super().scopes(), "second"]

    def _identity(self, user: FakeUser):  # noqa: ANN202
        from dataclasses import replace

        return replace(super()._identity(user), provider="multi")

    def list_identities(self, scope: str):  # noqa: ANN201
        TwoScopes.listed.append(scope)
        return iter(()) if scope == "second" else super().list_identities(scope)


@pytest.fixture
def multi():
    from sweeper import registry

    registry.register("multi", "tests.fakes:FakeSettings", "tests.test_operator:TwoScopes")
    TwoScopes.listed = []
    yield
    registry.unregister("multi")


def test_a_plan_lists_only_the_scopes_it_names(multi, cloud, tmp_path):
    seed(cloud)
    path = tmp_path / "s.toml"
    path.write_text('[policy]\nmax_disable_percent = 50\nexclude = ["breakglass-*"]\n[providers.multi]\n')
    plan = tmp_path / "p.json"
    assert run("plan", "-c", path, "--as-of", AS_OF, "--plan-out", plan, "-f", "json").exit_code == 0
    assert sorted(TwoScopes.listed) == ["fake-tenant", "second"]
    TwoScopes.listed = []
    r = run("apply", plan, "-c", path, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    assert TwoScopes.listed == ["fake-tenant"] and len(cloud.calls) == 3


# -- #20 item 8: the smaller items ---------------------------------------------------------------


@pytest.fixture
def one(tmp_path, cloud):
    seed(cloud)
    path = tmp_path / "sweeper.toml"
    path.write_text('[policy]\nmax_disable_percent = 50\nexclude = ["breakglass-*"]\n[providers.fake]\n')
    return path


def _history(cfg: Path, *args: object) -> dict:
    r = run("history", "-c", cfg, "-f", "json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_history_filters_and_says_who_ran_what(one, cloud):
    assert run("plan", "-c", one, "--as-of", AS_OF, "-f", "json").exit_code == 0
    ci = {"GITHUB_RUN_ID": "77", "GITHUB_ACTOR": "octocat", "GITHUB_REPOSITORY": "acme/sweep"}
    assert run("apply", "-c", one, "--as-of", AS_OF, "--yes", "-f", "json", env=ci).exit_code == 0
    applied = _history(one, "--mode", "apply")["runs"]
    assert [r["mode"] for r in applied] == ["apply"]
    assert applied[0]["providers"] == ["fake"] and applied[0]["by"] == "github:octocat"
    assert applied[0]["as_of"].startswith(AS_OF[:10])
    assert len(_history(one)["runs"]) == 2 and len(_history(one, "--limit", "1")["runs"]) == 1
    assert len(_history(one, "--since", "1d")["runs"]) == 2
    assert _history(one, "--since", "2999-01-01")["runs"] == []
    table = run("history", "-c", one, "--mode", "apply")
    assert "github:octocat" in table.stdout and "providers" in table.stdout and "plan" not in table.stdout
    bad = run("history", "-c", one, "--since", "yesterday")
    assert bad.exit_code == 2 and "--since 'yesterday'" in bad.stderr


def test_history_keeps_success_details_out_of_the_error_column(one, cloud):
    r = run("apply", "-c", one, "--as-of", AS_OF, "--yes", "-f", "json")
    run_id = json.loads(r.stdout)["run_id"]
    actions = _history(one, "--run", run_id)["actions"]
    assert len(actions) == 3 and all(a["state"] == "done" and a["error"] is None for a in actions)
    table = run("history", "-c", one, "--run", run_id)
    assert "detail" in table.stdout and "error" not in table.stdout


def test_a_second_restore_says_it_was_already_restored(one, cloud):
    r = run("apply", "-c", one, "--as-of", AS_OF, "--yes", "-f", "json")
    run_id = json.loads(r.stdout)["run_id"]
    first = run("restore", run_id, "-c", one, "-f", "json")
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["restores"] == run_id and doc["results"] == {"restored": 3}
    assert {i["detail"] for i in doc["items"]} == {f"enabled again, as before run {run_id}"}
    calls = len(cloud.calls)
    for args in ([], ["--dry-run"]):
        again = json.loads(run("restore", run_id, "-c", one, "-f", "json", *args).stdout)
        assert again["results"] == {"nothing to restore": 3}, again
        assert all(i["detail"].startswith(f"already restored by run {doc['run_id']}") for i in again["items"])
    assert len(cloud.calls) == calls  # nothing was enabled twice
    table = run("restore", run_id, "-c", one)
    assert "already restored" in table.stdout and " restored " not in table.stdout.replace("already restored", "")


def test_help_reads_like_a_unix_tools(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    apply_help = run("apply", "--help").stdout
    restore_help = run("restore", "--help").stdout
    assert "apply [OPTIONS] [PLAN.json]\n" in apply_help
    assert "restore [OPTIONS] RUN_ID\n" in restore_help
    for text in (apply_help, restore_help, run("history", "--help").stdout, run("plan", "--help").stdout):
        assert "<bool>" not in text and "<list[str]>" not in text and "<str>" not in text and "[[" not in text
    assert "-p, --provider PROVIDER" in apply_help and "--yes " in apply_help
    assert "[journal] path" in apply_help  # brackets in help are text, not markup
    assert "-f, --format [table|json|csv|markdown" in apply_help


def test_a_plan_runs_without_a_journal_it_cannot_open_and_creates_no_folder(one, tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "sweeper.db"
    r = run("plan", "-c", one, "--as-of", AS_OF, "--journal", missing, "-f", "json")
    assert r.exit_code == 0, r.output
    assert "does not exist" in r.stderr and "runs without the journal" in r.stderr
    assert json.loads(r.stdout)["summary"]["disable"] == 3
    assert not (tmp_path / "no").exists()
    a = run("apply", "-c", one, "--as-of", AS_OF, "--yes", "--journal", missing)
    assert a.exit_code == 2 and "does not exist" in a.stderr and not (tmp_path / "no").exists()


def test_the_step_summary_stays_within_githubs_limit(one, tmp_path, monkeypatch):
    from sweeper.report import STEP_SUMMARY_BYTES, fit_summary

    summary = tmp_path / "summary.md"
    summary.write_text("x" * (STEP_SUMMARY_BYTES - 700) + "\n")  # earlier steps wrote almost all of it
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert run("plan", "-c", one, "--as-of", AS_OF, "-f", "json", "--summary", "full").exit_code == 0
    text = summary.read_text()
    assert summary.stat().st_size <= STEP_SUMMARY_BYTES
    assert "more lines not shown" in text and "## identity-sweeper plan" in text
    assert fit_summary("a\nb\n", 4) == "a\nb\n" and fit_summary("a\n" * 1000, 10) == ""
    cut = fit_summary("line\n" * 1000, 300)
    assert len(cut.encode()) <= 300 and cut.startswith("line\n") and "more lines not shown" in cut


GOOGLE_NO_ADC = '[providers.google_workspace]\ncustomer = "my_customer"\n'


def test_check_fails_googles_access_once_without_credentials(tmp_path):
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text(GOOGLE_NO_ADC)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    env.update(HOME=str(tmp_path), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="true", COLUMNS="200")
    r = subprocess.run([sys.executable, "-m", "sweeper", "check", "-c", str(cfg)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 4, r.stdout + r.stderr
    rows = [line for line in r.stdout.splitlines() if "google_workspace" in line]
    assert len(rows) == 1 and "access" in rows[0] and "FAILED" in rows[0], r.stdout
    assert "no application default credentials found" in rows[0]
    assert " ok " not in r.stdout  # no "identity ok" row before the failure
