"""The findings as OCSF 1.3.0 Detection Findings (class 2004, category 2 "Findings"): `-f ocsf`.

One event per finding, as a JSON array with one finding a line (`jq -c '.[]'` makes JSON Lines of it).
Like the JSON report, it keeps the exact values a provider sent (JSON escapes what it must, and the file is
ASCII); docs/ocsf.md describes the mapping. The event applies the `cloud` and `security_control` profiles.

Detection Finding has no `compliance` attribute (only Compliance Finding has), so the controls go under
`unmapped.compliance`, each shaped like OCSF's compliance object (`control`, `standards`), as Prowler does.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sweeper import __version__
from sweeper.model import CredentialKind, DecisionKind, IdentityKind
from sweeper.report import _ordered, display_name, rfc3339
from sweeper.results import Finding, FindingAction, RunResult

OCSF_VERSION = "1.3.0"
PROFILES = ["cloud", "security_control"]
PRODUCT = "identity-sweeper"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/identity-sweeper/ocsf")

# a finding's risk as severity_id and risk_level_id; Critical only for a credential used after its person
# left (#25), the strongest sign of a compromise a sweep can see
CRITICAL = (5, "Critical")
SEVERITY = {"high": (4, "High"), "medium": (3, "Medium"), "low": (2, "Low"), "none": (1, "Informational")}
RISK_LEVEL = {"high": (3, "High"), "medium": (2, "Medium"), "low": (1, "Low"), "none": (0, "Info")}
NEW, IN_PROGRESS, SUPPRESSED, RESOLVED = (1, "New"), (2, "In Progress"), (3, "Suppressed"), (4, "Resolved")
CREATE, CLOSE = (1, "Create"), (3, "Close")
ALLOWED, DENIED = (1, "Allowed"), (2, "Denied")
# disposition_id: what was done, by action; a finding nothing was done about, by its decision
_DONE = {FindingAction.DISABLED: (24, "Access Revoked"), FindingAction.REMOVED: (5, "Deleted"),
         FindingAction.FAILED: (27, "Error"), FindingAction.PLANNED: (15, "Detected")}
_UNDONE = {DecisionKind.WARN: (19, "Alert"), DecisionKind.EXCLUDED: (16, "No Action"),
           DecisionKind.PROTECTED: (16, "No Action"), DecisionKind.REPORT: (17, "Logged"),
           DecisionKind.ORPHAN: (17, "Logged")}
DETECTED = (15, "Detected")

# cloud.provider and cloud.account.type_id per provider (the account is the scope: an AWS account, an
# Entra tenant, a Google customer); a plug-in's provider gets its display name and an unknown type
CLOUD = {"aws": ("AWS", 10, "AWS Account"), "entra": ("Azure", 6, "Azure AD Account"),
         "google_workspace": ("GCP", 5, "GCP Account")}
_USER_TYPE = {IdentityKind.MEMBER: (1, "User"), IdentityKind.ROOT: (2, "Admin"), IdentityKind.SERVICE: (3, "System"),
              IdentityKind.GUEST: (99, "Guest")}
_CREDENTIAL = {CredentialKind.ACCESS_KEY: "Access Key", CredentialKind.CONSOLE_PASSWORD: "Console Password",
               CredentialKind.ACCOUNT: "Account", CredentialKind.APP_CREDENTIAL: "Application Credential",
               CredentialKind.ROLE: "Role", CredentialKind.SERVICE_PRINCIPAL: "Service Principal"}
# a machine identity is its own credential: the resource is the role or service principal itself
_WHOLE = {CredentialKind.ACCOUNT: "User", CredentialKind.ROLE: "Role",
          CredentialKind.SERVICE_PRINCIPAL: "Service Principal"}


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def stable_uid(*parts: str) -> str:
    """A name-based UUID of `parts`: the same parts give the same id in every run and every report."""
    return str(uuid.uuid5(_NAMESPACE, json.dumps(parts)))  # json.dumps: ASCII, lone surrogates included


def _status(f: Finding) -> tuple[int, str]:
    if f.action in (FindingAction.DISABLED, FindingAction.REMOVED):
        return RESOLVED
    if f.decision.kind in (DecisionKind.EXCLUDED, DecisionKind.PROTECTED):
        return SUPPRESSED
    if f.held and f.action is not FindingAction.FAILED:
        return IN_PROGRESS  # a disable held back until its owner has had the notice
    return NEW


def _compliance(f: Finding) -> list[dict[str, Any]]:
    """The decision's controls as OCSF compliance objects: the control and the benchmark that names it."""
    from sweeper import registry

    try:
        known = {c.id: c.benchmark for c in registry.info(f.identity.provider).controls.get(f.credential.kind, ())}
    except Exception:  # noqa: BLE001 - a report never fails over a label
        known = {}
    return [{"control": c, "standards": [known.get(c) or c]} for c in f.decision.controls]


def _user(f: Finding) -> dict[str, Any]:
    ident = f.identity
    type_id, type_name = _USER_TYPE.get(ident.kind, (0, "Unknown"))
    user: dict[str, Any] = {"uid": ident.id, "name": ident.login, "type_id": type_id, "type": type_name}
    if ident.display_name:
        user["full_name"] = ident.display_name
    if f.credential.kind in (CredentialKind.ACCESS_KEY, CredentialKind.APP_CREDENTIAL):
        user["credential_uid"] = f.credential.credential_id
    return user


def _resources(f: Finding) -> list[dict[str, Any]]:
    ident, cred = f.identity, f.credential
    noun = _WHOLE.get(cred.kind, "Application" if cred.kind is CredentialKind.APP_CREDENTIAL else "User")
    identity = {"uid": ident.id, "name": ident.login, "type": f"{display_name(ident.provider)} {noun}"}
    if cred.kind in _WHOLE:
        return [identity]
    return [identity, {"uid": cred.credential_id, "name": cred.label, "type": _CREDENTIAL.get(cred.kind, cred.kind.value.replace("_", " ").title()),
                       "owner": _user(f)}]


def finding_event(f: Finding, result: RunResult) -> dict[str, Any]:
    """One finding as an OCSF Detection Finding."""
    ident, cred, decision = f.identity, f.credential, f.decision
    key = (ident.provider, ident.scope, ident.id, cred.kind.value, cred.credential_id)
    status = _status(f)
    activity = CLOSE if status == RESOLVED else CREATE
    severity = CRITICAL if decision.used_after_leaving else SEVERITY.get(decision.risk, (0, "Unknown"))
    risk = RISK_LEVEL.get(decision.risk, (99, decision.risk))
    action = DENIED if f.action in (FindingAction.DISABLED, FindingAction.REMOVED) else ALLOWED
    disposition = _DONE.get(f.action) or _UNDONE.get(decision.kind, DETECTED)
    provider, account_type_id, account_type = CLOUD.get(ident.provider, (display_name(ident.provider), 0, "Unknown"))
    noun = _CREDENTIAL.get(cred.kind, cred.kind.value.replace("_", " ")).lower()
    as_of = epoch_ms(result.as_of)
    event: dict[str, Any] = {
        "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "category_name": "Findings",
        "activity_id": activity[0], "activity_name": activity[1],
        "type_uid": 2004 * 100 + activity[0], "type_name": f"Detection Finding: {activity[1]}",
        "time": as_of,
        "severity_id": severity[0], "severity": severity[1],
        "risk_level_id": risk[0], "risk_level": risk[1],
        "status_id": status[0], "status": status[1], "status_code": f.action,
        **({"status_detail": f.error} if f.error is not None else {}),
        "action_id": action[0], "action": action[1],
        "disposition_id": disposition[0], "disposition": disposition[1],
        "message": decision.reason,
        "metadata": {
            "version": OCSF_VERSION, "profiles": PROFILES,
            "product": {"name": PRODUCT, "uid": PRODUCT, "vendor_name": PRODUCT, "version": __version__},
            "uid": stable_uid(result.run_id, *key),  # this event: one per finding and run
            "correlation_uid": result.run_id,  # the events of one run
            "event_code": f"inactive_{cred.kind.value}",
            "labels": [f"mode:{result.mode}", f"decision:{decision.kind.value}", f"action:{f.action}"],
        },
        "finding_info": {
            "uid": stable_uid(*key),  # the finding itself: the same in every run, to correlate re-runs
            "title": f"Inactive {noun}: {ident.login}",
            "desc": decision.reason,
            "types": [f"Inactive {noun}"],
            "created_time": as_of,
            "analytic": {"type_id": 1, "type": "Rule", "name": "inactivity policy", "uid": f"inactive_{cred.kind.value}"},
        },
        "cloud": {"provider": provider, "account": {"uid": ident.scope, "type_id": account_type_id, "type": account_type}},
        "resources": _resources(f),
        "evidences": [{"user": _user(f)}],
        "unmapped": {
            "decision": decision.kind.value, "days_inactive": decision.days_inactive,
            "threshold_days": decision.threshold_days, "last_used": rfc3339(cred.last_used),
            "credential_created": rfc3339(cred.created), "identity_kind": ident.kind.value,
            "irreversible": cred.irreversible, "run_mode": result.mode,
            "compliance": _compliance(f),
        },
    }
    return event


def to_ocsf(result: RunResult) -> list[dict[str, Any]]:
    return [finding_event(f, result) for f in _ordered(result)]


def render_ocsf(result: RunResult) -> str:
    """A JSON array of Detection Findings, one a line (no findings: `[]`)."""
    events = [json.dumps(e, separators=(",", ":")) for e in to_ocsf(result)]
    return "[\n" + ",\n".join(events) + "\n]\n" if events else "[]\n"
