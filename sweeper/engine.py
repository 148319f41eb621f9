"""The engine: sweeps every configured provider concurrently, judges, confirms, caps and acts.

It streams identities from each adapter into the policy, keeps only findings, confirms candidates
live, applies the safety guards per scope, and (in apply mode) acts through the journal. One
provider's failure never stops the others: it becomes that provider's status.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable, Iterable, Sequence

from sweeper import reenable, registry
from sweeper.adapter import Adapter
from sweeper.config import Config
from sweeper.errors import JournalError, NotMeasured, SweeperError
from sweeper.journal import Journal
from sweeper.model import (Action, Activity, Credential, CredentialRef, Decision, DecisionKind, Identity,
                           ProviderStatus)
from sweeper.policy import Thresholds, cap_exceeded, evaluate, not_measured, since_creation

CONFIRM = (DecisionKind.DISABLE, DecisionKind.WARN)


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def describe_failure(err: BaseException) -> str:
    """A one-line message for a failure; unexpected errors are named as such (no traceback)."""
    if isinstance(err, SweeperError):
        return str(err)
    return f"internal error: {type(err).__name__}: {err}"


@dataclass
class Finding:
    identity: Identity
    credential: Credential
    decision: Decision
    action: str = "none"  # planned | disabled | failed | none
    error: str | None = None

    @property
    def ref(self) -> CredentialRef:
        return CredentialRef.of(self.identity, self.credential)


@dataclass
class ScopeResult:
    provider: str
    scope: str
    status: ProviderStatus = ProviderStatus.OK
    identities: int = 0
    credentials: int = 0
    already_disabled: int = 0
    message: str | None = None
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.scopes for f in s.findings]

    def exit_code(self, *, exit_on_findings: bool = False) -> int:
        statuses = {s.status for s in self.scopes}
        if self.journal_error or ProviderStatus.FAILED in statuses or any(f.action == "failed" for f in self.findings):
            return 4
        if statuses & {ProviderStatus.CAPPED, ProviderStatus.NOT_MEASURED}:
            return 3
        if exit_on_findings and any(f.decision.kind is DecisionKind.DISABLE for f in self.findings):
            return 10
        return 0


class Progress:
    """What the engine reports while it works; the CLI draws bars from it on a terminal."""

    def listing(self, provider: str, scope: str) -> Callable[[int], None]:
        return lambda n: None

    def acting(self, provider: str, total: int) -> Callable[[int], None]:
        return lambda n: None


@dataclass
class Sweep:
    """One run over the configured providers. `plan_targets` limits apply to what a plan named."""

    config: Config
    providers: Sequence[str]
    as_of: datetime
    mode: str = "plan"
    journal: Journal | None = None
    plan_targets: set[tuple] | None = None
    max_disable: int | None = None
    progress: Progress = field(default_factory=Progress)
    run_id: str = field(default_factory=new_run_id)

    def run(self) -> RunResult:
        result = RunResult(self.run_id, self.mode, self.as_of)
        with ThreadPoolExecutor(max(len(self.providers), 1), thread_name_prefix="provider") as pool:
            for scopes in pool.map(self._provider, self.providers):
                result.scopes.extend(scopes)
        return result

    def _provider(self, name: str) -> list[ScopeResult]:
        settings = self.config.providers[name]
        try:
            adapter = registry.create(name, settings, write=self.mode == "apply")
        except Exception as err:  # noqa: BLE001 - any failure here is this provider's, not the run's
            return [ScopeResult(name, "", ProviderStatus.FAILED, message=describe_failure(err))]
        try:
            scopes = adapter.scopes()
        except Exception as err:  # noqa: BLE001
            close_quietly(adapter)
            status = ProviderStatus.NOT_MEASURED if isinstance(err, NotMeasured) else ProviderStatus.FAILED
            return [ScopeResult(name, "", status, message=describe_failure(err))]
        thresholds = Thresholds.resolve(self.config.policy, settings, registry.info(name))
        try:
            with ThreadPoolExecutor(max(1, min(adapter.max_parallel, len(scopes) or 1)),
                                    thread_name_prefix=f"{name}-scope") as pool:
                return list(pool.map(lambda scope: self._scope(adapter, name, scope, thresholds), scopes))
        finally:
            close_quietly(adapter)

    def _scope(self, adapter: Adapter, name: str, scope: str, t: Thresholds) -> ScopeResult:
        res = ScopeResult(name, scope)
        try:
            self._list(adapter, res, t)
            if res.status is ProviderStatus.OK:
                self._confirm(adapter, res, t)
                self._unique(res)
                if self.journal is not None:
                    kept = reenable.respect(res.findings, self.journal, self.run_id, self.as_of,
                                            self.config.policy.reenable_grace_days)
                    if kept:
                        res.say(f"{kept} credential(s) re-enabled since this sweeper disabled them: in their grace period")
                self._guard(res, t)
            if self.mode == "apply" and res.status is ProviderStatus.OK:
                self._act(adapter, res)
        except Exception as err:  # noqa: BLE001 - a scope's failure is reported, never raised
            res.status = ProviderStatus.FAILED
            res.say(describe_failure(err))
            res.findings = [f for f in res.findings if f.action in ("disabled", "failed")]
        return res

    def _list(self, adapter: Adapter, res: ScopeResult, t: Thresholds) -> None:
        advance = self.progress.listing(res.provider, res.scope)
        measured = 0
        try:
            for identity in adapter.list_identities(res.scope):
                res.identities += 1
                advance(1)
                for credential in identity.credentials:
                    credential = since_creation(credential)
                    res.credentials += 1
                    measured += credential.activity is not Activity.UNKNOWN
                    decision = evaluate(identity, credential, t, self.as_of)
                    if decision.kind is DecisionKind.ALREADY_DISABLED:
                        res.already_disabled += 1
                    elif decision.kind.is_finding:
                        res.findings.append(Finding(identity, credential, decision))
        except NotMeasured as err:
            res.status, res.findings = ProviderStatus.NOT_MEASURED, []
            res.say(f"{err.detail}; nothing here is judged or disabled")
            return
        except Exception as err:  # noqa: BLE001
            res.status, res.findings = ProviderStatus.FAILED, []
            res.say(f"listing failed after {res.identities} identities: {describe_failure(err)}; "
                    "nothing here is disabled on a partial listing")
            return
        if not_measured(res.credentials, measured):
            res.status, res.findings = ProviderStatus.NOT_MEASURED, []
            res.say("no identity has any activity data (is sign-in activity licensed and readable?); "
                    "nothing here is disabled")

    def _confirm(self, adapter: Adapter, res: ScopeResult, t: Thresholds) -> None:
        """Re-read each candidate live and judge it again; the listing may be hours old."""
        candidates = [f for f in res.findings if f.decision.kind in CONFIRM]
        if not candidates or adapter.listing_is_live:
            return

        def confirm(finding: Finding) -> Finding | None:
            try:
                fresh = adapter.refresh(finding.ref)
            except Exception as err:  # noqa: BLE001 - unconfirmed means kept
                reason = f"could not confirm its activity live ({describe_failure(err)}); kept"
                return Finding(finding.identity, finding.credential,
                               Decision(DecisionKind.UNKNOWN, reason, finding.decision.threshold_days,
                                        finding.decision.days_inactive, "medium", finding.decision.controls))
            if fresh is None:
                return None
            fresh = since_creation(fresh)
            return Finding(finding.identity, fresh, evaluate(finding.identity, fresh, t, self.as_of))

        with ThreadPoolExecutor(max(1, adapter.max_parallel), thread_name_prefix="confirm") as pool:
            fresh = dict(zip(map(id, candidates), pool.map(confirm, candidates)))
        kept, gone, in_use = [], 0, 0
        for finding in res.findings:
            if id(finding) not in fresh:
                kept.append(finding)
                continue
            new = fresh[id(finding)]
            if new is None:
                gone += 1
            elif not new.decision.kind.is_finding:
                in_use += new.decision.kind is DecisionKind.ACTIVE
                res.already_disabled += new.decision.kind is DecisionKind.ALREADY_DISABLED
            else:
                kept.append(new)
        res.findings = kept
        if in_use:
            res.say(f"{in_use} candidate(s) found in use on the live check: kept")
        if gone:
            res.say(f"{gone} candidate(s) no longer exist")

    def _unique(self, res: ScopeResult) -> None:
        """One finding per credential: an identity whose credential came back twice is kept whole.

        Two findings for one credential would mean two actions on it and, worse, that some other
        credential was judged under its name: the adapter's data cannot be trusted for that identity.
        """
        counts = Counter(f.ref.key for f in res.findings)
        twice = {key for key, n in counts.items() if n > 1}
        if not twice:
            return
        suspects = {key[:3] for key in twice}
        kept, seen = [], set()
        for f in res.findings:
            key = f.ref.key
            if key[:3] in suspects:
                if key in seen:
                    continue
                seen.add(key)
                why = (f"the provider gave {f.ref.label} more than once" if key in twice else
                       "another credential of this identity was given more than once")
                f = Finding(f.identity, f.credential, Decision(
                    DecisionKind.UNKNOWN, f"{why}; nothing of this identity is disabled (fail closed)",
                    f.decision.threshold_days, f.decision.days_inactive, "medium", f.decision.controls))
            kept.append(f)
        res.findings = kept
        res.say(f"{len(suspects)} identit{'y' if len(suspects) == 1 else 'ies'} with a credential listed "
                "twice: kept")

    def _guard(self, res: ScopeResult, t: Thresholds) -> None:
        """Plan filter and the safety cap (rule 9), per scope."""
        targets = [f for f in res.findings if f.decision.kind is DecisionKind.DISABLE]
        if self.plan_targets is not None:
            for f in targets:
                if f.ref.key not in self.plan_targets:
                    f.decision = replace(f.decision, reason=f"{f.decision.reason}; not in the plan file: left alone")
            targets = [f for f in targets if f.ref.key in self.plan_targets]
        for f in targets:
            f.action = "planned"
        affected = len({f.ref.key[:3] for f in targets})
        over = cap_exceeded(len(targets), res.identities, t, self.max_disable, affected=affected)
        if over:
            res.status = ProviderStatus.CAPPED
            res.say(f"safety cap: {over}; nothing in this scope is disabled "
                    "(review the plan, then raise the cap with --max-disable N)")
            for f in targets:
                f.action = "none"

    def _act(self, adapter: Adapter, res: ScopeResult) -> None:
        targets = [f for f in res.findings if f.action == "planned"]
        if not targets:
            return
        assert self.journal is not None
        advance = self.progress.acting(f"{res.provider} {res.scope}", len(targets))
        # A local journal records one adapter batch at a time and runs batches side by side; a remote
        # one records a larger group per write (one round trip) and runs that group's batches side by side.
        size = max(adapter.batch_size, self.journal.group_size)
        groups = [targets[i:i + size] for i in range(0, len(targets), size)]

        halted = threading.Event()  # the journal failed: nothing more is acted on in this scope

        def act(group: list[Finding]) -> None:
            if halted.is_set():
                for finding in group:
                    finding.action = "none"
                    finding.decision = replace(finding.decision, reason=f"{finding.decision.reason}; not attempted: "
                                                                        "the journal could not record intents")
                return
            items = [(f.ref, before_state(f.credential), f.credential.irreversible) for f in group]
            try:
                answers = apply_batch(adapter, self.journal, self.run_id, Action.DISABLE, items)
            except JournalError:
                halted.set()
                for finding in group:
                    finding.action = "none"
                raise
            for finding, (ok, detail) in zip(group, answers):
                finding.action = "disabled" if ok else "failed"
                if ok and detail:
                    finding.decision = replace(finding.decision, reason=f"{finding.decision.reason}; {detail}")
                elif not ok:
                    finding.error = detail
            advance(len(group))

        parallel = adapter.max_parallel if size == adapter.batch_size else 1
        with ThreadPoolExecutor(max(1, parallel), thread_name_prefix="apply") as pool:
            list(pool.map(act, groups))


def before_state(credential: Credential) -> dict:
    """The state recorded in the journal before a change (no secrets: ids, flags and dates only)."""
    return {"enabled": credential.enabled, "activity": credential.activity.value,
            "last_used": credential.last_used.isoformat() if credential.last_used else None,
            "created": credential.created.isoformat() if credential.created else None}


def apply_batch(adapter: Adapter, journal: Journal, run_id: str, action: Action,
                items: Sequence[tuple[CredentialRef, dict, bool]]) -> list[tuple[bool, str | None]]:
    """Intent → API calls → done/failed, for one group of items (one journal write each way).

    The group is split into the adapter's batches, called side by side when there are several.
    Returns (ok, detail) per item, in order: the error when it failed, the adapter's note (e.g.
    "already removed") when it worked. The journal keeps the detail either way. If the intents
    cannot be recorded, this raises and nothing is called.
    """
    ids = journal.intend(run_id, action, items)
    refs = [ref for ref, _, _ in items]
    size = max(1, adapter.batch_size)
    batches = [refs[i:i + size] for i in range(0, len(refs), size)]

    def call(batch: list[CredentialRef]) -> dict[tuple, tuple[bool, str | None]]:
        try:
            outcomes = {o.ref.key: o for o in adapter.apply(action, batch)}
        except Exception as err:  # noqa: BLE001 - the whole batch failed; recorded, not raised
            message = describe_failure(err)
            return {ref.key: (False, message) for ref in batch}
        answers = {}
        for ref in batch:
            o = outcomes.get(ref.key)
            answers[ref.key] = (o.ok, o.note if o.ok else o.error) if o else (False, "no answer for this item")
        return answers

    if len(batches) == 1:
        answers = call(batches[0])
    else:
        answers = {}
        with ThreadPoolExecutor(max(1, adapter.max_parallel), thread_name_prefix="apply-batch") as pool:
            for part in pool.map(call, batches):
                answers.update(part)
    results = [answers[ref.key] for ref in refs]
    journal.settle([(i, "done" if ok else "failed", msg) for i, (ok, msg) in zip(ids, results)])
    return results


def close_quietly(adapter: Adapter) -> None:
    try:
        adapter.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        pass


def reconcile(config: Config, journal: Journal, current_run: str,
              only: Iterable[str] | None = None) -> list[str]:
    """Settle `intent` rows left by killed runs by asking each provider for the current state.

    An intent whose change is visible now becomes `done`; one that is not becomes `interrupted`, and
    the next sweep judges that credential afresh. `interrupted` is not final: the killed process's
    request may still land after this check, so `restore` looks at those rows again.
    Returns messages for the caller to show.
    """
    journal.mark_interrupted(current_run)
    pending = [a for a in journal.actions(state="intent") if a.run_id != current_run]
    wanted = set(only) if only else None
    messages: list[str] = []
    by_provider: dict[str, list] = {}
    for row in pending:
        if wanted is None or row.ref.provider in wanted:
            by_provider.setdefault(row.ref.provider, []).append(row)
    for name, rows in by_provider.items():
        if name not in config.providers:
            messages.append(f"{len(rows)} unfinished action(s) for {name}, which this config does not sweep: "
                            "left as they are")
            continue
        try:
            adapter = registry.create(name, config.providers[name], write=True)
        except Exception as err:  # noqa: BLE001
            messages.append(f"cannot reconcile {name}: {describe_failure(err)}")
            continue
        try:
            settled = []
            for row in rows:
                try:
                    current = adapter.refresh(row.ref)
                except Exception as err:  # noqa: BLE001
                    messages.append(f"cannot check {row.ref.login} {row.ref.label}: {describe_failure(err)}")
                    continue
                took_effect = (current is None or not current.enabled) if row.action is Action.DISABLE \
                    else (current is not None and current.enabled)
                settled.append((row.id, "done" if took_effect else "interrupted",
                                "reconciled after an interrupted run" if took_effect
                                else "interrupted before it took effect (reconciled)"))
            journal.settle(settled)
            if settled:
                messages.append(f"reconciled {len(settled)} unfinished action(s) for {name}")
        finally:
            close_quietly(adapter)
    return messages
