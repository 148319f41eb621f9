"""`sweeper explain IDENTITY`: why the policy judges one identity as it does (#26).

It lists the selected providers read-only, finds the identity by login (case-insensitive), identity
id or credential id, and for each of its credentials shows every input date, the rules in order
(which matched, which did not and why, which were not reached) and the decision with its reason.
It changes nothing and records nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Iterator

from sweeper.model import Activity, Credential, Identity
from sweeper.policy import Thresholds, evaluate, since_creation
from sweeper.rules import compile_rules, first_match
from sweeper.text import literal


def _day(when: datetime | None) -> str:
    return when.isoformat().replace("+00:00", "Z") if when is not None else "(none)"


def _wanted(query: str) -> Callable[[Identity], bool]:
    folded = literal(query)
    return lambda i: (i.id == query or literal(i.login) == folded
                      or any(c.credential_id == query for c in i.credentials))


def describe_identity(identity: Identity) -> list[str]:
    i = identity
    facts = [f"identity {i.login} (id {i.id}): {i.kind.value}, {'enabled' if i.enabled else 'disabled'}, "
             f"created {_day(i.created)}"]
    for label, value in (("privileged", i.privileged), ("protected", i.protected_by), ("excluded", i.excluded_by),
                         ("exclusion unknown", i.exclusion_unknown), ("owner", i.owner), ("org unit", i.org_unit)):
        if value:
            facts.append(f"  {label}: {value}")
    if i.groups:
        facts.append(f"  groups: {', '.join(i.groups)}")
    if i.tags:
        facts.append("  tags: " + ", ".join(f"{k}={v}" for k, v in sorted(i.tags.items())))
    return facts


def describe_credential(credential: Credential) -> list[str]:
    c = since_creation(credential)
    used = {Activity.SEEN: f"last used {_day(c.last_used)}", Activity.NEVER: "never used",
            Activity.UNKNOWN: "activity unknown"}[c.activity]
    out = [f"credential {c.label}: {'enabled' if c.enabled else 'disabled'}, {used}, created {_day(c.created)}"
           + (f", expires {_day(c.expires)}" if c.expires else "")]
    if c.activity_note:
        out.append(f"  activity: {c.activity_note}")
    for label, value in (("protected", c.protected_by), ("reported only", c.report_only)):
        if value:
            out.append(f"  {label}: {value}")
    return out


def rule_lines(t: Thresholds, all_rules: tuple[Any, ...], identity: Identity, credential: Credential) -> list[str]:
    """Each rule in order: not for this provider, does not match (why), matches (the first: applies), or
    not reached because an earlier one applied."""
    if not all_rules:
        return ["rules: none configured; the defaults apply"]
    out, applied = [], None
    applicable = {m.rule.name for m in t.rules}
    for n, matcher in enumerate(compile_rules(all_rules), 1):
        rule = matcher.rule
        head = f"rule {n} {rule.name!r}"
        if applied is not None:
            out.append(f"{head}: not reached (rule {applied!r} applied first)")
        elif rule.name not in applicable:
            out.append(f"{head}: not for provider {t.provider} (it matches {', '.join(rule.match.provider)})")
        else:
            why = matcher.why_not(t.provider, identity, credential)
            if why is None:
                applied = rule.name
                out.append(f"{head}: APPLIES")
            else:
                out.append(f"{head}: does not match: {why}")
    if applied is None:
        out.append("no rule matched: the defaults apply")
    return out


def threshold_line(t: Thresholds, identity: Identity, credential: Credential) -> str:
    days, noun = t.threshold(identity, credential)
    return (f"thresholds: {days} days for {noun}"
            + (f", never used: {t.never_used_days} days" if t.never_used_days else "")
            + f", warning {t.warn_days} days before")


def explain_identity(t: Thresholds, all_rules: tuple[Any, ...], identity: Identity, now: datetime) -> list[str]:
    lines = describe_identity(identity)
    for credential in identity.credentials:
        lines.append("")
        lines += describe_credential(credential)
        lines += ["  " + line for line in rule_lines(t, all_rules, identity, credential)]
        rule = first_match(t.rules, t.provider, identity, credential) if t.rules else None
        lines.append("  " + threshold_line(t.for_rule(rule) if rule is not None else t, identity, credential))
        d = evaluate(identity, credential, t, now)
        lines.append(f"  decision: {d.kind.value.upper()}: {d.reason}")
        if d.controls and d.kind.is_finding:
            lines.append(f"  controls: {', '.join(d.controls)}")
    return lines


def find(adapter: Any, scopes: list[str], query: str) -> Iterator[tuple[str, Identity]]:
    wanted = _wanted(query)
    for scope in scopes:
        for identity in adapter.list_identities(scope):
            if wanted(identity):
                yield scope, identity


def provider_of(name: str, identity: Identity) -> Identity:
    """The identity named after the provider instance it was listed in (as the sweep names it)."""
    return identity if identity.provider == name else replace(identity, provider=name)

