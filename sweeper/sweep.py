"""One sweep: list → judge → confirm → unique → guard → act, for every provider at once.

It streams identities from each adapter into the policy, keeps only findings, confirms candidates
live, applies the safety guards per scope, and (in apply mode) acts through the journal. One
provider's failure never stops the others: it becomes that provider's status.
"""

from __future__ import annotations

import fnmatch
import gc
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from sweeper.actions import OpenAdapter, apply_batch, before_state, close_quietly, describe_failure
from sweeper.adapter import Adapter
from sweeper.config import Config
from sweeper.errors import BindingError, DataError, JournalError, NotMeasured, ProviderError
from sweeper.model import Action, Activity, Decision, DecisionKind, Identity, IdentityKind, ProviderStatus
from sweeper import notify, reenable, remove
from sweeper.policy import Thresholds, cap_exceeded, evaluate, not_measured, since_creation
from sweeper.records import Journal
from sweeper.results import Finding, FindingAction, RunResult, ScopeResult, new_run_id

CONFIRM = (DecisionKind.DISABLE, DecisionKind.WARN)


def want_groups(adapter: Adapter, t: Thresholds) -> str | None:
    """Tell the adapter which groups the rules match on (`want_groups`), so that its identities carry
    their membership; why not, when it cannot read membership (such rules then match nobody there)."""
    wanted = list(dict.fromkeys(g for m in t.rules for g in m.rule.match.groups))
    if not wanted or getattr(adapter, "groups_listed", False):  # AWS: every user's groups come with it
        return None
    hook = getattr(adapter, "want_groups", None)
    if callable(hook):
        hook(wanted)
        return None
    return (f"rules match on groups ({', '.join(wanted)}), but this provider does not read group membership: "
            "those rules match no identity here")


@dataclass
class _Opened:
    name: str
    adapter: Adapter | None
    scopes: list[str]
    error: BaseException | None


@dataclass
class _Listed:
    """A source of truth for people, listed before anything else is judged (#25): its thresholds, and
    each scope's result so far, finished once the people are known."""

    thresholds: Thresholds
    scopes: dict[str, ScopeResult]
    unread: str | None


class Progress:
    """What the engine reports while it works; the CLI draws bars from it on a terminal."""

    def listing(self, provider: str, scope: str) -> Callable[[int], None]:
        return lambda n: None

    def acting(self, provider: str, total: int) -> Callable[[int], None]:
        return lambda n: None


@dataclass
class Sweep:
    """One run over the configured providers. `plan_targets` limits apply to what a plan named.

    `open_adapter` builds each provider's adapter (the CLI passes `registry.create`); it is asked
    for a writing adapter in apply mode only. `describe` gives a provider's metadata (the CLI passes
    `registry.info`): the controls its findings satisfy and how it words root protection.
    """

    config: Config
    providers: Sequence[str]
    as_of: datetime
    mode: str = "plan"
    journal: Journal | None = None
    plan_targets: set[tuple[str, ...]] | None = None
    max_disable: int | None = None
    progress: Progress = field(default_factory=Progress)
    allow_remove: bool = False  # apply --allow-remove: removals are acted on (the config alone never removes)
    run_id: str = field(default_factory=new_run_id)
    open_adapter: OpenAdapter = field(kw_only=True)
    describe: Callable[[str], Any] | None = field(default=None, kw_only=True)
    # set (the CLI, on Ctrl-C) to stop new work: listings end, no further change is started
    stop: threading.Event = field(default_factory=threading.Event, kw_only=True)
    # per provider, the only scopes to list (apply of a plan file: those it names); the binding is still checked
    only_scopes: dict[str, set[str]] | None = field(default=None, kw_only=True)
    # `[people]` (#25): links identities to people across providers (sweeper.people.Linker), or None
    linker: Any = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self.not_linked: str | None = None
        if self.linker is None and getattr(self.config, "people", None) is not None:
            from sweeper import people

            self.linker, self.not_linked = people.for_run(self.config, self.providers, self.as_of)

    def _attribute(self, adapter: Adapter, name: str) -> None:
        """Record who this run acts as in the provider (its whoami), for the audit trail."""
        try:
            who = adapter.whoami().display
        except Exception as err:  # noqa: BLE001 - attribution never stops a run; the failure is recorded
            who = f"unknown ({describe_failure(err)})"
        assert self.journal is not None
        self.journal.record_actor(self.run_id, name, who)

    def run(self) -> RunResult:
        """Open every provider and bind it to its configured tenant, account or customer first; a
        binding mismatch anywhere stops the whole run (BindingError) before anything is listed."""
        result = RunResult(self.run_id, self.mode, self.as_of, config_digest=self.config.digest)
        # a bounded pool: 50 tenants open and sweep max_parallel at a time; a slow one holds one worker
        workers = max(1, min(len(self.providers), self.config.engine.max_parallel))
        with ThreadPoolExecutor(workers, thread_name_prefix="provider") as pool:
            opened = list(pool.map(self._open, self.providers))
        mismatch = next((o.error for o in opened if isinstance(o.error, BindingError)), None)
        if mismatch is not None:
            for o in opened:
                if o.adapter is not None:
                    close_quietly(o.adapter)
            raise mismatch
        if self.linker is not None:
            return self._run_linked(result, opened, workers)
        if self.not_linked:
            result.people = {"not_linked": self.not_linked}
        with ThreadPoolExecutor(workers, thread_name_prefix="provider") as pool:
            for scopes in pool.map(self._provider, opened):
                result.scopes.extend(scopes)
        return result

    def _run_linked(self, result: RunResult, opened: list[_Opened], workers: int) -> RunResult:
        """With `[people]`: the sources of truth are listed first, the people made from their accounts,
        then every scope (the sources' too) is judged knowing whose each identity is."""
        linker = self.linker
        sources = [o for o in opened if linker.source_order(o.name) is not None]
        with ThreadPoolExecutor(workers, thread_name_prefix="provider") as pool:
            listed = list(pool.map(self._list_source, sources))
        linker.build()
        # the people (one object per person, kept to the end) leave the garbage collector's rounds: the
        # collections the other listings trigger would otherwise walk all of them each time
        gc.freeze()
        work = [*zip(sources, listed), *((o, None) for o in opened if o not in sources)]
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="provider") as pool:
                for scopes in pool.map(lambda job: self._provider(*job), work):
                    result.scopes.extend(scopes)
        finally:
            gc.unfreeze()  # back to the collector's care once the sweep is done (a process may run several)
        place = {o.name: n for n, o in enumerate(opened)}
        result.scopes.sort(key=lambda s: place[s.provider])  # config order, as without [people]
        result.people = linker.view()
        return result

    def _list_source(self, opened: "_Opened") -> "_Listed | None":
        """List one source of truth (each scope, and its deleted accounts) for the people; judged later."""
        adapter, linker = opened.adapter, self.linker
        if adapter is None or opened.error is not None:
            linker.source_failed(opened.name, "", describe_failure(opened.error) if opened.error else "not opened")
            return None
        t = self._thresholds(opened.name)
        unread = want_groups(adapter, t)
        hook = getattr(adapter, "want_departures", None)
        since = self.as_of - timedelta(days=max(linker.settings.audit_lookback_days,
                                                linker.settings.leaver_grace_days + 1))
        if callable(hook):
            hook(since)

        def scope(name: str) -> ScopeResult:
            res = ScopeResult(opened.name, name, inactive_days=t.inactive_days, warn_days=t.warn_days)
            if not callable(hook):
                res.say("this provider does not say when its accounts were disabled: its leavers are only reported")
            self._list(adapter, res, t)
            if res.status is not ProviderStatus.OK:
                linker.source_failed(opened.name, name, res.status.value)
                return res
            deleted = getattr(adapter, "list_deleted", None)
            try:
                for identity in deleted(name) if callable(deleted) else ():
                    if identity.kind is IdentityKind.MEMBER:
                        linker.add_anchor(identity, "deleted")
            except Exception as err:  # noqa: BLE001 - without them, nobody becomes a leaver by deletion
                res.say(f"deleted accounts could not be listed ({describe_failure(err)}): people whose accounts "
                        "were deleted are not known as leavers")
            return res

        with ThreadPoolExecutor(max(1, min(adapter.max_parallel, len(opened.scopes) or 1)),
                                thread_name_prefix=f"{opened.name}-scope") as pool:
            results = list(pool.map(scope, opened.scopes))
        return _Listed(t, {r.scope: r for r in results}, unread)

    def _thresholds(self, name: str) -> Thresholds:
        return Thresholds.resolve(self.config.policy, self.config.providers[name],
                                  self.describe(name) if self.describe else None, self.config.exceptions, name,
                                  self.config.rules, self.config.managed_index,
                                  self.config.managed.action if self.config.managed else "report")

    def _open(self, name: str) -> "_Opened":
        """The provider's adapter and its scopes (binding checked), or why not."""
        settings = self.config.providers[name]
        try:
            adapter = self.open_adapter(name, settings, write=self.mode == "apply")
        except Exception as err:  # noqa: BLE001 - any failure here is this provider's, not the run's
            return _Opened(name, None, [], err)
        tell = getattr(adapter, "set_run_id", None)
        if callable(tell):
            tell(self.run_id)  # e.g. AWS names its role sessions after the run
        if self.mode == "apply" and self.journal is not None:
            self._attribute(adapter, name)
        try:
            found = adapter.scopes()
            if self.only_scopes is not None and (self.linker is None or self.linker.source_order(name) is None):
                found = [s for s in found if s in self.only_scopes.get(name, set())]  # a source is always listed whole
            return _Opened(name, adapter, found, None)
        except Exception as err:  # noqa: BLE001
            return _Opened(name, adapter, [], err)

    def _provider(self, opened: "_Opened", listed: "_Listed | None" = None) -> list[ScopeResult]:
        name, adapter, scopes, err = opened.name, opened.adapter, opened.scopes, opened.error
        if adapter is None:
            assert err is not None
            return [ScopeResult(name, "", ProviderStatus.FAILED, message=describe_failure(err))]
        if err is not None:
            close_quietly(adapter)
            status = ProviderStatus.NOT_MEASURED if isinstance(err, NotMeasured) else ProviderStatus.FAILED
            return [ScopeResult(name, "", status, message=describe_failure(err))]
        try:
            if listed is None:
                thresholds = self._thresholds(name)
                unread = want_groups(adapter, thresholds)
            else:
                thresholds, unread = listed.thresholds, listed.unread
            with ThreadPoolExecutor(max(1, min(adapter.max_parallel, len(scopes) or 1)),
                                    thread_name_prefix=f"{name}-scope") as pool:
                results = list(pool.map(lambda scope: self._scope(adapter, name, scope, thresholds,
                                                                  listed.scopes.get(scope) if listed else None),
                                        scopes))
            if unread:
                for res in results:
                    res.say(unread)
            return results
        finally:
            close_quietly(adapter)

    def _scope(self, adapter: Adapter, name: str, scope: str, t: Thresholds,
               listed: ScopeResult | None = None) -> ScopeResult:
        res = listed or ScopeResult(name, scope, inactive_days=t.inactive_days, warn_days=t.warn_days)
        try:
            if listed is None:
                self._list(adapter, res, t)
            elif res.status is ProviderStatus.OK:
                self._linked(res, t)
            if res.status is ProviderStatus.OK:
                self._confirm(adapter, res, t)
                self._unique(res)
                if self.journal is not None:
                    kept = reenable.respect(res.findings, self.journal, self.run_id, self.as_of,
                                            self.config.policy.reenable_grace_days)
                    if kept:
                        res.say(f"{kept} credential(s) re-enabled since this sweeper disabled them: in their grace period")
                days = self.config.notify.required_notice_days
                if days or t.rules:  # a rule can ask for its own notice days (#26)
                    held = notify.hold(res.findings, self.journal, self.as_of, days)
                    if held:
                        res.say(f"{held} disable(s) held until their owners have had "
                                + (f"{days} days' notice" if days else "the notice their rule asks for"))
                self._guard(res, t)
                if res.disabled_pool and self.journal is not None:
                    self._removals(adapter, res, t)
            if self.mode == "apply" and res.status is ProviderStatus.OK:
                self._act(adapter, res)
                self._act(adapter, res, Action.REMOVE)
        except Exception as err:  # noqa: BLE001 - a scope's failure is reported, never raised
            res.status = ProviderStatus.FAILED
            res.say(describe_failure(err))
            res.findings = [f for f in res.findings if f.action in (FindingAction.DISABLED, FindingAction.REMOVED,
                                                                    FindingAction.FAILED)]
        return res

    def _list(self, adapter: Adapter, res: ScopeResult, t: Thresholds) -> None:
        advance = self.progress.listing(res.provider, res.scope)
        measured = 0
        unmatched = {glob: glob.casefold() for glob in t.exclude}
        seen: set[str] = set()
        try:
            for identity in adapter.list_identities(res.scope):
                if self.stop.is_set():
                    raise ProviderError(res.provider, f"list {res.scope}", "the run was interrupted")
                if identity.provider != res.provider:  # an adapter that ignores its instance's name (registry.create)
                    identity = replace(identity, provider=res.provider)
                if identity.id in seen:  # never judged twice, never silently merged
                    raise DataError(res.provider, f"list {res.scope}", f"the listing gave identity id {identity.id!r} "
                                    "twice; its data cannot be trusted")
                seen.add(identity.id)
                if identity.kind is IdentityKind.SERVICE:  # a role, service principal or application (#17)
                    res.machines += 1
                else:
                    res.identities += 1
                advance(1)
                if unmatched:  # which exclude patterns still match nobody (cheap: stops once all have)
                    login = identity.login.casefold()
                    for glob in [g for g, folded in unmatched.items() if fnmatch.fnmatchcase(login, folded)]:
                        del unmatched[glob]
                linker = self.linker
                if linker is not None and not linker.built and not linker.is_anchor(identity) \
                        and identity.kind is not IdentityKind.SERVICE:
                    # a source's guest, listed before the people are known: counted now, judged once they are
                    res.pending.append(identity)
                    res.credentials += len(identity.credentials)
                    measured += sum(since_creation(c).activity is not Activity.UNKNOWN for c in identity.credentials)
                    continue
                measured += self._judge(identity, res, t)
            res.patterns, res.unmatched = set(t.exclude), set(unmatched)
            notes = getattr(adapter, "scope_notes", None)
            for note in notes(res.scope) if callable(notes) else ():
                res.say(note)  # e.g. a protection the adapter could not load, and what that means
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

    def _judge(self, identity: Identity, res: ScopeResult, t: Thresholds, *, count: bool = True) -> int:
        """Judge each credential of one identity into `res` (and, with `[people]`, knowing whose it is);
        how many of its credentials have activity data."""
        linker = self.linker
        link = linker.link(identity) if linker is not None and linker.built else None
        measured, decided = 0, []
        for credential in identity.credentials:
            credential = since_creation(credential)
            if count:
                res.credentials += 1
                measured += credential.activity is not Activity.UNKNOWN
            decision = evaluate(identity, credential, t, self.as_of)
            if link is not None:
                decision = linker.judge(link, identity, credential, decision, t)
            if decision.days_inactive is not None:
                res.ages[decision.days_inactive] += 1
            if linker is not None:
                decided.append((credential, decision))
            if decision.kind is DecisionKind.ALREADY_DISABLED:
                res.already_disabled += 1
                if t.removable and t.removal_days(credential.kind) is not None:
                    res.disabled_pool.append((identity, credential))
            elif decision.kind.is_finding:
                res.findings.append(Finding(identity, credential, decision))
        if linker is not None and identity.kind is not IdentityKind.SERVICE:
            if not linker.built:  # a source account, judged on its own: it makes the people
                linker.add_anchor(identity, decided)
            else:
                linker.account(link, identity, decided)
                orphan = linker.orphan(link, identity)
                if orphan is not None and not any(d.kind.is_finding for _, d in decided):
                    first = next((c for c in identity.credentials if c.enabled), None)
                    if first is not None:
                        res.findings.append(Finding(identity, first, orphan))
        return measured

    def _linked(self, res: ScopeResult, t: Thresholds) -> None:
        """A source's scope once the people are known: its own accounts' findings name their person, and
        the identities held back (guests) are judged."""
        linker = self.linker
        for f in res.findings:
            link = linker.link(f.identity)
            if link is not None and link.person is not None:
                f.decision = replace(f.decision, person=link.person.id)
        pending, res.pending = res.pending, []
        for identity in pending:
            self._judge(identity, res, t, count=False)

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
            decision = evaluate(finding.identity, fresh, t, self.as_of)
            if self.linker is not None:  # a leaver's credential stays a leaver's, whatever its own activity
                decision = self.linker.judge(self.linker.link(finding.identity), finding.identity, fresh, decision, t)
            return Finding(finding.identity, fresh, decision)

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
            f.action = FindingAction.PLANNED
        # max_disable_percent compares people with people and machine identities with machine identities,
        # so that a thousand roles never make room for more people to be disabled, nor the reverse
        people = len({f.ref.key[:3] for f in targets if f.identity.kind is not IdentityKind.SERVICE})
        machines = len({f.ref.key[:3] for f in targets if f.identity.kind is IdentityKind.SERVICE})
        over = (cap_exceeded(len(targets), res.identities, t, self.max_disable, affected=people)
                or (cap_exceeded(len(targets), res.machines, t, self.max_disable, affected=machines,
                                 what="machine identities") if machines else None))
        if over:
            res.status = ProviderStatus.CAPPED
            res.say(f"safety cap: {over}; nothing in this scope is disabled "
                    "(review the plan, then raise the cap with --max-disable N)")
            for f in targets:
                f.action = FindingAction.NONE

    def _removals(self, adapter: Adapter, res: ScopeResult, t: Thresholds) -> None:
        """Removal candidates among the credentials found disabled (opt-in): re-read live when acting,
        filtered by the plan, capped by max_remove, and acted on only with --allow-remove."""
        assert self.journal is not None
        pool, res.disabled_pool = res.disabled_pool, []
        if not adapter.listing_is_live:  # provisional ids (AWS key slots): the journal knows the real ones
            pool, unread = remove.live(pool, self.journal, adapter.refresh)
            if unread:
                res.say(f"{unread} disabled credential(s) could not be re-read: not considered for removal")
        due = remove.candidates(pool, self.journal, t, self.as_of)
        if not due:
            return
        found = [f for f, _ in due]
        if self.mode == "apply":  # re-read live right before acting; the journal is held, so its basis stands
            found = []
            for f, disabled_at in due:
                try:
                    why = remove.why_not(adapter.refresh(f.ref), disabled_at)
                except Exception as err:  # noqa: BLE001 - unconfirmed means kept
                    why = f"its state could not be re-read ({describe_failure(err)})"
                if why:
                    res.say(f"{f.ref.login} {f.ref.label} not removed: {why}")
                else:
                    found.append(f)
        if self.plan_targets is not None:
            found = [f for f in found if f.ref.key in self.plan_targets]
        if len(found) > t.max_remove:
            res.removal_capped = True
            res.say(f"removal cap: {len(found)} removals exceed max_remove = {t.max_remove}; nothing in this scope "
                    "is removed (review, then raise max_remove)")
        for f in found:
            if res.removal_capped:
                f.decision = replace(f.decision, reason=f"{f.decision.reason}; not removed: over max_remove")
            elif self.mode == "apply" and not self.allow_remove:
                f.decision = replace(f.decision, reason=f"{f.decision.reason}; not removed: apply needs --allow-remove")
            else:
                f.action = FindingAction.PLANNED
        res.findings.extend(found)

    def _act(self, adapter: Adapter, res: ScopeResult, action: Action = Action.DISABLE) -> None:
        """Disable (or remove) the planned findings through the journal, group by group; a journal
        failure halts the scope."""
        kind = DecisionKind.REMOVE if action is Action.REMOVE else DecisionKind.DISABLE
        done = FindingAction.REMOVED if action is Action.REMOVE else FindingAction.DISABLED
        targets = [f for f in res.findings if f.action == FindingAction.PLANNED and f.decision.kind is kind]
        if not targets:
            return
        assert self.journal is not None
        journal = self.journal
        advance = self.progress.acting(f"{res.provider} {res.scope}", len(targets))
        # A local journal records one adapter batch at a time and runs batches side by side; a remote
        # one records a larger group per write (one round trip) and runs that group's batches side by side.
        size = max(adapter.batch_size, journal.group_size)
        groups = [targets[i:i + size] for i in range(0, len(targets), size)]
        halted = threading.Event()  # the journal failed: nothing more is acted on in this scope

        def act(group: list[Finding]) -> None:
            if halted.is_set() or self.stop.is_set():
                why = "the run was interrupted" if self.stop.is_set() else "the journal could not record intents"
                for finding in group:
                    finding.action = FindingAction.NONE
                    finding.decision = replace(finding.decision, reason=f"{finding.decision.reason}; not attempted: "
                                                                        f"{why}")
                return
            items = [(f.ref, {**before_state(f.credential), "reason": f.decision.reason}, f.credential.irreversible)
                     for f in group]
            try:
                answers = apply_batch(adapter, journal, self.run_id, action, items)
            except JournalError:
                halted.set()
                for finding in group:
                    finding.action = FindingAction.NONE
                raise
            for finding, (ok, detail) in zip(group, answers):
                finding.action = done if ok else FindingAction.FAILED
                if ok and detail:
                    finding.decision = replace(finding.decision, reason=f"{finding.decision.reason}; {detail}")
                elif not ok:
                    finding.error = detail
            advance(len(group))

        parallel = adapter.max_parallel if size == adapter.batch_size else 1
        with ThreadPoolExecutor(max(1, parallel), thread_name_prefix="apply") as pool:
            list(pool.map(act, groups))
