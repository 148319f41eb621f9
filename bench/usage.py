"""What the Google usage report costs (#21): `python3 dev.py bench`'s companion, run as
`.venv/bin/python bench/usage.py [--n 10000 100000] [--latency 0 20] [--runs 3]`.

The same child `sweeper plan` (measured like the main benchmark) against one Directory emulator process
with N users (bench/scenarios.py: a report that lags a day, one active user in four seen over IMAP after
their last sign-in), with `activity_sources` at its default (every signal: the report is read) and
`activity_sources = []` (lastLoginTime alone), runs alternating. Reports per point the medians of wall
time, the sweeper's CPU and peak RSS, and the requests by kind; then the extra per 10,000 users.
Writes bench/results/usage.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import Emulator  # noqa: E402

MODES = {"on": None, "off": []}  # activity_sources: None keeps the default (every signal)


def measure(emu: Emulator, mode: str, folder: Path) -> dict[str, Any]:
    emu.config.pop("activity_sources", None)
    if MODES[mode] is not None:
        emu.config["activity_sources"] = MODES[mode]
    run = harness.run_sweeper("plan", [emu], folder)
    assert run.exit_code == 0 and run.report is not None, run.stderr
    [row] = run.report["providers"]
    counts = run.requests["google"]
    return {"wall_s": run.wall_s, "cpu_s": run.cpu_s, "rss_mb": run.rss_mb, "emulator_cpu_s": run.helper_cpu_s,
            "requests": counts["total"],
            "list_pages": counts["list"], "report_requests": counts["reports"],
            "report_pages": counts["report_pages"], "message": row["message"],
            "disable": run.report["summary"]["disable"]}


def point(n: int, latency: float, runs: int) -> dict[str, Any]:
    out: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    with Emulator("google", n, latency_ms=latency) as emu, tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            for mode in MODES:
                out[mode].append(measure(emu, mode, Path(tmp)))
    keys = ("wall_s", "cpu_s", "rss_mb", "emulator_cpu_s", "requests", "list_pages", "report_requests",
            "report_pages")
    med = {m: {k: statistics.median(r[k] for r in rs) for k in keys} for m, rs in out.items()}
    assert out["on"][0]["disable"] == out["off"][0]["disable"], "the report changed who is stale"
    per = 10_000 / n
    extra = {"requests": (med["on"]["requests"] - med["off"]["requests"]) * per,
             "wall_s": (med["on"]["wall_s"] - med["off"]["wall_s"]) * per,
             "cpu_s": (med["on"]["cpu_s"] - med["off"]["cpu_s"]) * per}
    return {"n": n, "latency_ms": latency, "runs": runs, "median": med, "extra_per_10k": extra,
            "message_on": out["on"][0]["message"]}


def table(points: list[dict[str, Any]]) -> str:
    lines = ["| users | latency | requests off → on | wall off → on | sweeper CPU off → on | emulator CPU "
             "off → on | peak RSS off → on | extra per 10,000 users |", "|---|---|---|---|---|---|---|---|"]
    for p in points:
        off, on, x = p["median"]["off"], p["median"]["on"], p["extra_per_10k"]
        lines.append(f"| {p['n']:,} | {p['latency_ms']:g} ms | {off['requests']:g} → {on['requests']:g} "
                     f"({on['report_pages']:g} report pages) | {off['wall_s']:.2f} → {on['wall_s']:.2f} s | "
                     f"{off['cpu_s']:.2f} → {on['cpu_s']:.2f} s | {off['emulator_cpu_s']:.2f} → "
                     f"{on['emulator_cpu_s']:.2f} s | {off['rss_mb']:.0f} → {on['rss_mb']:.0f} MB | "
                     f"{x['requests']:.1f} requests, {x['wall_s']:+.2f} s wall, {x['cpu_s']:+.2f} s CPU |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--latency", type=float, nargs="+", default=[0, 20])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=harness.ROOT / "bench" / "results" / "usage.json")
    args = ap.parse_args(argv)
    points = [point(n, latency, args.runs) for n in args.n for latency in args.latency]
    args.out.write_text(json.dumps({"machine": harness.machine(), "points": points}, indent=1) + "\n")
    print(table(points))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
