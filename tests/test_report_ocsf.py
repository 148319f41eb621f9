"""#15 item 2: `-f ocsf` gives the findings as OCSF 1.3.0 Detection Findings that validate against the class's
JSON Schema, with the mapping docs/ocsf.md documents: severity from risk, status from decision and action, the
cloud account from the scope, the identity and the credential as resources, the controls as compliance objects.

The JSON Schema is generated offline by the `ocsf-json-schema` package (test extra) from the schema export of the
OCSF server for that version, which the package ships (the same export schema.ocsf.io serves); it is the schema
of class `detection_finding` with the profiles the events apply (`metadata.profiles`).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from sweeper import registry
from sweeper.cli import app
from sweeper.model import Activity, Credential, CredentialKind, Decision, DecisionKind, Identity, IdentityKind
from sweeper.policy import GENERIC_CONTROLS
from sweeper.report_ocsf import OCSF_VERSION, PROFILES, render_ocsf, stable_uid
from sweeper.results import Finding, FindingAction, RunResult, ScopeResult
from tests.fakes import FakeCloud, FakeUser

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
AS_OF = "2026-11-21"
runner = CliRunner()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=OCSF_VERSION)).get_class_schema(
        "detection_finding", profiles=list(PROFILES))
    assert schema["$id"].endswith(f"/{OCSF_VERSION}/classes/detection_finding?profiles={','.join(PROFILES)}")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def valid(validator: jsonschema.Draft202012Validator, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for event in events:
        errors = sorted(validator.iter_errors(event), key=str)
        assert not errors, [f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5]]
    return events


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def run(*args: object):
    r = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in r.output, r.output[-3000:]
    return r


@pytest.fixture
def cfg(tmp_path: Path, cloud: FakeCloud) -> Path:
    cloud.add(FakeUser("stale@example.com", ago(200), ago(900), keys=1))
    cloud.add(FakeUser("fresh@example.com", ago(3), ago(900)))
    cloud.add(FakeUser("warned@example.com", ago(80), ago(900)))
    cloud.add(FakeUser("breakglass-1@example.com", ago(500), ago(900)))
    cloud.add(FakeUser("admin@example.com", ago(500), ago(900), protected_by="super admin"))
    cloud.add(FakeUser("odd@example.com", None, ago(900), activity=Activity.UNKNOWN, note="garbled date"))
    cloud.add(FakeUser("guest@example.com", ago(300), ago(900), kind=IdentityKind.GUEST))
    path = tmp_path / "sweeper.toml"
    path.write_text('[policy]\nmax_disable_percent = 100\nexclude = ["breakglass-*"]\n'
                    f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n[providers.fake]\ncloud = "default"\n')
    return path


def by_credential(events: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["resources"][0]["name"], e["metadata"]["event_code"].removeprefix("inactive_")): e for e in events}


def test_plan_writes_valid_detection_findings(cfg: Path, tmp_path: Path, validator) -> None:
    out = tmp_path / "findings.ocsf.json"  # the name says the format: .json alone would be the JSON report
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json", "-o", out, "-o", tmp_path / "report.json")
    assert r.exit_code == 0, r.output
    events = valid(validator, json.loads(out.read_text(encoding="ascii")))
    plain = json.loads((tmp_path / "report.json").read_text())
    assert len(events) == len(plain["findings"]) == 7  # every finding, active credentials none
    assert out.read_text().count("\n") == len(events) + 2  # `[`, one finding a line, `]`

    got = by_credential(events)
    stale = got["stale@example.com", "account"]
    assert (stale["class_uid"], stale["category_uid"], stale["type_uid"]) == (2004, 2, 200401)
    assert (stale["status_id"], stale["status"], stale["status_code"]) == (1, "New", "planned")
    assert (stale["action_id"], stale["disposition_id"], stale["disposition"]) == (1, 15, "Detected")
    assert stale["time"] == stale["finding_info"]["created_time"] == int(NOW.timestamp() * 1000)
    assert stale["unmapped"]["days_inactive"] == 200 and stale["unmapped"]["threshold_days"] == 90
    assert stale["unmapped"]["decision"] == "disable" and stale["unmapped"]["last_used"] == "2026-05-05T00:00:00Z"
    assert stale["message"] == stale["finding_info"]["desc"] == plain_reason(plain, "stale@example.com", "account")
    assert stale["cloud"]["account"]["uid"] == "fake-tenant"
    assert stale["metadata"]["correlation_uid"] == plain["run_id"]
    assert [c["control"] for c in stale["unmapped"]["compliance"]] == list(GENERIC_CONTROLS)
    assert len(stale["resources"]) == 1 and stale["evidences"][0]["user"]["name"] == "stale@example.com"

    key = got["stale@example.com", "access_key"]
    assert key["resources"][1]["uid"] == "stale@example.com#k1"
    assert key["resources"][1]["owner"]["credential_uid"] == "stale@example.com#k1"

    warned, excluded = got["warned@example.com", "account"], got["breakglass-1@example.com", "account"]
    protected, odd = got["admin@example.com", "account"], got["odd@example.com", "account"]
    assert (warned["severity_id"], warned["status_id"], warned["disposition"]) == (2, 1, "Alert")
    assert (excluded["status_id"], excluded["status"], excluded["disposition"]) == (3, "Suppressed", "No Action")
    assert (protected["status_id"], protected["disposition_id"]) == (3, 16)
    assert (odd["severity_id"], odd["unmapped"]["decision"], odd["unmapped"]["days_inactive"]) == (3, "unknown", None)
    guest = got["guest@example.com", "account"]
    assert (guest["severity_id"], guest["severity"], guest["risk_level_id"]) == (4, "High", 3)
    assert guest["evidences"][0]["user"]["type"] == "Guest"


def plain_reason(report: dict[str, Any], login: str, credential: str) -> str:
    return next(f["reason"] for f in report["findings"] if f["identity"] == login and f["credential"] == credential)


def test_apply_resolves_what_it_disabled(cfg: Path, cloud: FakeCloud, validator) -> None:
    cloud.fail_apply_for = {"guest@example.com"}
    r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "ocsf")
    assert r.exit_code == 4, r.output  # the failed disable
    got = by_credential(valid(validator, json.loads(r.stdout)))
    done = got["stale@example.com", "account"]
    assert (done["status_id"], done["status"], done["activity_id"], done["type_uid"]) == (4, "Resolved", 3, 200403)
    assert (done["action_id"], done["action"], done["disposition_id"]) == (2, "Denied", 24)
    failed = got["guest@example.com", "account"]
    assert (failed["status_id"], failed["status_code"], failed["disposition"]) == (1, "failed", "Error")
    assert failed["status_detail"] and failed["status_detail"] in r.stdout
    assert got["breakglass-1@example.com", "account"]["status_id"] == 3


def finding(provider: str = "aws", kind: CredentialKind = CredentialKind.ACCESS_KEY,
            decision: DecisionKind = DecisionKind.DISABLE, risk: str = "high",
            action: FindingAction = FindingAction.PLANNED, *, held: bool = False, error: str | None = None,
            controls: tuple[str, ...] = GENERIC_CONTROLS, login: str = "alice") -> Finding:
    cred = Credential(kind, "AKIAEXAMPLE" if kind is CredentialKind.ACCESS_KEY else f"id-{login}", True, Activity.SEEN,
                      ago(900), ago(120))
    ident = Identity(provider, "123456789012", f"id-{login}", login, IdentityKind.MEMBER, True, (cred,),
                     display_name=f"{login.title()} Example")
    return Finding(ident, cred, Decision(decision, "unused for 120 days (threshold 90)", 90, 120, risk, controls),
                   action, error, held)


def render(*findings: Finding, run_id: str = "20261121T000000Z-abcdef", mode: str = "plan") -> list[dict[str, Any]]:
    scopes: dict[tuple[str, str], ScopeResult] = {}
    for f in findings:
        scopes.setdefault((f.identity.provider, f.identity.scope),
                          ScopeResult(f.identity.provider, f.identity.scope)).findings.append(f)
    events: list[dict[str, Any]] = json.loads(render_ocsf(RunResult(run_id, mode, NOW, list(scopes.values()))))
    return events


@pytest.mark.parametrize(("risk", "severity", "risk_level"), [("high", (4, "High"), (3, "High")),
                                                              ("medium", (3, "Medium"), (2, "Medium")),
                                                              ("low", (2, "Low"), (1, "Low")),
                                                              ("none", (1, "Informational"), (0, "Info")),
                                                              ("odd", (0, "Unknown"), (99, "odd"))])
def test_severity_follows_the_risk(risk: str, severity: tuple[int, str], risk_level: tuple[int, str],
                                   validator) -> None:
    [event] = valid(validator, render(finding(risk=risk)))
    assert (event["severity_id"], event["severity"]) == severity
    assert (event["risk_level_id"], event["risk_level"]) == risk_level


@pytest.mark.parametrize(("decision", "action", "held", "status", "disposition", "action_id"), [
    (DecisionKind.DISABLE, FindingAction.PLANNED, False, (1, "New"), (15, "Detected"), 1),
    (DecisionKind.DISABLE, FindingAction.DISABLED, False, (4, "Resolved"), (24, "Access Revoked"), 2),
    (DecisionKind.REMOVE, FindingAction.REMOVED, False, (4, "Resolved"), (5, "Deleted"), 2),
    (DecisionKind.DISABLE, FindingAction.FAILED, False, (1, "New"), (27, "Error"), 1),
    (DecisionKind.WARN, FindingAction.NONE, True, (2, "In Progress"), (19, "Alert"), 1),
    (DecisionKind.WARN, FindingAction.NONE, False, (1, "New"), (19, "Alert"), 1),
    (DecisionKind.EXCLUDED, FindingAction.NONE, False, (3, "Suppressed"), (16, "No Action"), 1),
    (DecisionKind.PROTECTED, FindingAction.NONE, False, (3, "Suppressed"), (16, "No Action"), 1),
    (DecisionKind.UNKNOWN, FindingAction.NONE, False, (1, "New"), (15, "Detected"), 1),
])
def test_status_and_disposition_follow_decision_and_action(decision, action, held, status, disposition, action_id,
                                                           validator) -> None:
    error = "AccessDenied: not allowed" if action is FindingAction.FAILED else None
    [event] = valid(validator, render(finding(decision=decision, action=action, held=held, error=error)))
    assert (event["status_id"], event["status"]) == status
    assert (event["disposition_id"], event["disposition"]) == disposition
    assert event["action_id"] == action_id and event["unmapped"]["decision"] == decision.value
    assert event.get("status_detail") == error
    assert event["activity_id"] == (3 if status[1] == "Resolved" else 1)
    assert event["type_uid"] == 200400 + event["activity_id"]


def test_cloud_account_resources_and_controls_per_provider(validator) -> None:
    aws = registry.info("aws")
    cis = [c for c in aws.controls[CredentialKind.ACCESS_KEY] if c.max_days][0]
    events = valid(validator, render(finding("aws", controls=(cis.id, "NIST 800-53 AC-2(3)")),
                                     finding("entra", CredentialKind.ACCOUNT, login="bob"),
                                     finding("google_workspace", CredentialKind.ACCOUNT, login="carol"),
                                     finding("fake", CredentialKind.CONSOLE_PASSWORD, login="dave")))
    clouds = {e["resources"][0]["name"]: e["cloud"] for e in events}
    assert clouds["alice"] == {"provider": "AWS", "account": {"uid": "123456789012", "type_id": 10,
                                                              "type": "AWS Account"}}
    assert (clouds["bob"]["provider"], clouds["bob"]["account"]["type_id"]) == ("Azure", 6)
    assert (clouds["carol"]["provider"], clouds["carol"]["account"]["type_id"]) == ("GCP", 5)
    assert clouds["dave"]["account"]["type_id"] == 0  # a plug-in's provider: its name, an unknown account type
    alice = next(e for e in events if e["resources"][0]["name"] == "alice")
    assert alice["resources"] == [
        {"uid": "id-alice", "name": "alice", "type": "AWS IAM User"},
        {"uid": "AKIAEXAMPLE", "name": "access_key:AKIAEXAMPLE", "type": "Access Key",
         "owner": {"uid": "id-alice", "name": "alice", "type_id": 1, "type": "User", "full_name": "Alice Example",
                   "credential_uid": "AKIAEXAMPLE"}}]
    assert alice["unmapped"]["compliance"] == [
        {"control": cis.id, "standards": [cis.benchmark]},
        {"control": "NIST 800-53 AC-2(3)", "standards": ["NIST SP 800-53 Rev. 5"]}]
    assert alice["finding_info"]["title"] == "Inactive access key: alice"
    bob = next(e for e in events if e["resources"][0]["name"] == "bob")
    assert len(bob["resources"]) == 1 and bob["evidences"][0]["user"]["uid"] == "id-bob"


def test_uids_correlate_findings_across_runs_and_events_within_one(validator) -> None:
    first = render(finding(), finding(login="bob"), run_id="20261121T000000Z-aaaaaa")
    again = render(finding(), finding(login="bob"), run_id="20261121T000000Z-aaaaaa")
    later = render(finding(), finding(login="bob"), run_id="20261122T000000Z-bbbbbb")
    assert first == again  # the same run renders the same events
    assert [e["finding_info"]["uid"] for e in first] == [e["finding_info"]["uid"] for e in later]
    assert {e["metadata"]["uid"] for e in first}.isdisjoint(e["metadata"]["uid"] for e in later)
    assert len({e["finding_info"]["uid"] for e in first}) == 2
    assert first[0]["finding_info"]["uid"] == stable_uid("aws", "123456789012", "id-alice", "access_key", "AKIAEXAMPLE")


def test_metadata_names_the_schema_and_the_product(validator) -> None:
    [event] = valid(validator, render(finding()))
    meta = event["metadata"]
    assert meta["version"] == OCSF_VERSION and meta["profiles"] == PROFILES
    assert meta["product"] == {"name": "identity-sweeper", "uid": "identity-sweeper",
                               "vendor_name": "identity-sweeper", "version": version("identity-sweeper")}
    assert meta["labels"] == ["mode:plan", "decision:disable", "action:planned"]


def test_no_findings_is_an_empty_array() -> None:
    assert render_ocsf(RunResult("20261121T000000Z-abcdef", "plan", NOW, [ScopeResult("fake", "t")])) == "[]\n"


@pytest.mark.parametrize("breakage", ["no class_uid", "severity_id 7", "class_uid 2001", "type_uid of another class",
                                      "status_id 5", "no finding_info.uid", "compliance at the top",
                                      "no metadata.product.vendor_name", "resource with neither uid nor name",
                                      "no cloud"])
def test_the_schema_rejects_a_broken_event(breakage: str, validator) -> None:
    [good] = render(finding())
    assert validator.is_valid(good)
    bad = copy.deepcopy(good)
    if breakage == "no class_uid":
        del bad["class_uid"]
    elif breakage == "severity_id 7":
        bad["severity_id"] = 7
    elif breakage == "class_uid 2001":
        bad["class_uid"] = 2001
    elif breakage == "type_uid of another class":
        bad["type_uid"] = 200101
    elif breakage == "status_id 5":
        bad["status_id"] = 5
    elif breakage == "no finding_info.uid":
        del bad["finding_info"]["uid"]
    elif breakage == "compliance at the top":  # why the controls are under `unmapped`
        bad["compliance"] = bad["unmapped"]["compliance"][0]
    elif breakage == "no metadata.product.vendor_name":
        del bad["metadata"]["product"]["vendor_name"]
    elif breakage == "resource with neither uid nor name":
        bad["resources"][0] = {"type": "AWS IAM User"}
    elif breakage == "no cloud":
        del bad["cloud"]
    assert not validator.is_valid(bad), breakage


def test_a_consumer_on_a_later_ocsf_version_reads_them_too() -> None:
    """1.x versions only add: the events also validate against the newest schema the package ships."""
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version="1.8.0")).get_class_schema(
        "detection_finding", profiles=list(PROFILES))
    later = jsonschema.Draft202012Validator(schema)
    events = render(*(finding(decision=d, action=a, error="denied" if a is FindingAction.FAILED else None)
                      for d, a in [(DecisionKind.DISABLE, FindingAction.DISABLED), (DecisionKind.WARN, FindingAction.NONE),
                                   (DecisionKind.DISABLE, FindingAction.FAILED)]),
                    finding("entra", CredentialKind.ACCOUNT, login="bob"))
    valid(later, events)


@pytest.mark.parametrize(("name", "suffix"), [("findings.ocsf.json", ".ocsf"), ("s3://b/r/{run_id}.OCSF.JSON", ".ocsf"),
                                              ("report.json", ".json"), ("report.csv.json", ".json"),
                                              ("nightly.v2.json", ".json"), ("findings.ocsf", ".ocsf"),
                                              ("report", "")])
def test_the_file_name_says_the_format(name: str, suffix: str) -> None:
    from sweeper.cli import output_target

    assert output_target(name, "20261121T000000Z-abcdef", None)[1] == suffix
