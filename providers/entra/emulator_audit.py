"""The emulator's directory audit log (#25): `GET /auditLogs/directoryAudits` in Graph's shape.

Seeded from the scenario's "directory_audits": raw directoryAudit records as Graph returns them
(`providers.entra.scenario.disable_event` builds one). They are served newest first, as Graph lists them,
in pages of `$top` (100 unless asked, at most 999) with `@odata.nextLink`. `$filter` takes what the audit
log supports and the adapter sends: `eq` on activityDisplayName, category, result, loggedByService,
operationType; `ge`, `gt`, `le`, `lt` on activityDateTime (an unquoted UTC time); clauses joined by
`and`, or by `or` inside parentheses. Anything else answers 400 as Graph does. An app without
AuditLog.Read.All ("auditLogs" in the scenario's "denied") gets 403 Authorization_RequestDenied.
"""

from __future__ import annotations

import operator
from datetime import datetime
from typing import Any, Callable

from sweeper.kit.times import BadTime, parse_utc

EQ_FIELDS = ("activityDisplayName", "category", "result", "loggedByService", "operationType")
COMPARE: dict[str, Callable[[Any, Any], bool]] = {"ge": operator.ge, "gt": operator.gt, "le": operator.le,
                                                  "lt": operator.lt}


class BadFilter(ValueError):
    """A $filter clause the audit log does not support; its text is Graph's message."""


def _when(text: Any) -> datetime | None:
    """An aware time, or None for anything else (junk in a record is never selected)."""
    try:
        return parse_utc(text)
    except BadTime:
        return None


def compile_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """`(activityDisplayName eq 'A' or activityDisplayName eq 'B') and activityDateTime ge 2026-11-01T00:00:00Z`
    as a test: clauses joined by `and`, each a clause or a parenthesised group of clauses joined by `or`."""
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for part in _conjuncts(text):
        if part.startswith("(") and part.endswith(")"):
            tests.append(_any([_clause(p.strip()) for p in part[1:-1].split(" or ")]))
        else:
            tests.append(_clause(part))
    return lambda event: all(t(event) for t in tests)


def _conjuncts(text: str) -> list[str]:
    """`text` split at the `and`s outside parentheses."""
    parts, depth, current = [], 0, ""
    for token in text.strip().split(" ") if text.strip() else []:
        depth += token.count("(") - token.count(")")
        if token == "and" and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += " " + token
    if parts and not current.strip():
        raise BadFilter(f"Invalid filter clause: {text}")
    if current.strip():
        parts.append(current.strip())
    if depth or "" in parts:
        raise BadFilter(f"Invalid filter clause: {text}")
    return parts


def _clause(part: str) -> Callable[[dict[str, Any]], bool]:
    field, op, value = (part.split(" ", 2) + ["", ""])[:3]
    bound = _when(value)
    if op == "eq" and field in EQ_FIELDS and len(value) >= 2 and value[0] == value[-1] == "'":
        return _equals(field, value[1:-1].replace("''", "'"))
    if op in COMPARE and field == "activityDateTime" and bound is not None:
        return _compares(COMPARE[op], bound)
    raise BadFilter(f"Invalid filter clause: {part}")


def _any(tests: list[Callable[[dict[str, Any]], bool]]) -> Callable[[dict[str, Any]], bool]:
    return lambda event: any(t(event) for t in tests)


def _equals(field: str, want: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get(field) == want


def _compares(compare: Callable[[Any, Any], bool], bound: datetime) -> Callable[[dict[str, Any]], bool]:
    def test(event: dict[str, Any]) -> bool:
        when = _when(event.get("activityDateTime"))
        return when is not None and compare(when, bound)
    return test


def rows(events: list[dict[str, Any]], filter_text: str) -> list[dict[str, Any]]:
    """The events `filter_text` selects, newest first. Raises BadFilter."""
    test = compile_filter(filter_text)
    found = [dict(e) for e in events if test(e)]
    return sorted(found, key=lambda e: str(e.get("activityDateTime", "")), reverse=True)
