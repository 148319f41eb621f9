"""Plan files: what `plan --plan-out` wrote and `apply PLAN` may act on, and nothing else.

A plan names its targets, the config it was made from (digest), when it was made (real clock), and
carries a SHA-256 digest over its own content. The digest detects damage, not tampering: anyone can
recompute it. When `SWEEPER_PLAN_KEY` is set, `plan` also signs the plan (HMAC-SHA256) and `apply`
refuses a plan whose signature is missing or wrong, so an edited or re-dated plan cannot be revived.
Applying is single-use: the journal records each applied plan's digest (see `apply --reapply`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sweeper import files
from sweeper.config import Config
from sweeper.errors import PlanError
from sweeper.model import DecisionKind
from sweeper.results import FindingAction, RunResult
from sweeper.report import rfc3339

SCHEMA_VERSION = 1
KIND = "identity-sweeper-plan"
KEY_ENV = "SWEEPER_PLAN_KEY"
_TARGET_KEYS = ("provider", "scope", "identity_id", "identity", "kind", "credential_id")


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(body)).hexdigest()


def _key() -> bytes | None:
    key = os.environ.get(KEY_ENV)
    return key.encode() if key else None


def _signature(key: bytes, body: dict[str, Any]) -> str:
    return hmac.new(key, _canonical(body), hashlib.sha256).hexdigest()


def digest_of(plan: dict[str, Any]) -> str:
    """The plan's recorded digest (what the journal remembers it by)."""
    return str(plan.get("digest", ""))


def build(result: RunResult, config: Config, created: datetime) -> dict[str, Any]:
    targets = [{"provider": f.identity.provider, "scope": f.identity.scope, "identity_id": f.identity.id,
                "identity": f.identity.login, "kind": f.credential.kind.value,
                "credential_id": f.credential.credential_id}
               for f in result.findings if f.decision.kind is DecisionKind.DISABLE
               or f.decision.kind is DecisionKind.REMOVE and f.action == FindingAction.PLANNED]
    body = {"schema_version": SCHEMA_VERSION, "kind": KIND, "run_id": result.run_id,
            "created": rfc3339(created), "as_of": rfc3339(result.as_of), "config_digest": config.digest,
            "targets": targets}
    plan = {**body, "digest": _digest(body)}
    key = _key()
    if key:
        plan["signature"] = _signature(key, {k: v for k, v in plan.items() if k != "signature"})
    return plan


def write(path: str, plan: dict[str, Any]) -> None:
    """Write the plan file: 0600, atomically, never through a symlink."""
    files.write_private(path, json.dumps(plan, indent=2) + "\n", "plan")


def read(path: str, config: Config, now: datetime, max_age_hours: float) -> set[tuple[str, ...]]:
    """Validate a plan file and return its target keys. Raises PlanError saying what is wrong."""
    return targets(load(path, config, now, max_age_hours), path)


def load(path: str, config: Config, now: datetime, max_age_hours: float) -> dict[str, Any]:
    """Read and validate a plan file (digest, signature when a key is set, config, age)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{path}: plan file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PlanError(f"{path}: cannot read the plan file: {err}") from None
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as err:
        raise PlanError(f"{path}: not a plan file: invalid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(plan, dict) or plan.get("kind") != KIND:
        raise PlanError(f"{path}: not an identity-sweeper plan file (missing \"kind\": \"{KIND}\")")
    if plan.get("schema_version") != SCHEMA_VERSION:
        raise PlanError(f"{path}: schema_version {plan.get('schema_version')!r} is not supported "
                        f"(this sweeper reads {SCHEMA_VERSION})")
    body = {k: v for k, v in plan.items() if k not in ("digest", "signature")}
    if plan.get("digest") != _digest(body):
        raise PlanError(f"{path}: digest does not match the content: the plan was edited or damaged; "
                        "make a new one with `sweeper plan --plan-out`")
    key = _key()
    if key:
        signed = {k: v for k, v in plan.items() if k != "signature"}
        given = plan.get("signature")
        if not isinstance(given, str):
            raise PlanError(f"{path}: the plan is not signed, and {KEY_ENV} is set: only plans signed with "
                            "that key are applied; make a new plan with the key set")
        if not hmac.compare_digest(given, _signature(key, signed)):
            raise PlanError(f"{path}: the plan's signature does not match ({KEY_ENV}): it was edited, re-dated "
                            "or signed with another key; make a new plan")
    if plan.get("config_digest") != config.digest:
        raise PlanError(f"{path}: made from another configuration than {config.path} "
                        "(policy or provider settings differ); make a new plan with this config")
    try:
        created = datetime.fromisoformat(str(plan["created"]).replace("Z", "+00:00"))
        if created.tzinfo is None:
            raise ValueError("no timezone")
    except (KeyError, ValueError) as err:
        raise PlanError(f"{path}: \"created\" is missing or not an RFC 3339 time ({err})") from None
    age = now - created
    if age > timedelta(hours=max_age_hours):
        raise PlanError(f"{path}: plan is {age.total_seconds() / 3600:.1f} h old, older than "
                        f"plan_max_age_hours = {max_age_hours:g}; make a new plan")
    if age < -timedelta(minutes=5):
        raise PlanError(f"{path}: plan was created in the future ({plan['created']})")
    targets(plan, path)
    return plan


def targets(plan: dict[str, Any], path: str) -> set[tuple[str, ...]]:
    """The target keys a validated plan names."""
    found = plan.get("targets")
    if not isinstance(found, list) or not all(
            isinstance(t, dict) and all(isinstance(t.get(k), str) for k in _TARGET_KEYS) for t in found):
        raise PlanError(f"{path}: \"targets\" must be a list of objects with {', '.join(_TARGET_KEYS)}")
    return {(t["provider"], t["scope"], t["identity_id"], t["kind"], t["credential_id"]) for t in found}


def real_now() -> datetime:
    return datetime.now(timezone.utc)
