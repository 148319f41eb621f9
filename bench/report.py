"""Tables, targets and plots from a results file (bench/results/<profile>.json).

    python bench/report.py bench/results/full.json [--plots docs/bench]

Every figure is a median over the point's runs. "Own CPU per identity" subtracts the median CPU of
the same provider's N-tiny run (interpreter start, imports, config, the first requests).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

NAMES = {"graph": "Entra (Graph)", "google": "Google (Directory)", "aws": "AWS IAM"}
ORDER = ("graph", "google", "aws")


def med(point: dict[str, Any], key: str) -> float:
    return statistics.median(r[key] for r in point["runs"])


def req(point: dict[str, Any], provider: str, key: str = "total") -> int:
    """Requests of the last run (they are the same in every run: the sweep is deterministic)."""
    return point["runs"][-1]["requests"].get(provider, {}).get(key, 0)


def list_minimum(provider: str, point: dict[str, Any]) -> int:
    """The API minimum for a full listing: pages of 500 (Graph, Directory); per AWS account, the
    credential report (GenerateCredentialReport + GetCredentialReport) and pages of 1,000 users."""
    if provider != "aws":
        return math.ceil(point["n"] / 500)
    users = point["users_per_account"]
    # the first account also holds the sweeper's own user
    return sum(2 + math.ceil((users + (k == 0)) / 1000) for k in range(point["accounts"]))


def find(points: list[dict[str, Any]], **want: Any) -> list[dict[str, Any]]:
    out = []
    for p in points:
        if all((tuple(p[k]) if isinstance(p[k], list) else p[k]) == v for k, v in want.items()):
            out.append(p)
    return out


def one(points: list[dict[str, Any]], **want: Any) -> dict[str, Any] | None:
    found = find(points, **want)
    return found[-1] if found else None


def fmt_s(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


class Results:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.points = data["points"]
        self.startup = {p["providers"][0]: p for p in find(self.points, section="startup")}

    def own_cpu_us(self, provider: str, point: dict[str, Any]) -> float | None:
        base = self.startup.get(provider)
        if base is None or not point["n"]:
            return None
        return (med(point, "cpu_s") - med(base, "cpu_s")) / point["n"] * 1e6

    def plan(self, provider: str, n: int, latency: float, kind: str = "sweeper") -> dict[str, Any] | None:
        return one(self.points, section="plan", providers=(provider,), n=n, latency_ms=latency, kind=kind)

    def baseline_wall(self, provider: str, n: int, latency: float) -> tuple[float | None, str]:
        """Measured baseline wall time, or (when only measured at 0 ms) an estimate: the script is
        sequential, so each of its requests adds exactly the injected latency."""
        measured = self.plan(provider, n, latency, "baseline")
        if measured:
            return med(measured, "wall_s"), "measured"
        fast = self.plan(provider, n, 0, "baseline")
        if fast is None:
            return None, ""
        return med(fast, "wall_s") + req(fast, provider) * latency / 1000, "estimated"

    def sizes(self) -> list[int]:
        return sorted({p["n"] for p in find(self.points, section="plan", kind="sweeper")})

    # -- tables -------------------------------------------------------------------------------
    def machine(self) -> str:
        m, prof = self.data["machine"], self.data["profile"]
        text = (f"Machine: {m['cpus']} cores ({m['cpu_model']}), {m['memory_gb']} GB, Python {m['python']}, "
                f"{m['platform']}. Profile `{prof['name']}`, {prof['runs']} run(s) per point (medians), "
                f"started {self.data['started']}, {self.data.get('elapsed_s', 0) / 60:.0f} minutes.")
        for again in self.data.get("remeasured", []):
            text += (f" Re-measured {again['started']} ({again.get('elapsed_s', 0) / 60:.0f} minutes, "
                     f"{again['runs']} run(s) per point): {', '.join(again['sections'])}"
                     f" for {', '.join(NAMES[p] for p in again['providers'])}"
                     f"{'' if again['baselines'] else ' (sweeper only; baselines kept)'}.")
        return text

    def plan_table(self) -> str:
        rows = ["| provider | N | latency | wall s | CPU s | own CPU µs/identity | peak RSS MB | list requests (minimum) "
                "| other requests | baseline wall s | baseline / sweeper |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for provider in ORDER:
            for p in sorted(find(self.points, section="plan", kind="sweeper", providers=(provider,)),
                            key=lambda p: (p["latency_ms"], p["n"])):
                listed, total = req(p, provider, "list"), req(p, provider)
                wall = med(p, "wall_s")
                base, how = self.baseline_wall(provider, p["n"], p["latency_ms"])
                ratio = f"{base / wall:.1f}×" + (" (est.)" if how == "estimated" else "") if base else "–"
                shape = f"{p['accounts']} × {p['users_per_account']:,}" if provider == "aws" else f"{p['n']:,}"
                own = self.own_cpu_us(provider, p)
                own_text = f"{own:.1f}" if own is not None and p["n"] >= 10_000 else "–"
                rows.append(f"| {NAMES[provider]} | {shape} | {p['latency_ms']:g} ms | {fmt_s(wall)} | "
                            f"{med(p, 'cpu_s'):.2f} | {own_text} | {med(p, 'rss_mb'):.0f} | {listed} ({list_minimum(provider, p)}) "
                            f"| {total - listed} | {fmt_s(base) + (' (est.)' if how == 'estimated' else '')} | {ratio} |")
        return "\n".join(r for r in rows if r)

    def startup_table(self) -> str:
        rows = ["| provider | N | wall s | CPU s | peak RSS MB | requests |", "|---|---:|---:|---:|---:|---:|"]
        for provider in ORDER:
            p = self.startup.get(provider)
            if p:
                rows.append(f"| {NAMES[provider]} | {p['n']} | {med(p, 'wall_s'):.2f} | {med(p, 'cpu_s'):.2f} | "
                            f"{med(p, 'rss_mb'):.0f} | {req(p, provider)} |")
        return "\n".join(rows)

    def together_table(self) -> str:
        rows = ["| N per provider | latency | wall s | CPU s | peak RSS MB | requests (Graph / Directory / AWS) "
                "| slowest alone s | together / slowest |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p in sorted(find(self.points, section="together"), key=lambda p: (p["latency_ms"], p["n"])):
            alone = [self.plan(pr, p["n"], p["latency_ms"]) for pr in ORDER]
            slowest = max((med(a, "wall_s") for a in alone if a), default=None)
            wall = med(p, "wall_s")
            reqs = " / ".join(str(req(p, pr)) for pr in ORDER)
            rows.append(f"| {p['n']:,} | {p['latency_ms']:g} ms | {fmt_s(wall)} | {med(p, 'cpu_s'):.2f} | "
                        f"{med(p, 'rss_mb'):.0f} | {reqs} | {fmt_s(slowest)} | "
                        f"{wall / slowest:.2f}× |" if slowest else "")
        return "\n".join(r for r in rows if r)

    def accounts_table(self) -> str:
        rows = ["| accounts × users | latency | wall s | CPU s | peak RSS MB | list requests (minimum) | requests "
                "| emulator CPU s |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p in sorted(find(self.points, section="accounts"), key=lambda p: (p["latency_ms"], p["accounts"], p["n"])):
            rows.append(f"| {p['accounts']} × {p['users_per_account']:,} | {p['latency_ms']:g} ms | "
                        f"{fmt_s(med(p, 'wall_s'))} | {med(p, 'cpu_s'):.2f} | {med(p, 'rss_mb'):.0f} | "
                        f"{req(p, 'aws', 'list')} ({list_minimum('aws', p)}) | {req(p, 'aws')} | "
                        f"{med(p, 'emulator_cpu_s'):.1f} |")
        return "\n".join(rows)

    def apply_table(self) -> str:
        rows = ["| provider | identities | disables | latency | plan wall s | apply wall s | apply − plan s "
                "| apply requests: total | listing + live checks | writes |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for provider in ORDER:
            plan = one(self.points, section="apply", providers=(provider,), mode="plan")
            apply = one(self.points, section="apply", providers=(provider,), mode="apply")
            if not (plan and apply):
                continue
            summary = apply["runs"][-1]["summary"] or {}
            total, writes = req(apply, provider), req(apply, provider, "write")
            rows.append(f"| {NAMES[provider]} | {apply['n']:,} | {summary.get('disabled', '?')} | "
                        f"{apply['latency_ms']:g} ms | {fmt_s(med(plan, 'wall_s'))} | {fmt_s(med(apply, 'wall_s'))} | "
                        f"{med(apply, 'wall_s') - med(plan, 'wall_s'):.2f} | {total} | {total - writes} | {writes} |")
        return "\n".join(rows)

    def baseline_table(self) -> str:
        rows = ["| provider | N | latency | baseline wall s | baseline CPU s | baseline requests | sweeper wall s "
                "| sweeper requests | baseline / sweeper (wall) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for provider in ORDER:
            for n in self.sizes():
                for latency in sorted({p["latency_ms"] for p in find(self.points, section="plan")}):
                    sweep = self.plan(provider, n, latency)
                    base, how = self.baseline_wall(provider, n, latency)
                    if not sweep or base is None:
                        continue
                    measured = self.plan(provider, n, latency, "baseline") or self.plan(provider, n, 0, "baseline")
                    cpu = f"{med(measured, 'cpu_s'):.2f}" if how == "measured" else "–"
                    rows.append(f"| {NAMES[provider]} | {n:,} | {latency:g} ms | {fmt_s(base)}"
                                f"{' (est.)' if how == 'estimated' else ''} | {cpu} | {req(measured, provider)} | "
                                f"{fmt_s(med(sweep, 'wall_s'))} | {req(sweep, provider)} | "
                                f"{base / med(sweep, 'wall_s'):.1f}× |")
        return "\n".join(rows)

    def estimate_check(self) -> str:
        """How well 'wall at 0 ms + requests × latency' predicts the measured slow baseline."""
        lines = []
        for provider in ORDER:
            for p in find(self.points, section="plan", kind="baseline", providers=(provider,)):
                if not p["latency_ms"]:
                    continue
                fast = self.plan(provider, p["n"], 0, "baseline")
                if fast:
                    predicted = med(fast, "wall_s") + req(fast, provider) * p["latency_ms"] / 1000
                    lines.append(f"{NAMES[provider]} at {p['n']:,}: predicted {predicted:.1f} s, "
                                 f"measured {med(p, 'wall_s'):.1f} s")
        return "; ".join(lines)

    def noise(self) -> str:
        shares = [r["others_share"] for p in self.points for r in p["runs"]]
        if not shares:
            return ""
        return (f"Other processes on the machine used a median {statistics.median(shares):.0%} and at most "
                f"{max(shares):.0%} of its CPU during the measured runs (wall times include that disturbance; "
                "CPU time and peak RSS are the measured process's own).")

    # -- targets ---------------------------------------------------------------------------------
    def targets(self) -> list[tuple[str, str, bool | None]]:
        out: list[tuple[str, str, bool | None]] = []
        sizes = self.sizes()
        top = max(sizes) if sizes else 0
        worst = []
        for provider in ORDER:
            for p in find(self.points, section="plan", kind="sweeper", providers=(provider,)):
                worst.append((req(p, provider, "list") / list_minimum(provider, p), provider, p))
        if worst:
            ratio, provider, p = max(worst, key=lambda w: w[0])
            out.append(("listing requests within 2% of the API minimum",
                        f"worst {ratio:.3f}× the minimum ({NAMES[provider]}, N={p['n']:,})", ratio <= 1.02))
        for provider in ORDER:
            p = self.plan(provider, top, 0)
            own = self.own_cpu_us(provider, p) if p else None
            if own is not None:
                out.append((f"own CPU per identity < 20 µs at {top:,} ({NAMES[provider]})", f"{own:.1f} µs", own < 20))
        for provider in ORDER:
            series = sorted((p["n"], med(p, "cpu_s"), med(p, "rss_mb"))
                            for p in find(self.points, section="plan", kind="sweeper", providers=(provider,), latency_ms=0))
            if len(series) >= 3:
                first = (series[1][1] - series[0][1]) / (series[1][0] - series[0][0])
                last = (series[-1][1] - series[-2][1]) / (series[-1][0] - series[-2][0])
                rss_first = (series[1][2] - series[0][2]) / (series[1][0] - series[0][0]) * 10_000
                rss_last = (series[-1][2] - series[-2][2]) / (series[-1][0] - series[-2][0]) * 10_000
                linear = last <= 1.3 * first and rss_last <= max(1.3 * rss_first, 2.0)
                out.append((f"CPU and peak RSS linear in N ({NAMES[provider]})",
                            f"marginal CPU {first * 1e6:.1f} → {last * 1e6:.1f} µs/identity; marginal RSS "
                            f"{rss_first:.1f} → {rss_last:.1f} MB per 10,000", linear))
        big = find(self.points, section="together", n=top)
        if big:
            rss = max(med(p, "rss_mb") for p in big)
            out.append((f"peak RSS < 500 MB for 3 × {top:,}", f"{rss:.0f} MB", rss < 500))
        for p in sorted(find(self.points, section="together"), key=lambda p: (p["latency_ms"], p["n"])):
            alone = [self.plan(pr, p["n"], p["latency_ms"]) for pr in ORDER]
            if all(alone):
                slowest = max(med(a, "wall_s") for a in alone)
                ratio = med(p, "wall_s") / slowest
                out.append((f"all together ≤ 1.2 × slowest alone (N={p['n']:,}, {p['latency_ms']:g} ms)",
                            f"{ratio:.2f}×", ratio <= 1.2))
        for latency in sorted({p["latency_ms"] for p in find(self.points, section="accounts")}):
            acc = {p["accounts"]: p for p in find(self.points, section="accounts", latency_ms=latency)
                   if p["users_per_account"] == self.data["profile"]["accounts_users"]}
            if 1 in acc and len(acc) > 1:
                most = max(acc)
                ratio = med(acc[most], "wall_s") / med(acc[1], "wall_s")
                out.append((f"{most} AWS accounts ≤ 3 × one account ({latency:g} ms)", f"{ratio:.2f}×", ratio <= 3))
        n10 = 10_000 if 10_000 in sizes else (sizes[len(sizes) // 2] if sizes else 0)
        for provider in ORDER:
            sweep = self.plan(provider, n10, 20)
            base, how = self.baseline_wall(provider, n10, 20)
            if sweep and base:
                ratio = base / med(sweep, "wall_s")
                out.append((f"≥ 20× faster than the baseline at {n10:,}, 20 ms ({NAMES[provider]})",
                            f"{ratio:.1f}×" + (" (baseline estimated)" if how == "estimated" else ""), ratio >= 20))
        for provider, limit in (("graph", 55), ("google", 12)):
            apply = one(self.points, section="apply", providers=(provider,), mode="apply")
            if apply:
                writes = req(apply, provider, "write")
                disabled = (apply["runs"][-1]["summary"] or {}).get("disabled")
                out.append((f"{disabled} disables, {NAMES[provider]}: ≤ {limit} write requests",
                            f"{writes} write requests ({req(apply, provider)} in the whole apply run)", writes <= limit))
        apply = one(self.points, section="apply", providers=("aws",), mode="apply")
        plan = one(self.points, section="apply", providers=("aws",), mode="plan")
        if apply and plan:
            disabled = (apply["runs"][-1]["summary"] or {}).get("disabled") or 0
            limit = disabled * apply["latency_ms"] / 4 / 1000
            acting = med(apply, "wall_s") - med(plan, "wall_s")
            out.append((f"{disabled} disables, AWS: the disabling (apply − plan) < {disabled} × latency / 4 = {limit:.1f} s",
                        f"{acting:.1f} s", acting < limit))
            out.append((f"{disabled} disables, AWS: the whole apply run < {limit:.1f} s",
                        f"{med(apply, 'wall_s'):.1f} s (plan part: {med(plan, 'wall_s'):.1f} s)", med(apply, "wall_s") < limit))
        return out

    def targets_table(self) -> str:
        rows = ["| target | measured | met |", "|---|---|---|"]
        for name, value, ok in self.targets():
            rows.append(f"| {name} | {value} | {'yes' if ok else 'no' if ok is not None else '–'} |")
        return "\n".join(rows)


def plot(results: Results, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    fig, (ax_wall, ax_cpu) = plt.subplots(1, 2, figsize=(12, 6.4))
    colours = {"graph": "tab:blue", "google": "tab:green", "aws": "tab:orange", "together": "tab:purple"}
    latencies = sorted({p["latency_ms"] for p in find(results.points, section="plan")})
    for latency in latencies:
        style = "-" if latency == 0 else "--"
        for provider in ORDER:
            pts = sorted(find(results.points, section="plan", kind="sweeper", providers=(provider,), latency_ms=latency),
                         key=lambda p: p["n"])
            if pts:
                xs = [p["n"] for p in pts]
                ax_wall.plot(xs, [med(p, "wall_s") for p in pts], style, marker="o", color=colours[provider],
                             label=f"{NAMES[provider]}, {latency:g} ms")
                ax_cpu.plot(xs, [med(p, "cpu_s") for p in pts], style, marker="o", color=colours[provider],
                            label=f"{NAMES[provider]}, {latency:g} ms")
        pts = sorted(find(results.points, section="together", latency_ms=latency), key=lambda p: p["n"])
        if pts:
            ax_wall.plot([p["n"] for p in pts], [med(p, "wall_s") for p in pts], style, marker="s",
                         color=colours["together"], label=f"all three at once, {latency:g} ms")
            ax_cpu.plot([p["n"] for p in pts], [med(p, "cpu_s") for p in pts], style, marker="s",
                        color=colours["together"], label=f"all three at once, {latency:g} ms")
        for provider in ORDER:
            xs, ys = [], []
            for n in results.sizes():
                base, _ = results.baseline_wall(provider, n, latency)
                if base is not None:
                    xs.append(n)
                    ys.append(base)
            if xs:
                ax_wall.plot(xs, ys, ":", marker="x", color=colours[provider], alpha=0.7,
                             label=f"baseline {NAMES[provider]}, {latency:g} ms")
    for ax, title, unit in ((ax_wall, "wall time (solid 0 ms, dashed 20 ms per request)", "wall time (s)"),
                            (ax_cpu, "CPU time of the sweeper process", "CPU time (s)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("identities per provider (N)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    for ax in (ax_wall, ax_cpu):
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    path = folder / "plan_time_vs_n.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def render(data: dict[str, Any], plots: Path | None = None) -> str:
    r = Results(data)
    parts = [f"## Results ({data['profile']['name']})", "", r.machine(), "", r.noise(), "",
             "### Targets", "", r.targets_table(), "",
             "### Start-up (N tiny; subtracted from CPU per identity)", "", r.startup_table(), "",
             "### sweeper plan, one provider at a time", "", r.plan_table(), "",
             "### All providers at once", "", r.together_table(), "",
             "### AWS: users per account and accounts through Organizations", "", r.accounts_table(), "",
             "### apply: 1,000 disables per provider", "", r.apply_table(), "",
             "### Baseline: per-identity scripts", "", r.baseline_table(), ""]
    check = r.estimate_check()
    if check:
        parts += [f"Estimate check (0 ms wall + requests × latency): {check}.", ""]
    if plots is not None:
        for path in plot(r, plots):
            parts += [f"![{path.stem}]({path.name})", ""]
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    data = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    plots = Path(argv[argv.index("--plots") + 1]) if "--plots" in argv else None
    print(render(data, plots))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
