"""The inactivity policy: one pure function per question, the same rules for every provider.

No I/O and no clock reads: `now` is always passed in (it is `--as-of` or the real time).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Mapping, Sequence

from sweeper import instances, rules
from sweeper.config import PolicySettings, ProviderSettings
from sweeper.text import literal, scripts, skeleton, unencodable
from sweeper.model import Activity, Credential, CredentialKind, Decision, DecisionKind, Identity, IdentityKind

# Controls every inactivity finding satisfies when the provider names none of its own (its
# `ProviderInfo.controls`, passed in through `Thresholds.resolve`).
GENERIC_CONTROLS = ("NIST 800-53 AC-2(3)", "SOC 2 CC6.2", "ISO 27001 A.5.18")
_NOUNS = {
    CredentialKind.ACCESS_KEY: "access keys",
    CredentialKind.CONSOLE_PASSWORD: "console passwords",
    CredentialKind.ACCOUNT: "accounts",
    CredentialKind.ROLE: "roles",
    CredentialKind.SERVICE_PRINCIPAL: "service principals",
    CredentialKind.APP_CREDENTIAL: "application credentials",
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The policy in force for one provider: `[policy]` with that provider's overrides applied."""

    inactive_days: int
    warn_days: int
    never_used_days: int | None = None
    kind_days: Mapping[str, int] = field(default_factory=dict)  # a CredentialKind value, or guest
    exclude: tuple[str, ...] = ()
    max_disable: int = 25
    max_disable_percent: float = 10.0
    controls: Mapping[CredentialKind, tuple[str, ...]] = field(default_factory=dict)
    control_limits: Mapping[str, int] = field(default_factory=dict)  # control id -> its most inactive days
    never_disable: frozenset[str] = frozenset()  # exact identity ids, logins or credential ids
    exceptions: tuple[Any, ...] = ()  # the [[exceptions]] entries for this provider (config.ExceptionEntry)
    remove_after_days: int | None = None  # opt-in removal (#13)
    remove_by_kind: Mapping[str, int] = field(default_factory=dict)
    max_remove: int = 10
    removable: Mapping[CredentialKind, str] = field(default_factory=dict)  # the provider's removal, per kind
    removal_irreversible: frozenset[CredentialKind] = frozenset()
    root_protection: str = "the provider's root account is never touched"
    provider: str = ""  # the provider instance these are for (`entra:contoso`), as rules match it
    rules: tuple[Any, ...] = ()  # the `[[rules]]` that can apply here, compiled (sweeper.rules.Matcher), in order
    label: str = ""  # added to the threshold's name in reasons: " under rule 'admins'"
    managed: Any = None  # identities managed as code (sweeper.managed.ManagedIndex), or None
    managed_action: str = "report"  # `[managed_as_code] action`: report | act
    _derived: dict[str, "Thresholds"] = field(default_factory=dict, compare=False, repr=False)

    def for_rule(self, rule: Any) -> "Thresholds":
        """These thresholds as `rule` sets them: its days where it gives them (its inactive_days replace
        the kind thresholds too), the defaults elsewhere; computed once per rule."""
        found = self._derived.get(rule.name)
        if found is None:
            found = replace(
                self, rules=(), label=f" under rule {rule.name!r}",
                inactive_days=rule.inactive_days or self.inactive_days,
                kind_days={} if rule.inactive_days else self.kind_days,
                never_used_days=rule.never_used_days or self.never_used_days,
                warn_days=self.warn_days if rule.warn_days is None else rule.warn_days,
                remove_after_days=rule.remove_after_days or self.remove_after_days,
                remove_by_kind={} if rule.remove_after_days else self.remove_by_kind, _derived={})
            self._derived[rule.name] = found
        return found

    def controls_for(self, kind: CredentialKind, days: int | None = None) -> tuple[str, ...]:
        """The controls a finding judged with a `days`-day threshold satisfies: one with a limit (CIS AWS:
        45 days) only when the threshold is within it, and never when the threshold is not known."""
        found = self.controls.get(kind) or GENERIC_CONTROLS
        return tuple(c for c in found if c not in self.control_limits
                     or (days is not None and days <= self.control_limits[c]))

    @classmethod
    def resolve(cls, policy: PolicySettings, provider: ProviderSettings, info: Any = None,
                exceptions: Sequence[Any] = (), name: str | None = None, rule_list: Sequence[Any] = (),
                managed: Any = None, managed_action: str = "report") -> "Thresholds":
        """`[policy]` with the provider section's overrides; `info` (its `ProviderInfo`) adds the
        controls it names per credential kind and how it words root protection; `exceptions` are the
        config's `[[exceptions]]`, of which those for this provider (or for all) are kept; `rule_list`
        the config's `[[rules]]`, of which those that can apply to this provider instance are kept."""
        instance = name or str(getattr(info, "name", ""))
        def pick(name: str) -> Any:  # the provider's value when set, else [policy]'s
            value = getattr(provider, name)
            return getattr(policy, name) if value is None else value

        return cls(
            inactive_days=pick("inactive_days"),
            warn_days=pick("warn_days"),
            never_used_days=pick("never_used_days"),
            kind_days=provider.kind_overrides(),
            exclude=tuple(policy.exclude) + tuple(provider.exclude),
            max_disable=pick("max_disable"),
            max_disable_percent=pick("max_disable_percent"),
            never_disable=frozenset(policy.never_disable),
            exceptions=tuple(e for e in exceptions if e.provider is None or instances.matches(instance, [e.provider])),
            provider=instance, rules=rules.compile_rules(rule_list, instance),
            managed=managed if managed is not None and not getattr(managed, "empty", False) else None,
            managed_action=managed_action,
            remove_after_days=pick("remove_after_days"),
            remove_by_kind=dict(provider.remove_after_days_by_kind),
            max_remove=pick("max_remove"),
            **({} if info is None else {
                "controls": {kind: info.control_ids(kind) for kind in CredentialKind},
                "control_limits": info.control_limits() if hasattr(info, "control_limits") else {},
                "root_protection": info.root_protection,
                "removable": dict(getattr(info, "removal", {}) or {}),
                "removal_irreversible": frozenset(getattr(info, "removal_irreversible", ()) or ())}),
        )

    def removal_days(self, kind: CredentialKind) -> int | None:
        """After how many days of staying disabled this sweeper removes a credential of `kind`, or None
        (removal not configured, or the provider cannot remove that kind)."""
        if kind not in self.removable:
            return None
        return self.remove_by_kind.get(kind.value) or self.remove_after_days

    def threshold(self, identity: Identity, credential: Credential) -> tuple[int, str]:
        """The most specific threshold in days, and what it is called in a reason."""
        if not self.kind_days:  # no per-kind override configured: the usual case
            return self.inactive_days, _NOUNS[credential.kind] + self.label
        kind = credential.kind.value
        if kind in self.kind_days:
            return self.kind_days[kind], _NOUNS[credential.kind] + self.label
        if identity.kind is IdentityKind.GUEST and "guest" in self.kind_days:
            return self.kind_days["guest"], "guest accounts" + self.label
        return self.inactive_days, _NOUNS[credential.kind] + self.label


def _day(when: datetime) -> str:
    return when.date().isoformat()


def _ago(days: int) -> str:
    return "today" if days <= 0 else "1 day ago" if days == 1 else f"{days} days ago"


def excluded_by_login(login: str, globs: tuple[str, ...]) -> str | None:
    """Why the first login glob that matches literally does: case and how an accent is encoded do not
    matter (`text.literal`); look-alike characters do (see `looks_excluded`). None when none matches."""
    seen = literal(login)
    for glob in globs:
        if fnmatch.fnmatchcase(seen, literal(glob)):
            return f"login matches exclude pattern {glob!r}"
    return None


def _reads_like(login: str, glob: str) -> bool:
    """Whether `login` reads like `glob` (look-alike letters and dashes, invisible characters,
    compatibility forms) without matching it literally."""
    return (fnmatch.fnmatchcase(skeleton(login), skeleton(glob))
            and not fnmatch.fnmatchcase(literal(login), literal(glob)))


def looks_excluded(login: str, globs: tuple[str, ...]) -> str | None:
    """Why a login reads like an exclude pattern it does not match literally, or None.

    Such a login is never excluded (an attacker must not get an account excluded by naming it like
    break-glass) and never disabled (it may be the real break-glass account, spelt by a directory
    that changed a character): the decision is unknown, kept for review."""
    for glob in globs:
        if _reads_like(login, glob):
            return (f"login looks like exclude pattern {glob!r} but does not match it literally "
                    "(look-alike characters): kept for review")
    return None


def exception_for(identity: Identity, exceptions: tuple[Any, ...], now: datetime) -> tuple[Any, Any]:
    """(the exception in force for `identity`, the latest one that matched but has expired), each or None.

    An entry matches by exact identity id or by login glob, matched literally as `exclude` patterns
    are (a look-alike is `looks_like_exception`). It is in force through its `expires` day (as of
    `now`, so a simulated --as-of sees it end).
    """
    live, expired = None, None
    today = now.date()
    for entry in exceptions:
        if entry.match != identity.id and not excluded_by_login(identity.login, (entry.match,)):
            continue
        if today <= entry.expires:
            if live is None or entry.expires > live.expires:
                live = entry
        elif expired is None or entry.expires > expired.expires:
            expired = entry
    return live, expired


def looks_like_exception(identity: Identity, exceptions: tuple[Any, ...], now: datetime) -> str | None:
    """Why a login reads like an exception in force that it does not match (by id or literally), or
    None: kept for review, like a look-alike of an exclude pattern. An expired exception protects
    nobody, so its look-alikes are judged like anyone else."""
    today = now.date()
    for entry in exceptions:
        if today <= entry.expires and entry.match != identity.id and _reads_like(identity.login, entry.match):
            return (f"login looks like exception {entry.match!r} ({entry.describe()}) but does not match it "
                    "literally (look-alike characters): kept for review")
    return None


def _script_note(login: str) -> str:
    if login.isascii():
        return ""
    found = scripts(login)
    return f"; the login mixes {' and '.join(sorted(found))} letters" if len(found) > 1 else ""


BOUND_NOTE = "no use since it was created"


def since_creation(credential: Credential) -> Credential:
    """Rule 11: a last use recorded before the credential existed is no use of it at all.

    Adapters report bounds ("used at most at D") as SEEN at D; when D falls before creation the
    credential has not been used since it was created, and is judged by age (NEVER) like any other
    never-used credential. Returns `credential` itself when the rule does not apply.
    """
    used, created = credential.last_used, credential.created
    if credential.activity is not Activity.SEEN or created is None or used is None or used >= created:
        return credential
    recorded = f" ({credential.activity_note})" if credential.activity_note else ""
    return replace(credential, activity=Activity.NEVER, last_used=None,
                   activity_note=f"{BOUND_NOTE}: the last use on record, {_day(used)}{recorded}, predates it")


def _unrecordable(identity: Identity, credential: Credential) -> str | None:
    """Why a credential cannot be journaled, and so never acted on: a name holding a lone surrogate."""
    for what, name in (("login", identity.login), ("identity id", identity.id),
                       ("credential id", credential.credential_id), ("credential", credential.label)):
        bad = unencodable(name)
        if bad is not None:
            return (f"the {what} is not valid Unicode (a lone surrogate, U+{ord(bad):04X}): it cannot be "
                    "recorded in the journal, so it is never disabled")
    return None


def _reference(credential: Credential, threshold: int, t: Thresholds) -> tuple[datetime, int] | None:
    """The instant inactivity is counted from and the window in days, or None when it cannot be told."""
    if credential.activity is Activity.SEEN:
        return credential.last_used, threshold  # type: ignore[return-value]
    if credential.activity is Activity.NEVER and credential.created is not None:
        return credential.created, t.never_used_days or threshold
    return None


def _unknown_reason(credential: Credential) -> str:
    if credential.activity is Activity.NEVER:
        return "activity unknown: never used, but its creation date is unknown; never disabled on unknown data"
    why = credential.activity_note or "the provider gave no usable activity data"
    return f"activity unknown: {why}; never disabled on unknown data"


def _staleness(credential: Credential, threshold: int, noun: str, since: datetime, window: int,
               t: Thresholds, now: datetime) -> tuple[DecisionKind, int, str]:
    """(WARN | DISABLE, days inactive, reason) for a credential past the warn window."""
    if credential.activity is Activity.SEEN:
        what = f"last used {_day(since)}"
        if credential.activity_note:
            what = f"{what} ({credential.activity_note})"
    else:
        what = f"never used; created {_day(since)}"
        if credential.activity_note and (credential.activity_note.startswith(BOUND_NOTE)
                                         or credential.kind in _MACHINE):  # where "never" comes from
            what = f"{what} ({credential.activity_note})"
        noun = f"never-used {noun}" if t.never_used_days else noun
    age = now - since
    days = max(age.days, 0)
    what = f"{what}, {_ago(days)}"
    if age > timedelta(days=window):
        return DecisionKind.DISABLE, days, f"{what}: over the {window}-day threshold for {noun}"
    due = _day(since + timedelta(days=window))
    return DecisionKind.WARN, days, f"{what}: reaches the {window}-day threshold for {noun} on {due}"


_SECRETS = (CredentialKind.ACCESS_KEY, CredentialKind.APP_CREDENTIAL)
_MACHINE = (CredentialKind.ROLE, CredentialKind.SERVICE_PRINCIPAL, CredentialKind.APP_CREDENTIAL)


def _risk(kind: DecisionKind, identity: Identity, credential: Credential) -> str:
    if kind is DecisionKind.WARN:
        return "low"
    if kind is DecisionKind.UNKNOWN:
        return "medium"
    if credential.kind in _SECRETS or identity.kind in (IdentityKind.GUEST, IdentityKind.ROOT):
        return "high"  # long-lived programmatic secrets and outsiders are the usual way in
    return "medium"


def _expired(identity: Identity, credential: Credential, threshold: int, t: Thresholds, now: datetime) -> Decision:
    """A credential past its own end date: it cannot sign in any more, and is reported so that it is
    removed from its owner (an application's expired secret lingers until someone deletes it)."""
    assert credential.expires is not None
    days = max((now - credential.expires).days, 0)
    reason = f"expired on {_day(credential.expires)}, {_ago(days)}: it no longer signs in; remove it"
    if credential.activity is Activity.SEEN:
        reason += f" (last used {_day(credential.last_used)})"  # type: ignore[arg-type]
    elif credential.activity is Activity.NEVER:
        reason += " (never used)"
    if credential.report_only:
        reason += f"; reported only: {credential.report_only}"
    return Decision(DecisionKind.REPORT, reason, threshold, None, _risk(DecisionKind.REPORT, identity, credential),
                    t.controls_for(credential.kind, threshold))


def evaluate(identity: Identity, credential: Credential, t: Thresholds, now: datetime) -> Decision:
    """Judge one credential of one identity as of `now` (design.md §3, rules 1–7 and 10), under the
    first of the provider's `[[rules]]` that matches it, else under the defaults (#26)."""
    if t.rules:
        rule = rules.first_match(t.rules, t.provider, identity, credential)
        if rule is not None:
            decision = _judge(identity, credential, t.for_rule(rule), now, rule)
            if decision.kind.is_finding:
                decision = replace(decision, rule=rule.name, notify_only=decision.kind is DecisionKind.REPORT
                                   and rule.action_for(identity) == "notify", notice_days=rule.notice_days)
            return decision
    return _judge(identity, credential, t, now, None)


def _code(identity: Identity, credential: Credential, t: Thresholds,
          rule: "rules.Rule | None") -> tuple[str, bool] | None:
    """What manages this credential as code, in words, and whether the config says to act on it anyway
    (`managed_as_code = "act"`, the rule's over `[managed_as_code] action`); None when nothing does."""
    if t.managed is None:
        return None
    managed = t.managed.lookup(instances.kind_of(t.provider), identity, credential)
    if managed is None:
        return None
    if ((rule.managed_as_code if rule is not None else None) or t.managed_action) != "act":
        return managed.reason(), False
    where = f"at {managed.address}" if managed.address else f"({managed.source})"
    return (f"managed by {managed.tool} {where}; acted on (managed_as_code = act): the next apply may enable it "
            "again", True)


def _passive(identity: Identity, credential: Credential, code: tuple[str, bool] | None,
             rule: "rules.Rule | None") -> str | None:
    """Why a stale credential would only be reported (so it gets no warning either), or None when it
    would be disabled: report-only by nature, managed as code (`code`, from `_code`), or its rule's action."""
    if credential.report_only:
        return f"reported only: {credential.report_only}"
    if code is not None and not code[1]:
        return f"reported only: {code[0]}"
    if rule is not None:
        action = rule.action_for(identity)
        if action == "report":
            return f"reported only: rule {rule.name!r} (action = report)"
        if action == "notify":
            return f"rule {rule.name!r} notifies its owner and disables nothing (action = notify)"
    return None


def _judge(identity: Identity, credential: Credential, t: Thresholds, now: datetime,
           rule: "rules.Rule | None") -> Decision:
    threshold, noun = t.threshold(identity, credential)
    credential = since_creation(credential)
    if not credential.enabled or not identity.enabled:
        return Decision(DecisionKind.ALREADY_DISABLED, "already disabled", threshold)
    if credential.expires is not None and credential.expires <= now:
        return _expired(identity, credential, threshold, t, now)
    reference = _reference(credential, threshold, t)
    if reference is None:
        return Decision(DecisionKind.UNKNOWN, _unknown_reason(credential), threshold, None,
                        _risk(DecisionKind.UNKNOWN, identity, credential), t.controls_for(credential.kind, threshold))
    since, window = reference
    age = now - since
    if age <= _days(max(window - t.warn_days, 0) if t.warn_days else window):
        return _in_use(window, max(age.days, 0))  # the common case: in use; no words are built, nothing looked up
    code = _code(identity, credential, t, rule)  # once, and only for what is in the warning window or past it
    passive = _passive(identity, credential, code, rule)
    if passive and age <= _days(window):  # only reported when stale, so never warned
        return _in_use(window, max(age.days, 0))
    controls = t.controls_for(credential.kind, window)
    broken = _unrecordable(identity, credential)
    if broken:  # before anything asks the journal about it
        return Decision(DecisionKind.UNKNOWN, broken, window, max(age.days, 0), "medium", controls)
    kind, days, reason = _staleness(credential, threshold, noun, since, window, t, now)
    risk = _risk(kind, identity, credential)
    judged_privileged = _judges_privileged(rule, identity)
    held, why, closed = _held(identity, credential, t, now, judged_privileged)
    reason += _script_note(identity.login)
    if judged_privileged:
        reason += f"; privileged: {identity.privileged}"
        if window <= rules.E8_DAYS:
            controls = (*controls, rules.E8_PRIVILEGED)
        else:
            reason += f" (ASD Essential Eight ML2 asks that privileged access be disabled after {rules.E8_DAYS} days)"
    if rule is not None and rule.controls:
        controls = (*controls, *rule.controls)
    if held is not None:
        return Decision(held, f"{reason}; {why}", window, days, "medium" if closed else risk, controls)
    if why:
        reason += f"; {why}"
    if passive:  # stale, but this sweeper only says so
        return Decision(DecisionKind.REPORT, f"{reason}; {passive}", window, days, risk, controls)
    if kind is DecisionKind.DISABLE and credential.irreversible:
        reason = f"{reason}; disabling deletes it (irreversible)"
    if code is not None:  # managed as code, and acted on all the same: say what will follow
        reason = f"{reason}; {code[0]}"
    return Decision(kind, reason, window, days, risk, controls)


@lru_cache(maxsize=1024)
def _days(days: int) -> timedelta:
    return timedelta(days=days)


def _judges_privileged(rule: "rules.Rule | None", identity: Identity) -> bool:
    """A rule written for privileged identities judges them in place of the protection their privilege gives."""
    return (rule is not None and rule.match.privileged is True and identity.privileged is not None
            and identity.protected_by in (None, identity.privileged))


def _held(identity: Identity, credential: Credential, t: Thresholds, now: datetime,
          judged_privileged: bool = False) -> tuple[DecisionKind | None, str, bool]:
    """Why a credential is kept whatever its activity, in the order the policy asks: protected (root, the
    adapter's protections), excluded (data, login globs, a live exception), a near miss or an exclusion
    that cannot be told (both fail closed: the last item True), `never_disable`. (None, a note, False) when
    nothing holds it; the note says an exception has expired."""
    shield = (t.root_protection if identity.kind is IdentityKind.ROOT
              else credential.protected_by or (None if judged_privileged else identity.protected_by))
    if shield:
        return DecisionKind.PROTECTED, f"protected: {shield}", False
    excluded = identity.excluded_by or excluded_by_login(identity.login, t.exclude)
    if excluded:
        return DecisionKind.EXCLUDED, f"excluded: {excluded}", False
    note = ""
    if t.exceptions:
        live, expired = exception_for(identity, t.exceptions, now)
        if live is not None:
            return (DecisionKind.EXCLUDED, f"excluded: exception until {live.expires.isoformat()} ({live.describe()})",
                    False)
        if expired is not None:
            note = f"exception expired on {expired.expires.isoformat()} ({expired.describe()})"
    then = f"{note}; " if note else ""
    near = looks_excluded(identity.login, t.exclude) or (
        looks_like_exception(identity, t.exceptions, now) if t.exceptions else None)
    if near:  # neither excluded nor disabled: fails closed both ways
        return DecisionKind.UNKNOWN, f"{then}{near}", True
    if identity.exclusion_unknown:  # cannot tell whether an exclusion applies: kept
        return DecisionKind.UNKNOWN, f"{then}exclusion unknown: {identity.exclusion_unknown}; never disabled", True
    if t.never_disable and not t.never_disable.isdisjoint((identity.id, identity.login, credential.credential_id)):
        return DecisionKind.PROTECTED, f"{then}protected: listed in [policy] never_disable", False
    return None, note, False


def kept_whatever_use(identity: Identity, credential: Credential, t: Thresholds,
                      now: datetime) -> tuple[DecisionKind, str] | None:
    """Why a credential is never acted on whatever its activity, and the decision that says so (for a
    leaver's credentials, #25, judged apart from their use): everything `evaluate` checks before acting
    (an unrecordable name, protections, exclusions, exceptions, near misses, `never_disable`, report-only,
    managed as code, its rule's action), in its order. None: it may be acted on."""
    broken = _unrecordable(identity, credential)
    if broken:
        return DecisionKind.UNKNOWN, broken
    rule = rules.first_match(t.rules, t.provider, identity, credential) if t.rules else None
    held, why, _ = _held(identity, credential, t, now, _judges_privileged(rule, identity))
    if held is not None:
        return held, why
    passive = _passive(identity, credential, _code(identity, credential, t, rule), rule)
    return (DecisionKind.REPORT, passive) if passive else None


@lru_cache(maxsize=8192)
def _in_use(window: int, days: int) -> Decision:
    """The decision for a credential in use: a few hundred values, made once each (Decision is frozen)."""
    return Decision(DecisionKind.ACTIVE, "in use", window, days)


def not_measured(credentials: int, measured: int) -> bool:
    """Rule 8: credentials exist but none has any activity data (SEEN or NEVER)."""
    return credentials > 0 and measured == 0


def cap_exceeded(disables: int, identities: int, t: Thresholds, override: int | None = None, *,
                 affected: int | None = None, what: str = "identities") -> str | None:
    """Rule 9: why `disables` is over the safety cap for a scope of `identities`, or None.

    `max_disable` counts disables (credentials); `max_disable_percent` compares like with like: the
    identities that would lose a credential (`affected`, default `disables`) against the identities
    in scope, so a user with two keys and a password counts once there. `override` is
    `--max-disable N`: it replaces both limits with N disables.
    """
    if override is not None:
        return (f"{disables} disables exceed --max-disable {override}" if disables > override else None)
    if disables > t.max_disable:
        return f"{disables} disables exceed max_disable = {t.max_disable}"
    people = disables if affected is None else affected
    limit = identities * t.max_disable_percent / 100
    if people > limit:
        return (f"{people} {what} to disable exceed max_disable_percent = {t.max_disable_percent:g}% "
                f"of {identities} {what} ({limit:g})")
    return None
