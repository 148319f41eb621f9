"""Rules for who is judged how (#26): ordered `[[rules]]`, the first that matches an identity applies.

A rule matches on provider and instance, credential kind, group membership, tags, org unit, login
glob, privileged, guest and machine identities; it sets the thresholds, the warning and notice days
and the action (`disable`, `report`, `notify`). An identity no rule matches is judged by the
defaults (`[policy]` and its provider's section), exactly as without rules.

Privileged identities (a directory role, a super admin) stay protected by default. Only a rule that
names them (`match.privileged = true`) judges them, and then it only reports unless its `action`
says `disable` in so many words. Break-glass exclusions, exceptions and `never_disable` always win.

Matching is precompiled per rule (`Matcher`), cheap enough to run for every credential of a large
tenant; `why_not` says in words why a rule does not apply (for `sweeper explain`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import Field, field_validator, model_validator

from sweeper import instances
from sweeper.config import StrictModel
from sweeper.model import Credential, CredentialKind, Identity, IdentityKind
from sweeper.text import literal

ACTIONS = ("disable", "report", "notify")
KINDS = tuple(k.value for k in CredentialKind)

# ASD Essential Eight, Restrict administrative privileges, Maturity Level 2 (and 3): "Privileged access
# to systems and applications is disabled after 45 days of inactivity" (ISM-1648). A privileged finding
# judged under a rule carries it when the rule's threshold is within 45 days.
E8_PRIVILEGED = "ASD Essential Eight ML2 (privileged access, 45 days)"
E8_DAYS = 45


class RuleMatch(StrictModel):
    """`[rules.match]`: every condition given must hold (none given: every identity)."""

    provider: list[str] = Field(default_factory=list)  # provider kinds or kind:instance names
    kind: list[str] = Field(default_factory=list)  # credential kinds: account, access_key, role, ...
    groups: list[str] = Field(default_factory=list)  # member of any of these (names as the provider gives them)
    tags: dict[str, str] = Field(default_factory=dict)  # every tag with this value ("*": any value)
    org_unit: list[str] = Field(default_factory=list)  # in any of these org units or below
    login: list[str] = Field(default_factory=list)  # login matches any of these globs (literally, as exclude)
    privileged: bool | None = None
    guest: bool | None = None
    machine: bool | None = None  # roles, service principals, applications

    @field_validator("kind")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        for kind in value:
            if kind not in KINDS:
                raise ValueError(f"unknown credential kind {kind!r} (known: {', '.join(KINDS)})")
        return value

    @field_validator("provider")
    @classmethod
    def _providers(cls, value: list[str]) -> list[str]:
        from sweeper import registry

        for name in value:
            if registry.kind_of(name) not in registry.names():
                raise ValueError(f"provider {name!r} is not a known provider ({', '.join(registry.names())}; "
                                 "or kind:instance for one instance)")
        return value

    def given(self) -> list[str]:
        """The conditions this match sets, by key."""
        return [k for k, v in self.model_dump().items() if v not in (None, [], {})]


class Rule(StrictModel):
    """One `[[rules]]` entry."""

    name: str = Field(min_length=1, max_length=80)
    description: str | None = None
    match: RuleMatch = Field(default_factory=lambda: RuleMatch.model_validate({}))
    inactive_days: int | None = Field(None, gt=0)
    never_used_days: int | None = Field(None, gt=0)
    warn_days: int | None = Field(None, ge=0)
    notice_days: int | None = Field(None, ge=0, le=365)  # disable only this long after the owner's notice
    action: Literal["disable", "report", "notify"] | None = None  # None: disable; report for privileged ones
    remove_after_days: int | None = Field(None, gt=0)  # where removal exists (#13): this rule's removal age
    managed_as_code: Literal["report", "act"] | None = None  # None: `[managed_as_code] action`
    controls: list[str] = Field(default_factory=list)  # more controls its findings serve

    @model_validator(mode="after")
    def _sane(self) -> "Rule":
        if not self.name.strip() or any(c < " " for c in self.name):
            raise ValueError("name must be a readable name (no control characters)")
        return self

    def action_for(self, identity: Identity) -> str:
        """What this rule does with a stale identity: its `action`; unset, `disable`, but `report` for a
        privileged identity (disabling an admin needs `action = "disable"` written in the rule)."""
        if self.action is not None:
            return self.action
        return "report" if identity.privileged and self.match.privileged else "disable"


# -- matching ----------------------------------------------------------------------------------

Check = Callable[[str, Identity, Credential], bool]


@dataclass(frozen=True, slots=True)
class Matcher:
    """A rule with its conditions compiled: `matches` for the sweep, `why_not` for `explain`."""

    rule: Rule
    checks: tuple[tuple[Check, Callable[[str, Identity, Credential], str]], ...]

    @classmethod
    def of(cls, rule: Rule) -> "Matcher":
        m = rule.match
        checks: list[tuple[Check, Callable[[str, Identity, Credential], str]]] = []
        if m.provider:
            wanted = list(m.provider)
            checks.append((lambda p, i, c: instances.matches(p, wanted),
                           lambda p, i, c: f"provider {p} is not {_either(wanted)}"))
        if m.kind:
            kinds = frozenset(m.kind)
            checks.append((lambda p, i, c: c.kind.value in kinds,
                           lambda p, i, c: f"credential kind {c.kind.value} is not {_either(sorted(kinds))}"))
        if m.privileged is not None:
            want = m.privileged
            checks.append((lambda p, i, c: bool(i.privileged) is want,
                           lambda p, i, c: f"privileged ({i.privileged})" if i.privileged else "not privileged"))
        if m.guest is not None:
            want_guest = m.guest
            checks.append((lambda p, i, c: (i.kind is IdentityKind.GUEST) is want_guest,
                           lambda p, i, c: "a guest" if i.kind is IdentityKind.GUEST else "not a guest"))
        if m.machine is not None:
            want_machine = m.machine
            checks.append((lambda p, i, c: (i.kind is IdentityKind.SERVICE) is want_machine,
                           lambda p, i, c: ("a machine identity" if i.kind is IdentityKind.SERVICE
                                            else "not a machine identity")))
        if m.login:
            globs = tuple(literal(g) for g in m.login)
            checks.append((lambda p, i, c: any(fnmatch.fnmatchcase(literal(i.login), g) for g in globs),
                           lambda p, i, c: f"login matches none of {', '.join(map(repr, m.login))}"))
        if m.groups:
            groups = frozenset(g.casefold() for g in m.groups)
            checks.append((lambda p, i, c: any(g.casefold() in groups for g in i.groups),
                           lambda p, i, c: (f"not a member of {_either(m.groups)}" if i.groups or p.startswith("aws")
                                            else f"not a member of {_either(m.groups)} (no group membership "
                                                 "was read for it)")))
        if m.tags:
            tags = {k: v.casefold() for k, v in m.tags.items()}
            checks.append((lambda p, i, c: all(k in i.tags and (v == "*" or str(i.tags[k]).casefold() == v)
                                               for k, v in tags.items()),
                           lambda p, i, c: "tags " + ", ".join(f"{k}={i.tags.get(k, '(none)')}" for k in tags)
                           + f" are not {', '.join(f'{k}={v}' for k, v in m.tags.items())}"))
        if m.org_unit:
            units = tuple(u.rstrip("/").casefold() or "/" for u in m.org_unit)
            checks.append((lambda p, i, c: i.org_unit is not None and any(_under(i.org_unit, u) for u in units),
                           lambda p, i, c: f"org unit {i.org_unit or '(none)'} is not in {_either(m.org_unit)}"))
        return cls(rule, tuple(checks))

    def matches(self, provider: str, identity: Identity, credential: Credential) -> bool:
        return all(check(provider, identity, credential) for check, _ in self.checks)

    def why_not(self, provider: str, identity: Identity, credential: Credential) -> str | None:
        """Why this rule does not apply, in words; None when it does."""
        for check, say in self.checks:
            if not check(provider, identity, credential):
                return say(provider, identity, credential)
        return None


def _either(values: Any) -> str:
    values = list(values)
    return values[0] if len(values) == 1 else "any of " + ", ".join(values)


def _under(unit: str, prefix: str) -> bool:
    unit = unit.rstrip("/").casefold() or "/"
    return prefix == "/" or unit == prefix or unit.startswith(prefix + "/")


def compile_rules(rules: tuple[Rule, ...] | list[Rule], provider: str | None = None) -> tuple[Matcher, ...]:
    """The rules that can apply in `provider` (all when None), compiled, in order."""
    return tuple(Matcher.of(r) for r in rules
                 if provider is None or not r.match.provider or instances.matches(provider, r.match.provider))


def first_match(matchers: tuple[Matcher, ...], provider: str, identity: Identity,
                credential: Credential) -> Rule | None:
    for m in matchers:
        if m.matches(provider, identity, credential):
            return m.rule
    return None


# -- checks of the rules themselves (`sweeper check`) ----------------------------------------------

def _covers(a: RuleMatch, b: RuleMatch) -> bool:
    """Whether every identity `b` matches is also matched by `a` (a sound, not complete, test)."""
    if a.provider and not (b.provider and all(instances.matches(p, a.provider) for p in b.provider)):
        return False
    if a.kind and not (b.kind and set(b.kind) <= set(a.kind)):
        return False
    for flag in ("privileged", "guest", "machine"):
        if getattr(a, flag) is not None and getattr(a, flag) != getattr(b, flag):
            return False
    if a.groups and not (b.groups and {g.casefold() for g in b.groups} <= {g.casefold() for g in a.groups}):
        return False
    for key, value in a.tags.items():
        if key not in b.tags or value != "*" and b.tags[key].casefold() != value.casefold():
            return False
    if a.org_unit and not (b.org_unit and all(any(_under(u, p.rstrip("/").casefold() or "/") for p in a.org_unit)
                                              for u in b.org_unit)):
        return False
    if a.login and not (b.login and all(any(g == "*" or literal(g) == literal(h) for g in a.login)
                                        for h in b.login)):
        return False
    return True


def problems(rules: tuple[Rule, ...] | list[Rule], inactive_days: int, never_used_days: int | None) -> list[str]:
    """What `sweeper check` says about the rules: duplicate names, a rule no identity can reach (an
    earlier rule matches all it would), and rules that disable more than the defaults would."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for n, rule in enumerate(rules, 1):
        if rule.name.casefold() in seen:
            out.append(f"rule {n} ({rule.name!r}) has the same name as rule {seen[rule.name.casefold()]}: "
                       "findings could not say which applied")
        seen.setdefault(rule.name.casefold(), n)
        for m, earlier in enumerate(rules[:n - 1], 1):
            if _covers(earlier.match, rule.match):
                out.append(f"rule {n} ({rule.name!r}) never applies: rule {m} ({earlier.name!r}) comes first and "
                           "matches every identity it would")
                break
        acts = rule.action in (None, "disable")
        if rule.match.privileged and rule.action == "disable":
            out.append(f"rule {n} ({rule.name!r}) disables privileged identities (action = \"disable\"); "
                       "without this rule they are protected")
        if acts and rule.inactive_days is not None and rule.inactive_days < inactive_days:
            out.append(f"rule {n} ({rule.name!r}) disables after {rule.inactive_days} days of inactivity, sooner "
                       f"than the defaults ({inactive_days} days)")
        default_never = never_used_days or inactive_days
        if acts and rule.never_used_days is not None and rule.never_used_days < default_never:
            out.append(f"rule {n} ({rule.name!r}) disables never-used credentials after {rule.never_used_days} "
                       f"days, sooner than the defaults ({default_never} days)")
    return out
