"""The whole Okta lifecycle through the CLI, against the emulator: plan (who is a candidate and who is not),
apply suspends, restore unsuspends; removal deactivates only with --allow-remove, and restore says it
cannot bring a deactivated user back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from providers.okta.emulator import OktaEmulator
from providers.okta.scenario import ORG_ID, user
from sweeper.cli import app
from sweeper.journal import Journal
from sweeper.model import Action

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)  # + 40 days is still in the past: no --allow-future-as-of
TOKEN = "00LifecycleOktaToken-SECRET"
D = "life.test"


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def day(n: int) -> str:
    return (NOW + timedelta(days=n)).isoformat()


USERS = {name: user(f"{name}@{D}", created=ago(900), last_login=ago(last) if last is not None else None, status=status)
         for name, last, status in (("runner", 1, "ACTIVE"), ("admin", 300, "ACTIVE"), ("stale", 200, "ACTIVE"),
                                    ("never", None, "ACTIVE"), ("active", 2, "ACTIVE"), ("away", 400, "SUSPENDED"),
                                    ("locked", 200, "LOCKED_OUT"), ("staged", None, "STAGED"))}
USERS["garbled"] = user(f"garbled@{D}", created=ago(900), last_login="not a date")
USERS["newbie"] = user(f"newbie@{D}", created=ago(3))


@pytest.fixture
def emu(clean_env: pytest.MonkeyPatch) -> Iterator[OktaEmulator]:
    admins = [USERS["runner"]["id"], USERS["admin"]["id"]]
    scenario = {"org_id": ORG_ID, "users": list(USERS.values()), "admins": admins,
                "api_tokens": {TOKEN: USERS["runner"]["id"]}}
    with OktaEmulator(scenario) as em:
        clean_env.setenv("SWEEPER_OKTA_TOKEN", TOKEN)
        yield em


@pytest.fixture
def cfg(tmp_path: Path, emu: OktaEmulator) -> Path:
    path = tmp_path / "sweeper.toml"
    path.write_text("[policy]\ninactive_days = 90\nmax_disable = 100\nmax_disable_percent = 100\n"
                    "remove_after_days = 30\n"
                    f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n' + emu.config_toml())
    return path


def run(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def findings(r: Any) -> dict[str, dict[str, Any]]:
    assert r.stdout.lstrip().startswith("{"), r.output
    return {f["identity"].split("@")[0]: f for f in json.loads(r.stdout)["findings"]}


def status(emu: OktaEmulator, name: str) -> str | None:
    return emu.status_of(USERS[name]["id"])


def test_plan_judges_okta_users(emu, cfg) -> None:
    r = run("plan", "-c", cfg, "--as-of", day(0), "-f", "json")
    assert r.exit_code == 0, r.output
    found = findings(r)
    assert found["stale"]["decision"] == "disable" and found["never"]["decision"] == "disable"
    assert "900" in found["never"]["reason"]  # never signed in: judged by its creation, 900 days ago
    assert found["admin"]["decision"] == "protected" and "admin role" in found["admin"]["reason"]
    assert found["locked"]["decision"] == "report" and "only ACTIVE" in found["locked"]["reason"]
    assert found["garbled"]["decision"] == "unknown"
    assert found["staged"]["decision"] == "report"  # never activated, created 900 days ago: Okta cannot suspend it
    for kept in ("away", "active", "newbie", "runner"):  # the suspended one is not counted
        assert kept not in found, kept
    summary = json.loads(r.stdout)["summary"]
    assert summary["disable"] == 2 and summary["already_disabled"] == 1, summary
    assert TOKEN not in r.output


def test_apply_suspends_and_restore_unsuspends(emu, cfg) -> None:
    r = run("apply", "-c", cfg, "--as-of", day(0), "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    assert (status(emu, "stale"), status(emu, "never"), status(emu, "admin")) == ("SUSPENDED", "SUSPENDED", "ACTIVE")
    run_id = next(a.run_id for a in Journal(cfg.parent / "sweeper.db").actions() if a.action is Action.DISABLE)
    r = run("restore", run_id, "-c", cfg, "--yes")
    assert r.exit_code == 0, r.output
    assert (status(emu, "stale"), status(emu, "never")) == ("ACTIVE", "ACTIVE")
    assert emu.request_counts()[f"POST /api/v1/users/{USERS['stale']['id']}/lifecycle/unsuspend"] == 1


def test_removal_deactivates_only_when_allowed_and_restore_says_it_cannot(emu, cfg) -> None:
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    planned = findings(run("plan", "-c", cfg, "--as-of", day(31), "-f", "json"))
    assert planned["stale"]["decision"] == "remove" and "irreversible" in planned["stale"]["reason"]
    assert "away" not in planned  # suspended by someone else: never removed
    r = run("apply", "-c", cfg, "--as-of", day(31), "--yes", "-f", "json")
    assert r.exit_code == 0 and status(emu, "stale") == "SUSPENDED"  # the config alone never deactivates
    r = run("apply", "-c", cfg, "--as-of", day(31), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    assert findings(r)["stale"]["action"] == "removed" and status(emu, "stale") == "DEPROVISIONED"
    removal = next(a.run_id for a in Journal(cfg.parent / "sweeper.db").actions() if a.action is Action.REMOVE)
    r = run("restore", removal, "-c", cfg, "--yes")
    assert "cannot restore" in r.output and status(emu, "stale") == "DEPROVISIONED"
    assert not any("/lifecycle/activate" in k for k in emu.request_counts())
