"""Opt-in removal (design.md §9, the staged lifecycle): what this sweeper disabled and nobody missed is
removed `remove_after_days` later, in the provider's reversible form where it has one.

Only what the journal shows this sweeper disabled qualifies: a credential disabled by someone else is
never removed, since nobody here knows when or why. The clock is the disable that took effect, and it
resets whenever anything happened since: a restore, a removal or undelete, a person re-enabling it (a
sighting), or a use after the disable. Candidates are re-read live right before acting.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from sweeper import rules
from sweeper.model import Action, ActionState, Credential, CredentialRef, Decision, DecisionKind, IdentityKind
from sweeper.policy import Thresholds, exception_for, excluded_by_login
from sweeper.records import ActionRow, Journal
from sweeper.results import Finding


def _when(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def basis(journal: Journal, finding_ref: Any) -> tuple[ActionRow, datetime] | None:
    """The disable by this sweeper that the removal clock counts from, and when it took effect; None
    when this sweeper did not disable it, or something happened to it since."""
    rows = journal.lifecycle(finding_ref)
    if not rows or rows[-1].action is not Action.DISABLE:
        return None  # never disabled here, or restored, removed or undeleted since
    row = rows[-1]
    # the disabling run's --as-of (the real clock unless simulated), so that days count the same way
    # as every other rule here; the action's own time when the run is not found
    runs = journal.runs(row.run_id)
    at = _when(runs[0].as_of) if runs and runs[0].as_of else None
    at = at or _when(row.updated)
    if at is None or journal.first_seen_enabled(journal.uid_of(row.id)) is not None:
        return None  # a person re-enabled it since (seen enabled by a later run): their decision stands
    return row, at


def why_not(credential: Credential | None, disabled_at: datetime) -> str | None:
    """Why a candidate, as it is now, must not be removed (None: it may be)."""
    if credential is None:
        return "it no longer exists"
    if credential.enabled:
        return "it was enabled again since this sweeper disabled it"
    if credential.last_used is not None and credential.last_used > disabled_at:
        return f"it was used on {credential.last_used.date()}, after this sweeper disabled it"
    return None


def shielded(identity: Any, credential: Credential, t: Thresholds, as_of: datetime) -> str | None:
    """Why `identity` must not be removed whatever the journal says (None: nothing shields it): it is
    protected or excluded now (a role granted, a tag or an exception added since it was disabled)."""
    if identity.kind is IdentityKind.ROOT:
        return t.root_protection
    if credential.protected_by or identity.protected_by:
        return f"protected: {credential.protected_by or identity.protected_by}"
    if t.never_disable and not t.never_disable.isdisjoint((identity.id, identity.login, credential.credential_id)):
        return "listed in [policy] never_disable"
    excluded = identity.excluded_by or excluded_by_login(identity.login, t.exclude)
    if excluded:
        return f"excluded: {excluded}"
    if t.exceptions and exception_for(identity, t.exceptions, as_of)[0] is not None:
        return "excluded: an exception is in force"
    return None


def live(pool: Sequence[tuple[Any, Credential]], journal: Journal,
         refresh: Callable[[CredentialRef], Credential | None]) -> tuple[list[tuple[Any, Credential]], int]:
    """The pool with provisional credential ids read live, for a listing that may give them (AWS names
    the key slots of a report, not keys): the journal knows credentials by their real ids. Only
    credentials of identities that this sweeper disabled a credential of that kind of are kept (no
    other can be a candidate); those the journal knows by the listed id stay as listed, the others
    are read live, and what is gone or enabled now is left out. Returns (pool, how many could not be
    read)."""
    ours = {(a.ref.provider, a.ref.scope, a.ref.identity_id, a.ref.kind)
            for a in journal.actions(state=ActionState.DONE) if a.action is Action.DISABLE}
    out, unread = [], 0
    for identity, credential in pool:
        ref = CredentialRef.of(identity, credential)
        if (ref.provider, ref.scope, ref.identity_id, ref.kind) not in ours:
            continue
        if journal.lifecycle(ref):
            out.append((identity, credential))
            continue
        try:
            fresh = refresh(ref)
        except Exception:  # noqa: BLE001 - unread means not removed
            unread += 1
            continue
        if fresh is not None and not fresh.enabled:
            out.append((identity, fresh))
    return out, unread


def candidates(pool: Sequence[tuple[Any, Credential]], journal: Journal, t: Thresholds,
               as_of: datetime) -> list[tuple[Finding, datetime]]:
    """Findings `remove` for the disabled credentials in `pool` whose time has come (never one that is
    protected or excluded now), each with when this sweeper's disable took effect."""
    out = []
    for identity, credential in pool:
        rule = rules.first_match(t.rules, t.provider, identity, credential) if t.rules else None
        if rule is not None and rule.action_for(identity) != "disable":
            continue  # its rule only reports or notifies now: nothing of it is removed
        days = (t.for_rule(rule) if rule is not None else t).removal_days(credential.kind)
        if days is None or shielded(identity, credential, t, as_of):
            continue
        finding = Finding(identity, credential, Decision(DecisionKind.REMOVE, "", days))
        found = basis(journal, finding.ref)
        if found is None:
            continue
        row, disabled_at = found
        if why_not(credential, disabled_at) is not None:
            continue
        age = as_of - disabled_at
        if age < timedelta(days=days):
            continue
        irreversible = credential.kind in t.removal_irreversible
        reason = (f"disabled by this sweeper in run {row.run_id} on {disabled_at.date()}, {age.days} days ago, and "
                  f"unused since: past remove_after_days = {days}; removal {t.removable[credential.kind]}"
                  + ("; irreversible" if irreversible else ""))
        out.append((Finding(identity, replace(credential, irreversible=irreversible),
                            Decision(DecisionKind.REMOVE, reason, days, age.days, "low",
                                     t.controls_for(credential.kind))), disabled_at))
    return out
