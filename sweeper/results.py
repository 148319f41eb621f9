"""What a sweep found and did: findings, the result per scope and per run, and the run's exit code."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum, StrEnum
from typing import Any

from sweeper.model import Credential, CredentialRef, Decision, DecisionKind, Identity, ProviderStatus, RunStatus


class FindingAction(StrEnum):
    """What was done about a finding: the report's `action` field."""

    NONE = "none"
    PLANNED = "planned"  # a disable this run would make (plan), or is about to make (apply)
    DISABLED = "disabled"
    REMOVED = "removed"
    FAILED = "failed"


class ExitCode(IntEnum):
    """The exit codes a run's result decides (design.md §4); 1 and 2 come from errors, not results."""

    OK = 0
    STOPPED = 3  # a safety stop: capped or not measured, nothing disabled there
    PARTIAL = 4  # a provider could not be listed, an action failed, or the run's end was not recorded
    FINDINGS = 10  # `plan --exit-code` found something to disable


def new_run_id() -> str:
    """A run id that sorts by start time: `20261121T040000Z-1a2b3c` (real clock, UTC)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


@dataclass
class Finding:
    identity: Identity
    credential: Credential
    decision: Decision
    action: FindingAction = FindingAction.NONE
    error: str | None = None
    held: bool = False  # a disable held back as a warning until its owner has had the required notice

    @property
    def ref(self) -> CredentialRef:
        return CredentialRef.of(self.identity, self.credential)


@dataclass
class ScopeResult:
    provider: str
    scope: str
    status: ProviderStatus = ProviderStatus.OK
    identities: int = 0  # people: members, guests, root
    machines: int = 0  # machine identities (IdentityKind.SERVICE): roles, service principals, applications
    credentials: int = 0
    already_disabled: int = 0
    message: str | None = None
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    patterns: set[str] = field(default_factory=set)  # exclude patterns in force for this scope
    unmatched: set[str] = field(default_factory=set)  # ... and those no login of this scope matched
    disabled_pool: list[Any] = field(default_factory=list, repr=False)  # (identity, credential) found disabled
    pending: list[Any] = field(default_factory=list, repr=False)  # a source's identities judged once people are known
    removal_capped: bool = False  # more removals than max_remove: none was made here (a safety stop)
    # for the HTML report's histogram: days since last use (since creation when never used) of every
    # credential judged, in use or found, by day; and the policy's threshold and warning window here
    ages: Counter[int] = field(default_factory=Counter, repr=False)
    inactive_days: int | None = None
    warn_days: int | None = None

    def say(self, text: str) -> None:
        self.notes.append(text)
        self.message = "; ".join(self.notes)


@dataclass
class RunResult:
    run_id: str
    mode: str  # plan | apply
    as_of: datetime
    scopes: list[ScopeResult] = field(default_factory=list)
    journal_error: str | None = None  # the run's end could not be recorded (its actions were)
    notices: list[dict[str, Any]] = field(default_factory=list)  # `notify`: what was sent, to whom, with what result
    channels_failed: bool = False  # `notify`: channels were configured and every one of them failed
    config_digest: str = ""  # SHA-256 of the config the run judged with (the journal records it too)
    people: dict[str, Any] | None = None  # with `[people]` (#25): the people view (sweeper.people.Linker.view)

    def stale_patterns(self) -> list[str]:
        """Exclude patterns that matched no login in any scope listed completely (stale, or mistyped)."""
        listed = [s for s in self.scopes if s.status is not ProviderStatus.FAILED and s.patterns]
        every = set().union(*(s.patterns for s in listed)) if listed else set()
        return sorted(g for g in every if all(g in s.unmatched for s in listed if g in s.patterns))

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.scopes for f in s.findings]

    def exit_code(self, *, exit_on_findings: bool = False) -> ExitCode:
        statuses = {s.status for s in self.scopes}
        if (self.journal_error or self.channels_failed or ProviderStatus.FAILED in statuses
                or any(f.action == FindingAction.FAILED for f in self.findings)):
            return ExitCode.PARTIAL
        if statuses & {ProviderStatus.CAPPED, ProviderStatus.NOT_MEASURED} or any(s.removal_capped for s in self.scopes):
            return ExitCode.STOPPED
        if exit_on_findings and any(f.decision.kind is DecisionKind.DISABLE for f in self.findings):
            return ExitCode.FINDINGS
        return ExitCode.OK

    def run_status(self) -> RunStatus:
        """The status the journal records at the run's end: done, stopped (a safety stop) or partial."""
        return {ExitCode.STOPPED: RunStatus.STOPPED,
                ExitCode.PARTIAL: RunStatus.PARTIAL}.get(self.exit_code(), RunStatus.DONE)
