"""People across clouds (#25) through the real emulators: Entra ID and Google Workspace as the sources of
truth (their audit logs date each departure), AWS IAM on moto's server, the CLI as a user runs it.

Bob was disabled in Entra 10 days ago and his AWS key was used 2 days ago; Dora was deleted from Entra
(deleted items) and kept an AWS user named by her address; Greg, suspended in Google Workspace, still has
a guest account in Entra; Alice works; one IAM user belongs to nobody."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from providers import emulator
from providers.aws_iam.scenarios import MANAGEMENT
from providers.entra import scenario as graph
from providers.google_workspace import scenario as directory
from sweeper.cli import app

NOW = datetime.now(timezone.utc).replace(microsecond=0)
TENANT = "3c9d1f0e-7a2b-4c5d-8e6f-9a0b1c2d3e4f"
CUSTOMER = "C0people1"


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def entra() -> dict[str, Any]:
    bob, disabled = graph.disabled_user("bob@contoso.test", ago(days=10), created=ago(days=900), success=ago(days=11))
    return {"tenant_id": TENANT, "token": "people-entra-token", "licensed": True,
            "users": [graph.user("alice@contoso.test", created=ago(days=900), success=ago(days=1)), bob,
                      graph.guest("greg@fabrikam.test", "contoso.test", created=ago(days=400), success=ago(days=3))],
            "directory_audits": [disabled],
            "deleted_users": [graph.deleted_user("dora@contoso.test", ago(days=12), created=ago(days=900),
                                                 success=ago(days=13))],
            "role_assignments": [], "groups": {}}


def google() -> dict[str, Any]:
    greg, suspended = directory.suspended_user("2000000000000000000001", "greg@fabrikam.test", created=ago(days=800),
                                               suspended_at=ago(days=9), customer_id=CUSTOMER,
                                               last_login=ago(days=9))
    hana = directory.user("2000000000000000000002", "hana@fabrikam.test", created=ago(days=800),
                          last_login=ago(days=1), customer_id=CUSTOMER)
    return {"customer_id": CUSTOMER, "domain": "fabrikam.test", "token": "people-google-token",
            "delegated_admin": False, "users": [greg, hana], "audit": {"activities": [suspended]}}


def aws() -> dict[str, Any]:
    def key(used: float) -> dict[str, Any]:
        return {"created": ago(days=300).isoformat(), "last_used": ago(days=used).isoformat()}

    old = ago(days=900).isoformat()
    return {"accounts": {MANAGEMENT: {"users": [
        {"name": "sweeper-bot", "created": old,
         "keys": [{"created": ago(days=30).isoformat(), "last_used": ago(minutes=5).isoformat(), "caller": True}]},
        {"name": "bob-ci", "created": old, "tags": {"email": "Bob@Contoso.test"}, "keys": [key(2)]},
        {"name": "alice-ci", "created": old, "tags": {"owner": "alice@contoso.test"}, "keys": [key(1)]},
        {"name": "dora@contoso.test", "created": old, "keys": [key(20)]},
        {"name": "legacy-svc", "created": old, "keys": [key(4)]},
    ]}}}


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    pytest.importorskip("moto", reason="moto's server is the AWS emulator: pip install 'identity-sweeper[demo]'")
    monkeypatch.setenv("COLUMNS", "200")
    with ExitStack() as stack:
        sections = ["[policy]\nmax_disable_percent = 100\n",
                    f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n']
        tenant = {**entra(), **getattr(request, "param", {})}  # e.g. the audit log refused
        for provider, scenario, settings in (("aws", aws(), {}), ("entra", tenant, {}),
                                             ("google_workspace", google(), {"activity_sources": []})):
            emu = stack.enter_context(emulator.start(provider, scenario))
            sections.append(emu.config_toml(**settings))
            for name, value in emu.env().items():
                monkeypatch.setenv(name, value)
        path = tmp_path / "sweeper.toml"
        path.write_text("\n".join(sections))
        yield path


def people(path: Path, extra: str = "") -> Path:
    text = path.read_text().split("\n[people]")[0]
    path.write_text(text + '\n[people]\nsources = ["entra", "google_workspace"]\ntags = ["email", "owner"]\n' + extra)
    return path


def run(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def findings(r) -> dict[str, dict[str, Any]]:
    assert r.exit_code == 0, r.output
    return {f["identity"]: f for f in json.loads(r.stdout)["findings"]}


def test_leavers_across_entra_google_and_aws_are_reported(world: Path) -> None:
    r = run("plan", "-c", people(world), "-f", "json")
    found = findings(r)
    bob = found["bob-ci"]
    assert bob["decision"] == "leaver" and bob["person"] == "bob@contoso.test"
    assert bob["leaver"] == f"disabled in entra since {ago(days=10).date().isoformat()}"  # from the audit log
    assert bob["used_after_leaving"] is True and bob["risk"] == "high"
    dora = found["dora@contoso.test"]
    assert dora["decision"] == "leaver" and dora["leaver"].startswith("deleted in entra since")  # deleted items
    greg = next(f for f in found.values() if f["provider"] == "entra" and f["identity"].startswith("greg_"))
    assert greg["decision"] == "leaver"
    assert greg["leaver"] == f"suspended in google_workspace since {ago(days=9).date().isoformat()}"
    assert greg["used_after_leaving"] is True  # the guest signed in 3 days ago, 6 days after the suspension
    assert found["legacy-svc"]["decision"] == "orphan"
    assert "alice-ci" not in found and "alice@contoso.test" not in found
    doc = json.loads(r.stdout)
    assert doc["people"]["counts"]["leavers"] == 3 and doc["summary"]["used_after_leaving"] == 2
    assert doc["summary"]["disable"] == 0  # leavers = report (the default) acts on nothing


def test_leavers_disable_then_restore_through_the_journal(world: Path) -> None:
    path = people(world, 'leavers = "disable"\nleaver_grace_days = 7\n')
    r = run("apply", "-c", path, "-f", "json", "--yes")
    found = findings(r)
    targets = {"bob-ci", "dora@contoso.test"} | {k for k in found if k.startswith("greg_")}
    for login in targets:
        assert found[login]["decision"] == "disable" and found[login]["action"] == "disabled", found[login]
    assert found["legacy-svc"]["action"] == "none"
    again = findings(run("plan", "-c", path, "-f", "json"))
    assert not any(f["decision"] == "disable" for f in again.values()), "disabled: nothing left to do"
    run_id = json.loads(r.stdout)["run_id"]
    back = run("restore", run_id, "-c", path)
    assert back.exit_code == 0, back.output
    after = findings(run("plan", "-c", path, "-f", "json"))
    for login in targets:  # enabled again, and in their re-enable grace: warned, not disabled again
        assert after[login]["decision"] in ("leaver", "warn") and after[login]["action"] == "none", after[login]


def test_the_grace_keeps_a_recent_leaver_reported(world: Path) -> None:
    path = people(world, 'leavers = "disable"\nleaver_grace_days = 11\n')
    found = findings(run("plan", "-c", path, "-f", "json"))
    assert found["bob-ci"]["decision"] == "leaver" and "leaver grace" in found["bob-ci"]["reason"]  # 10 < 11 days
    assert found["dora@contoso.test"]["decision"] == "disable"  # deleted 12 days ago


@pytest.mark.parametrize("world", [{"denied": ["auditLogs"]}], indirect=True)
def test_an_unreadable_audit_log_keeps_its_leavers_reported(world: Path) -> None:
    r = run("plan", "-c", people(world, 'leavers = "disable"\n'), "-f", "json")
    found = findings(r)
    bob = found["bob-ci"]
    assert bob["decision"] == "leaver" and "not known" in bob["reason"] and "used_after_leaving" not in bob
    assert found["dora@contoso.test"]["decision"] == "disable"  # deleted items still date her leaving
    entra_scope = next(p for p in json.loads(r.stdout)["providers"] if p["name"] == "entra")
    assert "AuditLog.Read.All" in entra_scope["message"]
