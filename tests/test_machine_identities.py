"""The core's part of non-human identities (#17): the machine credential kinds, report-only credentials,
expired credentials, and caps that compare machine identities with machine identities."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.model import Activity, Credential, CredentialKind, CredentialRef, DecisionKind, Identity, IdentityKind
from sweeper.policy import Thresholds, evaluate
from sweeper.report_ocsf import to_ocsf
from sweeper.results import Finding, RunResult, ScopeResult
from sweeper.report import summary, summary_line, to_json
from tests.fakes import FakeUser

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
T = Thresholds(inactive_days=90, warn_days=14, kind_days={"role": 180, "service_principal": 60})
runner = CliRunner()


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def machine(kind: CredentialKind, last_used=None, created=ago(1000), cid="r-1", **kw) -> tuple[Identity, Credential]:
    cred = Credential(kind, cid, True, Activity.SEEN if last_used else Activity.NEVER, created, last_used, **kw)
    return Identity("fake", "t", "id-1", "deploy-role", IdentityKind.SERVICE, True, (cred,)), cred


def judge(kind: CredentialKind, last_used=None, t: Thresholds = T, **kw):
    identity, cred = machine(kind, last_used, **kw)
    return evaluate(identity, cred, t, NOW)


class TestKinds:
    def test_labels_name_the_kind_and_only_app_credentials_their_id(self) -> None:
        assert machine(CredentialKind.ROLE)[1].label == "role"
        assert machine(CredentialKind.SERVICE_PRINCIPAL)[1].label == "service_principal"
        assert machine(CredentialKind.APP_CREDENTIAL, cid="6f1c-key")[1].label == "app_credential:6f1c-key"
        assert CredentialRef("fake", "t", "id", "app", CredentialKind.APP_CREDENTIAL, "k9").label == "app_credential:k9"

    def test_each_machine_kind_has_its_own_threshold_and_noun(self) -> None:
        d = judge(CredentialKind.ROLE, ago(181))
        assert d.kind is DecisionKind.DISABLE and d.threshold_days == 180
        assert "over the 180-day threshold for roles" in d.reason
        assert judge(CredentialKind.ROLE, ago(120)).kind is DecisionKind.ACTIVE  # people's 90 days do not apply
        d = judge(CredentialKind.SERVICE_PRINCIPAL, ago(61))
        assert d.kind is DecisionKind.DISABLE and "60-day threshold for service principals" in d.reason
        d = judge(CredentialKind.APP_CREDENTIAL, ago(91))  # no kind threshold: the provider's inactive_days
        assert "90-day threshold for application credentials" in d.reason and d.risk == "high"

    def test_a_never_used_role_is_judged_by_its_creation(self) -> None:
        d = judge(CredentialKind.ROLE, None, created=ago(200))
        assert d.kind is DecisionKind.DISABLE and "never used; created" in d.reason
        assert judge(CredentialKind.ROLE, None, created=ago(10)).kind is DecisionKind.ACTIVE


class TestReportOnly:
    def test_stale_and_report_only_is_reported_never_disabled(self) -> None:
        d = judge(CredentialKind.ROLE, ago(400), report_only='role_action = "report"')
        assert d.kind is DecisionKind.REPORT and d.kind.is_finding
        assert d.reason.endswith('; reported only: role_action = "report"') and "over the 180-day" in d.reason
        assert d.days_inactive == 400 and d.controls

    def test_report_only_gets_no_warning(self) -> None:
        assert judge(CredentialKind.ROLE, ago(170)).kind is DecisionKind.WARN
        assert judge(CredentialKind.ROLE, ago(170), report_only="report only").kind is DecisionKind.ACTIVE
        assert judge(CredentialKind.ROLE, ago(180, ) - timedelta(seconds=1),
                     report_only="report only").kind is DecisionKind.REPORT

    def test_protection_and_exclusion_come_before_report_only(self) -> None:
        identity, cred = machine(CredentialKind.ROLE, ago(400), report_only="x", protected_by="service-linked role")
        assert evaluate(identity, cred, T, NOW).kind is DecisionKind.PROTECTED
        identity, cred = machine(CredentialKind.ROLE, ago(400), report_only="x")
        t = Thresholds(inactive_days=90, warn_days=14, exclude=("deploy-*",))
        assert evaluate(identity, cred, t, NOW).kind is DecisionKind.EXCLUDED

    def test_unknown_activity_stays_unknown(self) -> None:
        identity, _ = machine(CredentialKind.SERVICE_PRINCIPAL)
        cred = Credential(CredentialKind.SERVICE_PRINCIPAL, "sp", True, Activity.UNKNOWN, ago(900),
                          activity_note="no sign-in activity report", report_only="x")
        assert evaluate(identity, cred, T, NOW).kind is DecisionKind.UNKNOWN


class TestExpired:
    def test_an_expired_secret_is_reported_whatever_its_activity(self) -> None:
        d = judge(CredentialKind.APP_CREDENTIAL, ago(2), cid="k1", expires=ago(5), report_only="removal cannot be undone")
        assert d.kind is DecisionKind.REPORT
        assert d.reason.startswith("expired on 2026-11-16, 5 days ago: it no longer signs in; remove it")
        assert "(last used 2026-11-19)" in d.reason and d.reason.endswith("reported only: removal cannot be undone")
        d = judge(CredentialKind.APP_CREDENTIAL, None, cid="k1", expires=ago(1), report_only="x")
        assert d.kind is DecisionKind.REPORT and "(never used)" in d.reason

    def test_a_secret_expiring_later_is_judged_by_use(self) -> None:
        d = judge(CredentialKind.APP_CREDENTIAL, ago(3), cid="k1", expires=NOW + timedelta(days=30), report_only="x")
        assert d.kind is DecisionKind.ACTIVE

    def test_an_expired_but_disabled_credential_is_already_disabled(self) -> None:
        identity, cred = machine(CredentialKind.SERVICE_PRINCIPAL, ago(400), expires=ago(3))
        identity = Identity("fake", "t", "id-1", "sp", IdentityKind.SERVICE, False, (cred,))
        assert evaluate(identity, cred, T, NOW).kind is DecisionKind.ALREADY_DISABLED


def _result(*findings: Finding, machines: int = 0) -> RunResult:
    scope = ScopeResult("fake", "t", identities=5, machines=machines, credentials=len(findings) + 5)
    scope.findings = list(findings)
    return RunResult("r1", "plan", NOW, [scope])


class TestReports:
    def test_json_counts_machine_identities_and_report_findings_only_when_there_are_some(self) -> None:
        plain = to_json(_result())
        assert "machine_identities" not in plain["providers"][0] and "report" not in plain["summary"]
        identity, cred = machine(CredentialKind.ROLE, ago(400), report_only="r")
        f = Finding(identity, cred, evaluate(identity, cred, T, NOW))
        out = to_json(_result(f, machines=3))
        assert out["providers"][0]["machine_identities"] == 3 and out["providers"][0]["decisions"] == {"report": 1}
        assert out["summary"]["report"] == 1 and out["summary"]["machine_identities"] == 3
        assert out["summary"]["identities"] == 5 and out["findings"][0]["credential"] == "role"
        assert "3 machine identities; 1 reported only" in summary_line(_result(f, machines=3))
        assert summary(_result())["identities"] == 5

    def test_ocsf_logs_a_report_finding_and_names_the_role(self) -> None:
        identity, cred = machine(CredentialKind.ROLE, ago(400), report_only="r")
        f = Finding(identity, cred, evaluate(identity, cred, T, NOW))
        event = to_ocsf(_result(f))[0]
        assert (event["disposition_id"], event["disposition"]) == (17, "Logged")
        assert [(r["uid"], r["name"]) for r in event["resources"]] == [("id-1", "deploy-role")]
        assert event["resources"][0]["type"].endswith(" Role") and "role" in event["finding_info"]["title"]


def _config(tmp_path, policy: str) -> str:
    path = tmp_path / "sweeper.toml"
    path.write_text(f'[policy]\n{policy}\n[providers.fake]\ncloud = "default"\n')
    return str(path)


def test_roles_never_make_room_for_more_people_under_the_percent_cap(tmp_path, cloud) -> None:
    """Ten people, one stale; a hundred machine identities, none stale: 10 % of people is one."""
    for n in range(10):
        cloud.add(FakeUser(f"user{n}@example.com", ago(1 if n else 400), ago(900)))
    for n in range(100):
        cloud.add(FakeUser(f"role{n}", ago(1), ago(900), kind=IdentityKind.SERVICE))
    cfg = _config(tmp_path, "max_disable_percent = 10")
    out = json.loads(runner.invoke(app, ["plan", "-c", cfg, "--as-of", "2026-11-21", "-f", "json"]).stdout)
    assert out["providers"][0]["status"] == "ok" and out["summary"]["disable"] == 1
    assert out["providers"][0]["identities"] == 10 and out["providers"][0]["machine_identities"] == 100
    cloud.add(FakeUser("user10@example.com", ago(400), ago(900)))  # two of eleven people: over 10 %,
    r = runner.invoke(app, ["plan", "-c", cfg, "--as-of", "2026-11-21", "-f", "json"])  # however many roles
    assert r.exit_code == 3, r.output
    assert "2 identities to disable exceed max_disable_percent = 10% of 11 identities" in json.loads(r.stdout)[
        "providers"][0]["message"]


def test_machine_identities_are_capped_against_machine_identities(tmp_path, cloud) -> None:
    """A hundred people all in use do not let 3 of 10 machine identities be disabled under 10 %."""
    for n in range(100):
        cloud.add(FakeUser(f"user{n}@example.com", ago(1), ago(900)))
    for n in range(10):
        cloud.add(FakeUser(f"role{n}", ago(400 if n < 3 else 1), ago(900), kind=IdentityKind.SERVICE))
    r = runner.invoke(app, ["plan", "-c", _config(tmp_path, "max_disable_percent = 10"), "--as-of", "2026-11-21",
                            "-f", "json"])
    assert r.exit_code == 3, r.output
    message = json.loads(r.stdout)["providers"][0]["message"]
    assert "3 machine identities to disable exceed max_disable_percent = 10% of 10 machine identities" in message


def test_the_html_report_counts_machine_identities_and_report_findings() -> None:
    from sweeper.report_html import render_html

    identity, cred = machine(CredentialKind.ROLE, ago(400), report_only="r")
    page = render_html(_result(Finding(identity, cred, evaluate(identity, cred, T, NOW)), machines=3), charts=False)
    assert "3 machine identities" in page and "reported only" in page
