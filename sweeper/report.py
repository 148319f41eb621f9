"""Reports: JSON (design.md §5, schema_version 1), CSV, Markdown and a rich table.

Every string from a provider or the config goes through its format's one escaping rule in
`sweeper.text` (`terminal`, `markdown`, `csv_cell`); the JSON report keeps the exact values.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from sweeper.engine import Finding, RunResult
from sweeper.model import DecisionKind
from sweeper.results import FindingAction
from sweeper.text import csv_cell, markdown, terminal


def display_name(provider: str) -> str:
    """The provider's name for people (its registry metadata), or its key when it has none."""
    from sweeper import registry

    try:
        display = registry.info(provider).display
    except Exception:  # noqa: BLE001 - a report never fails over a label
        return provider
    return display if ":" not in provider else f"{display} ({registry.instance_of(provider)})"


def rfc3339(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "provider": f.identity.provider, "scope": f.identity.scope, "identity": f.identity.login,
        "identity_id": f.identity.id, "credential": f.credential.label, "kind": f.credential.kind.value,
        "decision": f.decision.kind.value, "reason": f.decision.reason,
        "last_used": rfc3339(f.credential.last_used), "created": rfc3339(f.credential.created),
        "days_inactive": f.decision.days_inactive, "threshold_days": f.decision.threshold_days,
        "action": f.action, "error": f.error, "risk": f.decision.risk, "controls": list(f.decision.controls),
        "irreversible": f.credential.irreversible,
        **({"rule": f.decision.rule} if f.decision.rule else {}),
        **({"person": f.decision.person} if f.decision.person else {}),
        **({"leaver": f.decision.leaver} if f.decision.leaver else {}),
        **({"used_after_leaving": True} if f.decision.used_after_leaving else {}),
    }


def summary(result: RunResult) -> dict[str, Any]:
    decisions = Counter(f.decision.kind for f in result.findings)
    actions = Counter(f.action for f in result.findings)
    return {
        "identities": sum(s.identities for s in result.scopes),
        "credentials": sum(s.credentials for s in result.scopes),
        "already_disabled": sum(s.already_disabled for s in result.scopes),
        **{k.value: decisions[k] for k in (DecisionKind.DISABLE, DecisionKind.WARN, DecisionKind.EXCLUDED,
                                           DecisionKind.PROTECTED, DecisionKind.UNKNOWN)},
        "disabled": actions[FindingAction.DISABLED], "failed": actions[FindingAction.FAILED],
        **({"remove": decisions[DecisionKind.REMOVE], "removed": actions[FindingAction.REMOVED]}
           if decisions[DecisionKind.REMOVE] else {}),
        **({"report": decisions[DecisionKind.REPORT]} if decisions[DecisionKind.REPORT] else {}),
        **({"machine_identities": machines} if (machines := sum(s.machines for s in result.scopes)) else {}),
        **(_people_counts(result) if result.people and "counts" in result.people else {}),
    }


def _people_counts(result: RunResult) -> dict[str, int]:
    """With `[people]` (#25): leaver findings (reported and disabled), those used after leaving, orphans."""
    found = result.findings
    return {"leaver": sum(f.decision.leaver is not None and f.decision.kind in (DecisionKind.LEAVER,
                                                                                DecisionKind.DISABLE) for f in found),
            "used_after_leaving": sum(f.decision.used_after_leaving for f in found),
            "orphan": sum(f.decision.kind is DecisionKind.ORPHAN for f in found)}


def _extra_counts(s: dict[str, Any]) -> str:
    """The counts a run has only when it judged machine identities (#17): how many, and how many of
    their findings are only reported."""
    return ((f"; {s['machine_identities']} machine identities" if s.get("machine_identities") else "")
            + (f"; {s['report']} reported only" if s.get("report") else "")
            + (f"; {s['leaver']} of leavers" if s.get("leaver") else "")
            + (f" ({s['used_after_leaving']} used after leaving)" if s.get("used_after_leaving") else "")
            + (f"; {s['orphan']} orphans" if s.get("orphan") else ""))


def _instance(provider: str) -> str:
    from sweeper import registry

    return registry.instance_of(provider)


def to_json(result: RunResult) -> dict[str, Any]:
    return {
        "schema_version": 1, "run_id": result.run_id, "mode": result.mode, "as_of": rfc3339(result.as_of),
        "providers": [{"name": s.provider, "scope": s.scope, "status": s.status.value,
                       "identities": s.identities, "credentials": s.credentials, "message": s.message,
                       "instance": _instance(s.provider), **({"machine_identities": s.machines} if s.machines else {}),
                       "decisions": dict(sorted(Counter(f.decision.kind.value for f in s.findings).items()))}
                      for s in result.scopes],
        "findings": [finding_json(f) for f in _ordered(result)],
        "summary": summary(result),
        **({"notices": result.notices} if result.notices else {}),
        **({"people": result.people} if result.people else {}),
    }


_ORDER = {k: i for i, k in enumerate(("remove", "disable", "leaver", "warn", "report", "unknown", "orphan", "protected",
                                      "excluded"))}


def _ordered(result: RunResult) -> list[Finding]:
    return sorted(result.findings, key=lambda f: (f.identity.provider, f.identity.scope,
                                                  _ORDER.get(f.decision.kind.value, 9), f.identity.login.casefold(),
                                                  f.credential.label))


def to_csv(result: RunResult) -> str:
    out = io.StringIO()
    columns = ["provider", "scope", "identity", "identity_id", "credential", "kind", "decision", "reason",
               "last_used", "created", "days_inactive", "threshold_days", "action", "error", "risk", "controls"]
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for f in _ordered(result):
        row = finding_json(f)
        row["controls"] = "; ".join(row["controls"])
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()


_md = markdown


def summary_line(result: RunResult) -> str:
    """The run's totals in one line: counts only, no identity named."""
    s = summary(result)
    return (f"{s['identities']} identities, {s['credentials']} credentials: {s['disable']} to disable, "
            f"{s['warn']} warn, {s['unknown']} unknown, {s['protected']} protected, {s['excluded']} excluded, "
            f"{s['already_disabled']} already disabled" + _extra_counts(s)
            + (f"; {s['remove']} to remove" if s.get("remove") else "")
            + (f"; {s['disabled']} disabled" + (f", {s['removed']} removed" if s.get("remove") else "")
               + f", {s['failed']} failed" if result.mode == "apply" else ""))


def _markdown_head(result: RunResult) -> list[str]:
    """The title and the run's totals: counts only, no identity named."""
    s = summary(result)
    return [f"## identity-sweeper {result.mode} — {rfc3339(result.as_of)}", "",
            f"Run `{result.run_id}`: {s['identities']} identities, {s['credentials']} credentials; "
            f"**{s['disable']} to disable**, {s['warn']} warn, {s['unknown']} unknown, "
            f"{s['protected']} protected, {s['excluded']} excluded, {s['already_disabled']} already disabled"
            + _extra_counts(s)
            + (f"; {s['disabled']} disabled, {s['failed']} failed" if result.mode == "apply" else "") + ".", ""]


def to_markdown(result: RunResult) -> str:
    lines = [*_markdown_head(result),
             "| provider | scope | status | identities | disable | warn | unknown | message |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for sc in result.scopes:
        c = Counter(f.decision.kind for f in sc.findings)
        lines.append(f"| {_md(display_name(sc.provider))} | {_md(sc.scope)} | {sc.status.value} | "
                     f"{sc.identities} | {c[DecisionKind.DISABLE]} | {c[DecisionKind.WARN]} | "
                     f"{c[DecisionKind.UNKNOWN]} | {_md(sc.message)} |")
    lines += people_markdown(result)
    findings = _ordered(result)
    if findings:
        lines += ["", "| provider | identity | credential | decision | action | reason |", "|---|---|---|---|---|---|"]
        lines += [f"| {_md(f.identity.provider)} | {_md(f.identity.login)} | {_md(f.credential.label)} | "
                  f"{f.decision.kind.value} | {f.action} | {_md(f.decision.reason)}"
                  f"{' — ' + _md(f.error) if f.error else ''} |" for f in findings]
    return "\n".join(lines) + "\n"


def who_left(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The people view's people who left, those with a credential used after leaving first."""
    return sorted((p for p in view["people"] if p["left"]),
                  key=lambda p: (not any(a.get("used_after_leaving") for a in p["accounts"]), p["person"]))


def people_markdown(result: RunResult) -> list[str]:
    """The people view (#25): who left and what of theirs still works; whoever was used after leaving first."""
    view = result.people
    if not view:
        return []
    if "not_linked" in view:
        return ["", f"People: {_md(view['not_linked'])}"]
    c = view["counts"]
    lines = ["", f"### People ({c['people']} linked; {c['leavers']} left; {c['used_after_leaving']} credentials used "
                 f"after leaving; {c['orphans']} orphans; leavers: {view['leavers_action']})"]
    if view.get("incomplete"):
        lines.append(f"Sources not listed completely, so no leaver is disabled: {_md('; '.join(view['incomplete']))}")
    rows = who_left(view)
    if rows:
        lines += ["", "| person | left | accounts still there |", "|---|---|---|"]
        for p in rows:
            there = [f"{_md(a['provider'])} {_md(a['identity'])} ({a['decision']}"
                     + (", **used after leaving**" if a.get("used_after_leaving") else "") + ")"
                     for a in p["accounts"] if not a["source"]]
            lines.append(f"| {_md(p['person'])} | {_md(p['left'])} | {'; '.join(there) or 'none'} |")
    return lines


def to_markdown_counts(result: RunResult) -> str:
    """A summary that names nobody, for places more people can read than the reports (a CI step summary):
    per provider and scope its status and counts; no login, display name, reason or message (a message
    can quote an identity), which stay in the report files."""
    apply = result.mode == "apply"
    lines = [*_markdown_head(result),
             "| provider | scope | status | identities | credentials | disable | warn | unknown | protected | "
             "excluded |" + (" disabled | failed |" if apply else ""),
             "|---|---|---|" + "---:|" * (7 + (2 if apply else 0))]
    for sc in result.scopes:
        d = Counter(f.decision.kind for f in sc.findings)
        a = Counter(f.action for f in sc.findings)
        counts = [sc.identities, sc.credentials, *(d[k] for k in (DecisionKind.DISABLE, DecisionKind.WARN,
                                                               DecisionKind.UNKNOWN, DecisionKind.PROTECTED,
                                                               DecisionKind.EXCLUDED))]
        if apply:
            counts += [a[FindingAction.DISABLED], a[FindingAction.FAILED]]
        lines.append(f"| {_md(display_name(sc.provider))} | {_md(sc.scope)} | {sc.status.value} | "
                     + " | ".join(str(n) for n in counts) + " |")
    lines += ["", "Identities, reasons and messages are in the run's report files, not in this summary."]
    return "\n".join(lines) + "\n"


STEP_SUMMARY_BYTES = 1024 * 1024  # GitHub shows no step summary over 1 MiB (the step's file, all appends)


def fit_summary(markdown: str, budget: int) -> str:
    """`markdown` cut at a line so that it takes at most `budget` bytes (UTF-8), saying how many lines
    were left out and where they are; "" when not even the note fits."""
    if len(markdown.encode()) <= budget:
        return markdown
    lines = markdown.splitlines(keepends=True)
    note = ("\n_{n} more lines not shown: a GitHub step summary holds at most 1 MiB; every finding is in the "
            "run's report files._\n")
    size, kept = len(note.format(n=len(lines)).encode()), 0
    if size > budget:
        return ""
    for line in lines:
        size += len(line.encode())
        if size > budget:
            break
        kept += 1
    return "".join(lines[:kept]) + note.format(n=len(lines) - kept)


_STYLE = {"remove": "bold magenta", "disable": "bold red", "warn": "yellow", "report": "dark_orange", "unknown": "magenta",
          "protected": "cyan", "excluded": "blue"}


def to_table(result: RunResult, console: Console, wide: bool = False) -> None:
    """The run as tables for a person: the scopes, then the findings, then the totals.

    The findings read at the console's width (80 columns included): one line per finding with its
    identity, credential, decision, days inactive and threshold, and the reason (with what was done)
    indented below it. Credential ids are never broken; a line that cannot hold one runs past the
    width instead. `wide` shows the reason as a column of one table instead.
    """
    title = f"identity-sweeper {result.mode} as of {rfc3339(result.as_of)}  (run {result.run_id})"
    if wide:
        providers = Table(title=terminal(title), title_justify="left")
        for col in ("provider", "scope", "status", "identities", "credentials", "message"):
            providers.add_column(col, overflow="fold")
        for sc in result.scopes:
            style = {"ok": "green", "failed": "bold red"}.get(sc.status.value, "yellow")
            providers.add_row(terminal(sc.provider), terminal(sc.scope), terminal(sc.status.value, style),
                              str(sc.identities), str(sc.credentials), terminal(sc.message))
        console.print(providers)
    else:
        _scopes(result, title, console)
    findings = _ordered(result)
    if findings and wide:
        table = Table(show_lines=False)
        for col in ("provider", "identity", "credential", "decision", "action", "reason"):
            table.add_column(col, overflow="fold")
        for f in findings:
            d = f.decision.kind.value
            table.add_row(terminal(f.identity.provider), terminal(f.identity.login), terminal(f.credential.label),
                          terminal(d, _STYLE.get(d, "")), terminal(f.action + (f" ({f.error})" if f.error else "")),
                          terminal(f.decision.reason))
        console.print(table)
    elif findings:
        _compact(findings, console)
    console.print(terminal(summary_line(result)))


def _wrapped(text: str, console: Console, indent: int = 4, style: str = "dim") -> None:
    """`text` on lines of the console's width, indented, broken at spaces only (ids stay whole)."""
    import textwrap

    from rich.text import Text

    for line in textwrap.wrap(text, max(20, console.width - indent), break_long_words=False, break_on_hyphens=False):
        console.print(Text(" " * indent + line, style=style), soft_wrap=True)


def _scopes(result: RunResult, title: str, console: Console) -> None:
    """The scopes, one line each (provider · scope, status, counts), their message below."""
    from rich.text import Text

    from sweeper.text import printable

    _wrapped(printable(title), console, indent=0, style="bold")
    for sc in result.scopes:
        style = {"ok": "green", "failed": "bold red"}.get(sc.status.value, "yellow")
        line = Text(printable(f"{display_name(sc.provider)} · {sc.scope}" if sc.scope else display_name(sc.provider)))
        line.append("  ").append(sc.status.value, style=style)
        counts = f"{sc.identities} identities, {sc.credentials} credentials"
        if len(line) + 2 + len(counts) <= console.width:
            console.print(line.append(f"  {counts}"), soft_wrap=True)
        else:
            console.print(line, soft_wrap=True)
            console.print(Text(f"    {counts}"), soft_wrap=True)
        if sc.message:
            _wrapped(printable(sc.message, None), console)
    console.print()


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def _compact(findings: list[Finding], console: Console) -> None:
    """Findings one per line at the console's width, grouped by provider and scope, reasons below."""
    from rich.text import Text

    from sweeper.text import printable

    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.identity.provider, f.identity.scope), []).append(f)
    for (provider, scope), group in groups.items():
        console.print(Text(printable(f"{display_name(provider)} · {scope}"), style="bold"), soft_wrap=True)
        _group(group, console)


def _group(findings: list[Finding], console: Console) -> None:
    """One scope's findings, with columns as wide as they need within the console's width."""
    from rich.text import Text

    from sweeper.text import printable

    width = max(console.width, 40)
    logins = [printable(f.identity.login) for f in findings]
    labels = [printable(f.credential.label) for f in findings]
    w_dec = max(len("decision"), *(len(f.decision.kind.value) for f in findings))
    w_days, w_thr = len("days"), len("threshold")
    avail = width - (w_dec + w_days + w_thr + 8)
    need_id, need_cred = max(len("identity"), *map(len, logins)), max(len("credential"), *map(len, labels))
    # the credential column gets what it needs while the identity keeps 24; a login or label longer
    # than its column goes on a line of its own, never broken
    w_id = min(need_id, max(min(24, avail - 10), avail - need_cred))
    w_cred = max(10, min(need_cred, avail - w_id))

    def line(ident: str, cred: str, dec: Text | str, days: str, thr: str, style: str = "") -> Text:
        text = Text(f"{ident:<{w_id}}  {cred:<{w_cred}}  ", style=style)
        text.append(dec if isinstance(dec, Text) else Text(dec, style=style))
        pad = w_dec - len(dec if isinstance(dec, str) else dec.plain)
        text.append(" " * pad + f"  {days:>{w_days}}  {thr:>{w_thr}}", style=style)
        return text

    console.print(line("identity", "credential", "decision", "days", "threshold", "dim"), soft_wrap=True)
    for f, login, label in zip(findings, logins, labels):
        if len(login) > w_id:
            console.print(Text(login), soft_wrap=True)
            login = ""
        if len(label) > w_cred:
            console.print(Text("  " + label), soft_wrap=True)
            label = ""
        d = f.decision.kind.value
        console.print(line(login, label, Text(d, style=_STYLE.get(d, "")), _number(f.decision.days_inactive),
                           _number(f.decision.threshold_days)), soft_wrap=True)
        done = "" if f.action in ("", "none") else f"{f.action}" + (f" ({printable(f.error)})" if f.error else "") + ": "
        _wrapped(done + printable(f.decision.reason), console)


def render_json(result: RunResult) -> str:
    return json.dumps(to_json(result), indent=2) + "\n"


def render_csv(result: RunResult) -> str:
    return to_csv(result)


def render_markdown(result: RunResult) -> str:
    return to_markdown(result)


def render(result: RunResult, fmt: str, width: int | None = None, wide: bool = False) -> str:
    """The report as text in `fmt`: a registered renderer (json, csv, markdown, or a plug-in's), or
    the table (without colour, for files)."""
    if fmt != "table":
        from sweeper import registry

        return registry.renderer(fmt)(result)
    buf = io.StringIO()
    to_table(result, Console(file=buf, width=width or 160, no_color=True, highlight=False), wide)
    return buf.getvalue()
