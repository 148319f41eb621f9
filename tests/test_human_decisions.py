"""Never undo a human decision (#19), over the fake provider through the CLI: plans are single-use
and, with a key, signed; a future --as-of never makes apply act early; exclusions fail closed on
near misses (neither excluded nor disabled); never_disable is a last net; a full disk is said as such, with nothing acted on."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.model import Activity, Credential, CredentialKind, DecisionKind, Identity, IdentityKind
from sweeper.policy import Thresholds, evaluate, excluded_by_login, looks_excluded
from tests.fakes import FakeUser

NOW = datetime.now(timezone.utc).replace(microsecond=0)
runner = CliRunner()


def run(*args: object, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def _cfg(tmp_path: Path, policy: str = "") -> Path:
    path = tmp_path / "sweeper.toml"
    path.write_text(f'[policy]\nmax_disable_percent = 100\nexclude = ["breakglass-*"]\n{policy}\n'
                    '[providers.fake]\ncloud = "default"\n')
    return path


def _seed(cloud) -> None:
    for n in range(3):
        cloud.add(FakeUser(f"stale{n}@example.com", NOW - timedelta(days=200), NOW - timedelta(days=900)))
    cloud.add(FakeUser("fresh@example.com", NOW - timedelta(days=1), NOW - timedelta(days=900)))


# -- plans are single-use and, with a key, signed ----------------------------------------------

def test_a_plan_is_applied_once(tmp_path, cloud) -> None:
    _seed(cloud)
    cfg = _cfg(tmp_path)
    assert run("plan", "-c", cfg, "--plan-out", tmp_path / "plan.json").exit_code == 0
    first = run("apply", tmp_path / "plan.json", "-c", cfg, "--yes")
    assert first.exit_code == 0, first.output
    for user in cloud.users.values():  # a helpdesk re-enables everyone
        user.enabled = True
    again = run("apply", tmp_path / "plan.json", "-c", cfg, "--yes")
    assert again.exit_code == 2 and "applied already by run" in again.output and "--reapply" in again.output
    assert all(u.enabled for u in cloud.users.values())
    forced = run("apply", tmp_path / "plan.json", "-c", cfg, "--yes", "--reapply")
    assert forced.exit_code == 0, forced.output


def _redigest(path: Path, change) -> None:
    import hashlib

    plan = json.loads(path.read_text())
    change(plan)
    body = {k: v for k, v in plan.items() if k not in ("digest", "signature")}
    plan["digest"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    path.write_text(json.dumps(plan))


def test_an_edited_and_redigested_plan_is_refused_when_plans_are_signed(tmp_path, cloud) -> None:
    _seed(cloud)
    cfg = _cfg(tmp_path)
    key = {"SWEEPER_PLAN_KEY": "correct horse battery staple"}
    assert run("plan", "-c", cfg, "--plan-out", tmp_path / "plan.json", env=key).exit_code == 0
    assert "signature" in json.loads((tmp_path / "plan.json").read_text())
    _redigest(tmp_path / "plan.json", lambda p: p.update(created=(NOW + timedelta(hours=1)).isoformat()))
    r = run("apply", tmp_path / "plan.json", "-c", cfg, "--yes", env=key)
    assert r.exit_code == 2 and "signature does not match" in r.output
    assert run("plan", "-c", cfg, "--plan-out", tmp_path / "unsigned.json").exit_code == 0
    r = run("apply", tmp_path / "unsigned.json", "-c", cfg, "--yes", env=key)
    assert r.exit_code == 2 and "not signed" in r.output
    assert all(u.enabled for u in cloud.users.values())
    # without a key the digest only detects damage: a re-digested plan is accepted (README says so)
    _redigest(tmp_path / "unsigned.json", lambda p: p.update(targets=p["targets"][:1]))
    r = run("apply", tmp_path / "unsigned.json", "-c", cfg, "--yes")
    assert r.exit_code == 0 and len([u for u in cloud.users.values() if not u.enabled]) == 1


# -- the real clock bounds acting --------------------------------------------------------------

def test_a_future_as_of_is_refused_unless_asked_for_and_then_recorded(tmp_path, cloud) -> None:
    cloud.add(FakeUser("used40days@example.com", NOW - timedelta(days=40), NOW - timedelta(days=900)))
    cfg = _cfg(tmp_path)
    later = (NOW + timedelta(days=400)).date().isoformat()
    r = run("apply", "-c", cfg, "--as-of", later, "--yes")
    assert r.exit_code == 2 and "in the future" in r.output and "--allow-future-as-of" in r.output
    assert cloud.calls == []
    assert run("plan", "-c", cfg, "--as-of", later).exit_code == 0  # planning ahead changes nothing: fine
    r = run("apply", "-c", cfg, "--as-of", later, "--yes", "--allow-future-as-of")
    assert r.exit_code == 0 and "warning" in r.output and "in the future" in r.output
    db = sqlite3.connect(tmp_path / "sweeper.db")
    [(note,)] = db.execute("SELECT note FROM runs WHERE mode = 'apply'").fetchall()
    assert "in the future" in note and later in note


# -- exclusions fail closed both ways (#19, #14) --------------------------------------------------

@pytest.mark.parametrize("login", [
    "BreakGlass-01@example.com",            # case
    "BREAKGLASS-01@EXAMPLE.COM",
])
def test_a_literal_match_is_case_insensitive(login) -> None:
    assert excluded_by_login(login, ("breakglass-*",)) == "login matches exclude pattern 'breakglass-*'"
    assert looks_excluded(login, ("breakglass-*",)) is None


@pytest.mark.parametrize("login", [
    "breakglass\u201001@example.com",      # a look-alike hyphen
    "bre\u0430kglass-01@example.com",      # a Cyrillic a
    "break\u200bglass-01@example.com",      # an invisible character
    "ｂｒｅａｋｇｌａｓｓ-01@example.com",  # full-width letters
])
def test_a_look_alike_is_neither_excluded_nor_disabled(login) -> None:
    assert excluded_by_login(login, ("breakglass-*",)) is None
    assert "looks like exclude pattern 'breakglass-*'" in looks_excluded(login, ("breakglass-*",))
    d = _judge(_stale(login), Thresholds(90, 14, exclude=("breakglass-*",)))
    assert d.kind is DecisionKind.UNKNOWN
    assert ("login looks like exclude pattern 'breakglass-*' but does not match it literally (look-alike "
            "characters): kept for review") in d.reason


def test_near_misses_are_kept_for_review_and_mixed_scripts_said(tmp_path, cloud) -> None:
    cloud.add(FakeUser("bre\u0430kglass-01@example.com", NOW - timedelta(days=300), NOW - timedelta(days=900)))
    cloud.add(FakeUser("BREAKGLASS\u201002@example.com", NOW - timedelta(days=300), NOW - timedelta(days=900)))
    cloud.add(FakeUser("BreakGlass-03@example.com", NOW - timedelta(days=300), NOW - timedelta(days=900)))
    r = run("apply", "-c", _cfg(tmp_path), "-f", "json", "--yes")
    assert r.exit_code == 0, r.output
    by = {f["identity"]: f for f in json.loads(r.stdout)["findings"]}
    assert by["BreakGlass-03@example.com"]["decision"] == "excluded"
    near = [f for login, f in by.items() if login != "BreakGlass-03@example.com"]
    assert [f["decision"] for f in near] == ["unknown", "unknown"], near
    assert all("kept for review" in f["reason"] and f["action"] == "none" for f in near)
    cyrillic = by["bre\u0430kglass-01@example.com"]
    assert "CYRILLIC" in cyrillic["reason"] and "LATIN" in cyrillic["reason"]
    assert cloud.calls == [] and all(u.enabled for u in cloud.users.values())


def test_a_look_alike_of_an_exception_is_kept_for_review(tmp_path, cloud) -> None:
    cloud.add(FakeUser("svc-b\u0430tch@example.com", NOW - timedelta(days=300), NOW - timedelta(days=900)))
    cloud.add(FakeUser("SVC-batch@example.com", NOW - timedelta(days=300), NOW - timedelta(days=900)))
    until = (NOW + timedelta(days=30)).date().isoformat()
    cfg = _cfg(tmp_path)
    cfg.write_text(cfg.read_text() + f'[[exceptions]]\nmatch = "svc-batch@*"\nreason = "nightly job"\n'
                                     f'expires = {until}\n')
    r = run("apply", "-c", cfg, "-f", "json", "--yes")
    assert r.exit_code == 0, r.output
    by = {f["identity"]: f for f in json.loads(r.stdout)["findings"]}
    assert by["SVC-batch@example.com"]["decision"] == "excluded"
    near = by["svc-b\u0430tch@example.com"]
    assert near["decision"] == "unknown" and "looks like exception 'svc-batch@*'" in near["reason"], near
    assert cloud.calls == []


def test_accents_encoded_either_way_match_literally() -> None:
    composed, decomposed = "jos\u00e9-admin", "jose\u0301-admin"
    assert excluded_by_login(decomposed, (f"{composed}*",)) and excluded_by_login(composed, (f"{decomposed}*",))
    assert excluded_by_login("JOSE\u0301-ADMIN", (f"{composed}*",))


def _stale(login: str) -> Identity:
    cred = Credential(CredentialKind.ACCOUNT, login, True, Activity.SEEN, NOW - timedelta(days=900),
                      NOW - timedelta(days=300))
    return Identity("fake", "s", login, login, IdentityKind.MEMBER, True, (cred,))


def _judge(identity: Identity, t: Thresholds):
    return evaluate(identity, identity.credentials[0], t, NOW)


def test_missing_exclusion_data_is_unknown_and_never_disable_is_exact() -> None:
    cred = Credential(CredentialKind.ACCOUNT, "u1", True, Activity.SEEN, NOW - timedelta(days=900),
                      NOW - timedelta(days=300))
    plain = Identity("fake", "s", "u1", "ops@example.com", IdentityKind.MEMBER, True, (cred,))
    t = Thresholds(90, 14)
    assert _judge(plain, t).kind is DecisionKind.DISABLE
    missing = Identity("fake", "s", "u1", "ops@example.com", IdentityKind.MEMBER, True, (cred,),
                       exclusion_unknown="the user record has no orgUnitPath")
    d = _judge(missing, t)
    assert d.kind is DecisionKind.UNKNOWN and "orgUnitPath" in d.reason
    net = Thresholds(90, 14, never_disable=frozenset({"u1"}))
    d = _judge(plain, net)
    assert d.kind is DecisionKind.PROTECTED and "never_disable" in d.reason
    assert _judge(plain, Thresholds(90, 14, never_disable=frozenset({"OPS@example.com"}))).kind is DecisionKind.DISABLE


def test_never_disable_in_the_config(tmp_path, cloud) -> None:
    _seed(cloud)
    r = run("apply", "-c", _cfg(tmp_path, 'never_disable = ["stale1@example.com"]'), "-f", "json", "--yes")
    assert r.exit_code == 0, r.output
    assert cloud.users["stale1@example.com"].enabled
    assert sorted(login for _, login in cloud.calls) == ["stale0@example.com", "stale2@example.com"]


# -- a full disk ---------------------------------------------------------------------------------

def test_a_full_disk_is_said_and_nothing_is_acted_on(tmp_path) -> None:
    """The journal cannot grow (a file size limit stands in for a full disk): one line, no traceback,
    and not one call made without its intent recorded."""
    cfg = _cfg(tmp_path)
    code = ("import sys, resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
            "from sweeper import registry; from tests import fakes; from datetime import datetime, timedelta, timezone;"
            "registry.register('fake', 'tests.fakes:FakeSettings', 'tests.fakes:FakeAdapter');"
            "c = fakes.FakeCloud(); fakes.CLOUDS['default'] = c;"
            "now = datetime.now(timezone.utc);"
            "[c.add(fakes.FakeUser(f'u{n}@x.test', now - timedelta(days=300), now - timedelta(days=900))) for n in range(400)];"
            "import sqlite3; from sweeper.journal import Journal; Journal(sys.argv[2]).close();"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (70000, 70000));"
            "from sweeper.cli import app; from typer.testing import CliRunner;"
            "r = CliRunner().invoke(app, ['apply', '-c', sys.argv[1], '--yes', '--max-disable', '1000', '-f', 'json']);"
            "print('EXIT', r.exit_code); print(r.output); print('CALLS', len(c.calls))")
    p = subprocess.run([sys.executable, "-c", code, str(cfg), str(tmp_path / "sweeper.db")], capture_output=True,
                       text=True, cwd=Path(__file__).resolve().parent.parent, timeout=120)
    out = p.stdout + p.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert "EXIT 2" in out or "EXIT 4" in out, out
    assert "disk" in out, out
    calls = int(out.rsplit("CALLS", 1)[1].split()[0])
    db = sqlite3.connect(tmp_path / "sweeper.db")
    recorded = db.execute("SELECT count(*) FROM actions").fetchone()[0]
    assert calls <= recorded, (calls, recorded)


# -- re-enables are respected ---------------------------------------------------------------------

def _night(cfg: Path, day: datetime, *extra: str):
    flags = ["--allow-future-as-of"] if day > datetime.now(timezone.utc) else []
    r = run("apply", "-c", cfg, "--as-of", day.isoformat(), "--yes", "-f", "json", *flags, *extra)
    assert r.exit_code == 0, r.output
    return {f["identity"]: f for f in json.loads(r.stdout)["findings"]}


def test_what_a_helpdesk_re_enabled_gets_its_grace(tmp_path, cloud) -> None:
    _seed(cloud)
    cfg = _cfg(tmp_path, "reenable_grace_days = 30")
    night1 = _night(cfg, NOW)
    assert {login for login, f in night1.items() if f["action"] == "disabled"} == {f"stale{n}@example.com" for n in range(3)}
    cloud.users["stale0@example.com"].enabled = True  # the user came back: the helpdesk re-enables
    cloud.users["stale1@example.com"].enabled = True
    cloud.users["stale1@example.com"].last_used = NOW + timedelta(hours=2)  # ... and this one signs in
    cloud.calls.clear()
    night2 = _night(cfg, NOW + timedelta(days=1))
    kept = night2["stale0@example.com"]
    assert kept["decision"] == "warn" and kept["action"] == "none"
    assert "re-enabled since run" in kept["reason"] and "grace until" in kept["reason"]
    assert "stale1@example.com" not in night2  # used since it came back: simply active
    assert cloud.calls == []
    night3 = _night(cfg, NOW + timedelta(days=20))  # still inside the 30 days from the first sighting
    assert night3["stale0@example.com"]["decision"] == "warn" and cloud.calls == []
    night4 = _night(cfg, NOW + timedelta(days=32))  # grace over, still unused: disabled again, and said so
    again = night4["stale0@example.com"]
    assert again["decision"] == "disable" and again["action"] == "disabled" and "grace ended" in again["reason"]


def test_a_restored_credential_gets_its_grace_and_says_so(tmp_path, cloud) -> None:
    _seed(cloud)
    cfg = _cfg(tmp_path)
    _night(cfg, NOW)
    runs = json.loads(run("history", "-c", cfg, "-f", "json").stdout)["runs"]
    assert run("restore", runs[0]["run_id"], "-c", cfg).exit_code == 0
    cloud.calls.clear()
    night2 = _night(cfg, NOW + timedelta(days=1))
    for n in range(3):
        f = night2[f"stale{n}@example.com"]
        assert f["decision"] == "warn" and "restored by run" in f["reason"], f
    assert cloud.calls == []


def test_replaying_an_old_plan_after_a_restore_is_refused(tmp_path, cloud) -> None:
    _seed(cloud)
    cfg = _cfg(tmp_path)
    assert run("plan", "-c", cfg, "--plan-out", tmp_path / "plan.json").exit_code == 0
    assert run("apply", tmp_path / "plan.json", "-c", cfg, "--yes").exit_code == 0
    runs = json.loads(run("history", "-c", cfg, "-f", "json").stdout)["runs"]
    apply_run = next(r for r in runs if r["mode"] == "apply")
    assert run("restore", apply_run["run_id"], "-c", cfg).exit_code == 0
    cloud.calls.clear()
    assert run("apply", tmp_path / "plan.json", "-c", cfg, "--yes").exit_code == 2
    r = run("apply", tmp_path / "plan.json", "-c", cfg, "--yes", "--reapply", "-f", "json")
    assert r.exit_code == 0 and cloud.calls == []  # even forced, the restored ones are in their grace


# -- restore is careful ------------------------------------------------------------------------------

def _apply_run(cfg: Path) -> str:
    runs = json.loads(run("history", "-c", cfg, "-f", "json").stdout)["runs"]
    return next(r["run_id"] for r in runs if r["mode"] == "apply")


def test_restore_leaves_alone_what_people_changed_since(tmp_path, cloud) -> None:
    _seed(cloud)
    cfg = _cfg(tmp_path)
    _night(cfg, NOW)
    run_id = _apply_run(cfg)
    owner = cloud.users["stale0@example.com"]  # the owner re-activates it and uses it ...
    owner.enabled, owner.last_used = True, datetime.now(timezone.utc)
    owner.enabled = False  # ... then incident response turns it off after a leak
    cloud.users["stale1@example.com"].enabled = True  # a helpdesk re-enabled this one
    r = run("restore", run_id, "-c", cfg)
    assert r.exit_code == 0, r.output
    out = " ".join(r.stdout.split())
    assert "changed since the run" in out and "not restored" in out
    assert not owner.enabled  # incident response's decision stands
    assert cloud.users["stale2@example.com"].enabled  # untouched since the run: restored
    assert [c for c in cloud.calls if c[0] == "enable"] == [("enable", "stale2@example.com")]


def test_an_old_run_needs_force(tmp_path, cloud) -> None:
    import time

    _seed(cloud)
    cfg = _cfg(tmp_path, "restore_max_age_days = 0.00001")  # under a second
    _night(cfg, NOW)
    run_id = _apply_run(cfg)
    time.sleep(1.0)
    r = run("restore", run_id, "-c", cfg)
    assert r.exit_code == 2 and "older than restore_max_age_days" in r.output and "--force" in r.output
    assert run("restore", run_id, "-c", cfg, "--dry-run").exit_code == 0
    assert run("restore", run_id, "-c", cfg, "--force").exit_code == 0
    assert all(u.enabled for u in cloud.users.values())


# -- the journal is an audit trail --------------------------------------------------------------------

def test_a_forged_row_and_a_broken_chain_are_refused_naming_the_row(tmp_path, cloud) -> None:
    _seed(cloud)
    cfg = _cfg(tmp_path)
    _night(cfg, NOW)
    assert "verified" in run("history", "-c", cfg, "--verify").stdout
    db = sqlite3.connect(tmp_path / "sweeper.db")
    with db:  # someone with the sqlite3 shell makes restore enable an account HR disabled
        db.execute("INSERT INTO actions (run_id, provider, scope, identity_id, login, kind, credential_id, action, "
                   "state, before, irreversible, created, updated, uid) SELECT run_id, provider, scope, 'hr-disabled', "
                   "'hr@example.com', kind, 'hr-disabled', action, state, before, 0, created, updated, 'forged/1' "
                   "FROM actions LIMIT 1")
    for args in (["history", "--verify"], ["history"], ["restore", _apply_run_raw(tmp_path)], ["apply", "--yes"]):
        r = run(*args[:1], *args[1:], "-c", cfg)
        assert r.exit_code == 2, (args, r.output)
        assert "forged/1" in r.output or "actions row" in r.output, (args, r.output)
    with db:
        db.execute("DELETE FROM actions WHERE uid = 'forged/1'")
        [(seq,)] = db.execute("SELECT min(seq) FROM events WHERE record LIKE '%\"t\":\"intent\"%'").fetchall()
        db.execute("UPDATE events SET record = replace(record, 'stale', 'STALE') WHERE seq = ?", (seq,))
    r = run("history", "-c", cfg, "--verify")
    assert r.exit_code == 2 and f"event {seq}" in r.output and "chain is broken" in r.output


def _apply_run_raw(tmp_path: Path) -> str:
    db = sqlite3.connect(tmp_path / "sweeper.db")
    return db.execute("SELECT run_id FROM runs WHERE mode = 'apply'").fetchone()[0]


def test_with_a_key_every_event_carries_a_verified_hmac(tmp_path, cloud) -> None:
    _seed(cloud)
    cfg = _cfg(tmp_path)
    key = {"SWEEPER_JOURNAL_KEY": "journal-key-for-tests"}
    r = run("apply", "-c", cfg, "--yes", env=key)
    assert r.exit_code == 0, r.output
    assert "and HMAC verified" in run("history", "-c", cfg, "--verify", env=key).stdout
    bad = run("history", "-c", cfg, "--verify", env={"SWEEPER_JOURNAL_KEY": "another key"})
    assert bad.exit_code == 2 and "HMAC" in bad.output


def test_each_run_records_who_where_and_why(tmp_path, cloud) -> None:
    _seed(cloud)
    cfg = _cfg(tmp_path)
    ci = {"GITHUB_RUN_ID": "4242", "GITHUB_REPOSITORY": "example/sweeps", "GITHUB_SERVER_URL": "https://github.example"}
    assert run("plan", "-c", cfg, "--plan-out", tmp_path / "plan.json").exit_code == 0
    assert run("apply", tmp_path / "plan.json", "-c", cfg, "--yes", env=ci).exit_code == 0
    run_id = _apply_run(cfg)
    detail = json.loads(run("history", "-c", cfg, "--run", run_id, "-f", "json").stdout)
    info = detail["run"]
    assert info["actor"] == {"fake": "sweeper-bot (fake)"} and info["host"]
    assert info["context"]["ci"] == "github" and info["context"]["url"].endswith("/example/sweeps/actions/runs/4242")
    assert info["context"]["version"] and info["config_digest"] and info["plan_digest"]
    assert all(a["reason"] and "last used" in a["reason"] for a in detail["actions"])


def test_a_missing_journal_is_an_error_unless_a_new_one_is_asked_for(tmp_path, cloud) -> None:
    _seed(cloud)
    cfg = _cfg(tmp_path)
    assert run("apply", "-c", cfg, "--yes").exit_code == 0
    (tmp_path / "sweeper.db").unlink()
    for name in ("sweeper.db-wal", "sweeper.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    r = run("history", "-c", cfg)
    assert r.exit_code == 2 and "journal is missing" in r.output and "--new-journal" in r.output
    assert run("apply", "-c", cfg, "--yes").exit_code == 2
    assert run("history", "-c", cfg, "--new-journal").exit_code == 0


def test_an_exclusion_that_matches_nobody_is_reported_as_stale(tmp_path, cloud) -> None:
    _seed(cloud)
    cloud.add(FakeUser("breakglass-01@example.com", NOW - timedelta(days=1), NOW - timedelta(days=900)))
    r = run("plan", "-c", _cfg(tmp_path), "-f", "json")
    assert "stale" not in r.stderr  # breakglass-* matches a login
    path = tmp_path / "sweeper.toml"
    path.write_text(path.read_text().replace('exclude = ["breakglass-*"]', 'exclude = ["breakglass-*", "svc-old-*"]'))
    r = run("plan", "-c", path, "-f", "json")
    assert r.exit_code == 0 and "exclude pattern 'svc-old-*' matched no login" in r.stderr
    assert "'breakglass-*' matched" not in r.stderr
