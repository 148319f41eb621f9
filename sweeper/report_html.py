"""The HTML report (`-f html`, design.md §9): one page an auditor opens offline and reads at a glance.

Everything is inline: the style, one small script, the charts and the findings. The page's content
security policy forbids every load from elsewhere (`default-src 'none'`) and runs only its own script
(allowed by hash), so a value that escaped its escaping could still fetch and run nothing.

- The template (`sweeper/templates/report.html.j2`) escapes every value (autoescape), after
  `sweeper.text.printable` has shown control characters, bidi overrides and lone surrogates as escapes.
- The charts are SVG drawn at build time by matplotlib (the `html` extra): per provider, days since
  last use of every credential judged with the threshold and warning window marked; and the decisions
  per provider. Without matplotlib the page says how to get them; the rest of the report is the same.
- The findings travel as JSON in a data block (see `sweeper.text.script_json`), gzip-compressed and
  base64-encoded when large: 10,000 findings take about 250 kB that way, against 2 MB as table markup.
  The script builds the table from it as text (never as markup), sorts it and filters it by provider,
  decision and free text (the filters also read `#d=warn&p=aws&q=text` from the address); printing
  prints the table as built, without the controls.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from sweeper.engine import Finding, RunResult, ScopeResult
from sweeper.report import _ordered, display_name, rfc3339, summary, who_left
from sweeper.text import html, printable, script_json

COMPRESS_ABOVE = 100_000  # bytes of findings JSON above which they are embedded gzip-compressed
DECISIONS = ("remove", "disable", "warn", "report", "unknown", "protected", "excluded")
COLOURS = {"remove": "#b0399f", "disable": "#d64541", "warn": "#e0a000", "report": "#e07b39", "unknown": "#8a6fc2",
           "protected": "#2a9d8f", "excluded": "#4a7fc1", "in use": "#8c9bab", "leaver": "#a3302c",
           "orphan": "#6b7b8c"}
CHARTS_HINT = "install identity-sweeper[html] for charts"
_INK = "#010203"  # what matplotlib draws text and axes with; the page's text colour (currentColor) instead
_CHART_LABEL = 40  # characters of a provider's name shown in a chart


@dataclass(frozen=True)
class Chart:
    title: str
    svg: Markup
    caption: str


def render_html(result: RunResult, charts: bool = True) -> str:
    """The run as one self-contained HTML page (the `html` renderer); `charts=False` leaves the charts
    out (quicker, for tests that look at the rest)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("sweeper", "templates"), autoescape=True, undefined=StrictUndefined,
                      finalize=_shown)
    env.filters["csp_hash"] = _csp_hash
    drawn, note = charts_for(result) if charts else ([], "left out of this rendering")
    encoding, payload = embedded(table_data(result))
    return env.get_template("report.html.j2").render(
        run=result, as_of=rfc3339(result.as_of), totals=_totals(result), scopes=[_card(sc) for sc in result.scopes],
        charts=drawn, charts_note=note, encoding=encoding, payload=payload, colours=COLOURS,
        journal_error=result.journal_error, people=_people(result))


def _people(result: RunResult) -> dict[str, Any] | None:
    """The people view (#25) as the page shows it: the counts, and each person who left with what of
    theirs is still there, those used after leaving first."""
    view = result.people
    if not view:
        return None
    if "not_linked" in view:
        return {"note": view["not_linked"], "counts": None, "left": [], "incomplete": []}
    left = who_left(view)
    return {"note": None, "counts": view["counts"], "action": view["leavers_action"], "left": left,
            "incomplete": view.get("incomplete", [])}


def _shown(value: Any) -> Any:
    """Every string a template shows is printable and cut (escaping follows: autoescape)."""
    return printable(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def _csp_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(str(script).encode()).digest()).decode()


def _totals(result: RunResult) -> list[tuple[str, int, str]]:
    s = summary(result)
    shown = [("identities", s["identities"], ""), ("credentials", s["credentials"], ""),
             ("to disable", s["disable"], "disable"), ("warn", s["warn"], "warn"), ("unknown", s["unknown"], "unknown"),
             ("protected", s["protected"], "protected"), ("excluded", s["excluded"], "excluded"),
             ("already disabled", s["already_disabled"], "")]
    if s.get("remove"):
        shown.insert(3, ("to remove", s["remove"], "remove"))
    if s.get("machine_identities"):
        shown.insert(1, ("machine identities", s["machine_identities"], ""))
    if s.get("report"):
        shown.insert(-4, ("reported only", s["report"], "report"))
    if result.mode == "apply":
        shown += [("disabled", s["disabled"], "")] + ([("removed", s["removed"], "")] if s.get("remove") else [])
        shown.append(("failed", s["failed"], "failed" if s["failed"] else ""))
    return shown


def _card(sc: ScopeResult) -> dict[str, Any]:
    counts = Counter(f.decision.kind.value for f in sc.findings)
    return {"provider": display_name(sc.provider), "scope": sc.scope, "status": sc.status.value,
            "status_text": sc.status.value.replace("_", " "), "identities": sc.identities, "machines": sc.machines,
            "credentials": sc.credentials, "already_disabled": sc.already_disabled,
            "counts": [(k, counts[k]) for k in DECISIONS if counts[k]], "message": sc.message or "",
            "removal_capped": sc.removal_capped}


# -- the findings ------------------------------------------------------------------------------------

def table_data(result: RunResult) -> dict[str, Any]:
    """The findings for the page's script: providers and scopes once, then one array per finding:
    [provider, scope (indexes), login, display name, credential, decision, days, threshold, last used,
    action, error, reason, risk]. Every string printable and cut as in the other reports."""
    providers: dict[str, int] = {}
    scopes: dict[str, int] = {}
    rows = []
    for f in _ordered(result):
        p = providers.setdefault(f.identity.provider, len(providers))
        s = scopes.setdefault(f.identity.scope, len(scopes))
        used = f.credential.last_used
        rows.append([p, s, printable(f.identity.login), printable(f.identity.display_name or ""),
                     printable(f.credential.label), f.decision.kind.value, f.decision.days_inactive,
                     f.decision.threshold_days, used.date().isoformat() if used else "", str(f.action),
                     printable(f.error or ""), printable(f.decision.reason), f.decision.risk])
    return {"p": [[printable(name), printable(display_name(name))] for name in providers],
            "s": [printable(scope) for scope in scopes], "r": rows}


def embedded(data: dict[str, Any]) -> tuple[str, Markup]:
    """("json", the data as script-safe JSON), or ("gzip", base64 of the gzip of it) when it is large."""
    text = script_json(data)
    if len(text) <= COMPRESS_ABOVE:
        return "json", text
    packed = gzip.compress(str(text).encode("utf-8"), 9, mtime=0)
    return "gzip", Markup(base64.b64encode(packed).decode("ascii"))  # [A-Za-z0-9+/=] only


# -- the charts ----------------------------------------------------------------------------------------

def charts_for(result: RunResult) -> tuple[list[Chart], str | None]:
    """The charts, or none and why (matplotlib is the optional `html` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return [], CHARTS_HINT
    by_provider: dict[str, list[ScopeResult]] = {}
    for sc in result.scopes:
        by_provider.setdefault(sc.provider, []).append(sc)
    charts = []
    decisions = _decisions(by_provider)
    if decisions is not None:
        charts.append(decisions)
    for n, (provider, scopes) in enumerate(by_provider.items()):
        chart = _histogram(provider, scopes, f"h{n}")
        if chart is not None:
            charts.append(chart)
    return charts, None


def _style() -> Any:  # (matplotlib types its rcParams keys as literals)
    return {"svg.fonttype": "none", "svg.hashsalt": "identity-sweeper", "text.parse_math": False,
            "font.size": 9, "font.family": "sans-serif", "text.color": _INK, "axes.edgecolor": _INK,
            "axes.labelcolor": _INK, "xtick.color": _INK, "ytick.color": _INK, "axes.spines.top": False,
            "axes.spines.right": False, "legend.frameon": False, "figure.facecolor": "none",
            "axes.facecolor": "none", "savefig.transparent": True}


def _label(value: str) -> str:
    return printable(value, _CHART_LABEL)


def _decisions(by_provider: dict[str, list[ScopeResult]]) -> Chart | None:
    """Stacked bars: the findings of each provider by decision, the count on each part."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    counts = {p: Counter(f.decision.kind.value for sc in scopes for f in sc.findings)
              for p, scopes in by_provider.items()}
    kinds = [k for k in DECISIONS if any(c[k] for c in counts.values())]
    if not kinds:
        return None
    names = list(counts)
    with rc_context(_style()):
        fig = Figure(figsize=(7, 0.9 + 0.42 * len(names)))
        ax = fig.add_subplot()
        left = [0] * len(names)
        for kind in kinds:
            values = [counts[p][kind] for p in names]
            bars = ax.barh(range(len(names)), values, left=left, color=COLOURS[kind], label=kind, height=0.6)
            total = max(sum(c.values()) for c in counts.values())
            ax.bar_label(bars, labels=[str(v) if v and v >= total * 0.04 else "" for v in values],
                         label_type="center", color="white", fontsize=8)
            left = [a + b for a, b in zip(left, values)]
        for y, width in enumerate(left):
            ax.text(width, y, f" {width}", va="center", fontsize=8)
        ax.set_yticks(range(len(names)), [_label(display_name(p)) for p in names])
        ax.invert_yaxis()
        ax.set_xlabel("findings")
        ax.margins(x=0.08)
        ax.legend(ncols=len(kinds), loc="lower left", bbox_to_anchor=(0, 1), fontsize=8, handlelength=1)
        svg = _svg(fig, "dc", "findings by decision, per provider")
    parts = "; ".join(f"{display_name(p)}: " + ", ".join(f"{counts[p][k]} {k}" for k in kinds if counts[p][k])
                      for p in names if sum(counts[p].values()))
    return Chart("Findings by decision", svg, parts or "no findings")


def _bin_width(span: int) -> int:
    return next((w for w in (1, 2, 5, 7, 14, 30, 60, 90, 180, 365) if span / w <= 40), 730)


def _histogram(provider: str, scopes: list[ScopeResult], prefix: str) -> Chart | None:
    """Days since last use of every credential judged (since creation when never used), the threshold
    and the warning window marked; bars coloured by what they are (in use, warned, over)."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    findings = [f for sc in scopes for f in sc.findings]
    ages: Counter[int] = Counter()
    for sc in scopes:
        ages.update(sc.ages)
    if not ages:  # a result built without them (a plug-in, an old caller): the findings alone
        ages = Counter(f.decision.days_inactive for f in findings if f.decision.days_inactive is not None)
    if not ages:
        return None
    threshold = (next((sc.inactive_days for sc in scopes if sc.inactive_days), None)
                 or _most_common(f.decision.threshold_days for f in findings))
    warn = next((sc.warn_days for sc in scopes if sc.warn_days is not None), 0) or 0
    others = sorted({f.decision.threshold_days for f in findings} - {threshold})
    top = max(ages)
    limit = min(top, max(3 * max([threshold or 0, *others]), 180))
    width = _bin_width(limit)
    bins = limit // width + 1
    heights = [0] * (bins + 1)  # the last: everything past `limit`
    for days, n in ages.items():
        heights[min(days // width, bins) if days <= limit else bins] += n
    over = heights.pop() if top > limit else 0
    if not over:
        heights.pop()

    def zone(start: int) -> str:
        if threshold is None:
            return "in use"
        return "disable" if start >= threshold else "warn" if warn and start >= threshold - warn else "in use"

    with rc_context(_style()):
        fig = Figure(figsize=(7, 2.6))
        ax = fig.add_subplot()
        starts = [i * width for i in range(len(heights))]
        ax.bar(starts, heights, width=width, align="edge", color=[COLOURS[zone(s)] for s in starts],
               edgecolor="none")
        if over:
            ax.bar([bins * width], [over], width=width, align="edge", color=COLOURS["disable"], hatch="///",
                   edgecolor=_INK, linewidth=0)
        handles = [Patch(color=COLOURS["in use"], label="in use")]
        if threshold is not None:
            if warn:
                ax.axvspan(max(threshold - warn, 0), threshold, color=COLOURS["warn"], alpha=0.18, linewidth=0)
                handles.append(Patch(color=COLOURS["warn"], label=f"warning window ({warn} days)"))
            ax.axvline(threshold, color=_INK, linestyle="--", linewidth=1)
            handles.append(Patch(color=COLOURS["disable"], label=f"over the threshold ({threshold} days)"))
        for days in others:
            if days <= limit + width:
                ax.axvline(days, color=_INK, linestyle=":", linewidth=1)
                ax.text(days, 1, f" {days} d", transform=ax.get_xaxis_transform(), va="top", fontsize=7)
        counts = [h for h in heights + [over] if h]
        if max(counts) > 30 * min(counts):
            from matplotlib.ticker import FuncFormatter, NullFormatter

            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # not mathtext
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_ylabel("credentials (log scale)")
        else:
            ax.set_ylabel("credentials")
        ax.set_xlabel(f"days since last use ({width}-day bars" + (f"; the last: over {limit} days)" if over else ")"))
        ax.set_xlim(0, (bins + (1 if over else 0)) * width)
        ax.legend(handles=handles, ncols=3, loc="lower left", bbox_to_anchor=(0, 1), fontsize=8, handlelength=1)
        svg = _svg(fig, prefix, f"days since last use, {display_name(provider)}")
    known = sum(ages.values())
    unknown = sum(1 for f in findings if f.decision.days_inactive is None)
    caption = (f"{known} credential{'s' if known != 1 else ''} with a known last use"
               + (f"; {unknown} with unknown activity not shown" if unknown else "")
               + (f"; threshold {threshold} days" if threshold is not None else "")
               + (f", warned from {max(threshold - warn, 0)} days" if threshold is not None and warn else "")
               + (f"; other thresholds: {', '.join(f'{d} days' for d in others)}" if others else ""))
    return Chart(f"{display_name(provider)}: days since last use", svg, caption)


def _most_common(values: Any) -> int | None:
    found = Counter(values).most_common(1)
    return found[0][0] if found else None


_REFERENCE = re.compile(r'(url\(#|href="#)([^")]+)')


def _svg(fig: Any, prefix: str, label: str) -> Markup:
    """The figure as an SVG element to inline: no XML prolog, DOCTYPE, metadata or global style; ids
    prefixed (several charts share one document) and those nothing refers to dropped; axes and text
    in the page's text colour; sized by the page."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buf = io.StringIO()
    fig.set_layout_engine("constrained")
    canvas: Any = FigureCanvasSVG(fig)
    canvas.print_svg(buf, metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r"\s*<style[^>]*>.*?</style>", "", text, flags=re.S)
    referenced = {m.group(2) for m in _REFERENCE.finditer(text)}
    text = re.sub(r' id="([^"]+)"', lambda m: f' id="{prefix}-{m.group(1)}"' if m.group(1) in referenced else "", text)
    text = _REFERENCE.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    text = text.replace(_INK, "currentColor")
    text = re.sub(r"font-family: [^;\"]*;? ?", "", text)  # the page's font
    text = re.sub(r"\n\s+", "\n", text)
    head = text[:text.index(">") + 1]
    view = re.search(r'viewBox="([^"]+)"', head)
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
                  f'viewBox="{view.group(1) if view else ""}" role="img" aria-label="{html(label)}">'
                  + text[len(head):])
