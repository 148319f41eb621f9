"""Many tenants in one sweep (#16): `python3 dev.py bench`'s companion, run as
`.venv/bin/python bench/tenants.py [--tenants 50] [--n 2000] [--latency 20] [--runs 3]`.

One emulator process (bench/serve.py graph N --tenants T) serves T Graph tenants of N users each, every
one its own emulator (port, tenant id, token) answering each request after `--latency` ms. Measured,
like the main benchmark, as child `sweeper plan` processes (wall time, their own CPU and peak RSS):

  one        one tenant alone (a config with the single instance t00)
  all        one sweep over the T tenants (`[providers.entra.t00]` ... ), at each `--parallel` value of
             `[engine] max_parallel` (8 is the default)
  subset     one sweep over the first K tenants (`--rss 10`): peak RSS against K, to see it flat in tenants
  separate   T processes one after another, each with its own one-tenant config (what an MSP runs
             today); `--separate K` runs the first K and extrapolates to T, saying so

A warm-up sweep (not measured) runs first, so that every emulator has built its pages once. Writes
bench/results/tenants.json and prints a table.
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
from providers.emulator import toml_section  # noqa: E402


def write_config(folder: Path, emu: Emulator, names: list[str], max_parallel: int) -> Path:
    """A config naming `names` of the emulator's tenants as instances, caps high enough not to cap."""
    text = ("[policy]\ninactive_days = 90\nwarn_days = 14\nmax_disable = 1000000\nmax_disable_percent = 100\n"
            f'[journal]\npath = "{folder / "sweeper.db"}"\n[engine]\nmax_parallel = {max_parallel}\n')
    text += "".join(toml_section(f"providers.entra.{name}", emu.config[name]) for name in names)
    path = folder / f"tenants-{len(names)}-{names[0]}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def sweep(emu: Emulator, names: list[str], max_parallel: int, folder: Path) -> dict[str, Any]:
    """One measured `sweeper plan` over `names`; every tenant must be listed whole (status ok)."""
    config = write_config(folder, emu, names, max_parallel)
    output = folder / "report.json"
    output.unlink(missing_ok=True)
    emu.reset()
    run = harness.measure(harness.sweeper_cmd("plan", config, output), harness.child_env([emu]),
                          helpers=[emu.proc.pid])
    assert run.exit_code == 0 and output.exists(), run.stderr
    report = json.loads(output.read_text(encoding="utf-8"))
    statuses = {p["name"]: p["status"] for p in report["providers"]}
    assert statuses == {f"entra:{n}": "ok" for n in names}, statuses
    counts = emu.counts()
    return {"wall_s": run.wall_s, "cpu_s": run.cpu_s, "rss_mb": run.rss_mb, "emulator_cpu_s": run.helper_cpu_s,
            "others_share": run.others_share, "requests": counts["total"], "list_requests": counts["list"],
            "identities": report["summary"]["identities"], "disable": report["summary"]["disable"]}


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"runs": len(runs)}


def separate(emu: Emulator, names: list[str], folder: Path) -> dict[str, Any]:
    """One process per tenant, one after another: the sums over those run."""
    runs = [sweep(emu, [name], 8, folder) for name in names]
    return {k: sum(r[k] for r in runs) for k in ("wall_s", "cpu_s", "requests", "identities", "disable")} | {
        "rss_mb": max(r["rss_mb"] for r in runs), "processes": len(runs)}


def measure_all(tenants: int, n: int, latency: float, runs: int, parallel: list[int], subsets: list[int],
                separate_count: int, folder: Path) -> dict[str, Any]:
    """Every figure of this benchmark for T tenants of N users at `latency` ms per request."""
    with Emulator("graph", n, tenants=tenants, latency_ms=latency) as emu:
        names = sorted(emu.config)
        sweep(emu, names, max(parallel), folder)  # warm-up: each emulator serialises its users once
        out: dict[str, Any] = {"tenants": tenants, "n": n, "latency_ms": latency, "machine": harness.machine()}
        out["one"] = medians([sweep(emu, names[:1], 8, folder) for _ in range(runs)])
        out["all"] = {str(p): medians([sweep(emu, names, p, folder) for _ in range(runs)]) for p in parallel}
        out["subset"] = {str(k): medians([sweep(emu, names[:k], 8, folder) for _ in range(runs)])
                         for k in subsets if k < tenants}
        done = separate(emu, names[:separate_count], folder)
        scale = tenants / done["processes"]
        out["separate"] = done | {"extrapolated": scale != 1,
                                  "wall_s_for_all": done["wall_s"] * scale, "cpu_s_for_all": done["cpu_s"] * scale}
    return out


def table(r: dict[str, Any]) -> str:
    one = r["one"]
    lines = [f"{r['tenants']} tenants × {r['n']:,} users, {r['latency_ms']:g} ms per request "
             f"({r['machine']['cpus']} cores)", "",
             "| run | wall | × one tenant | sweeper CPU | peak RSS | requests |", "|---|---|---|---|---|---|",
             f"| one tenant alone | {one['wall_s']:.2f} s | 1.00 | {one['cpu_s']:.2f} s | {one['rss_mb']:.0f} MB | "
             f"{one['requests']:g} |"]
    for p, m in r["all"].items():
        lines.append(f"| one sweep, {r['tenants']} tenants, max_parallel = {p} | {m['wall_s']:.2f} s | "
                     f"{m['wall_s'] / one['wall_s']:.2f} | {m['cpu_s']:.2f} s | {m['rss_mb']:.0f} MB | "
                     f"{m['requests']:g} |")
    for k, m in r["subset"].items():
        lines.append(f"| one sweep, {k} tenants, max_parallel = 8 | {m['wall_s']:.2f} s | "
                     f"{m['wall_s'] / one['wall_s']:.2f} | {m['cpu_s']:.2f} s | {m['rss_mb']:.0f} MB | "
                     f"{m['requests']:g} |")
    s = r["separate"]
    how = (f"{s['processes']} run, × {r['tenants'] / s['processes']:g}" if s["extrapolated"]
           else f"{s['processes']} run")
    lines.append(f"| {r['tenants']} separate processes, one after another ({how}) | {s['wall_s_for_all']:.2f} s | "
                 f"{s['wall_s_for_all'] / one['wall_s']:.2f} | {s['cpu_s_for_all']:.2f} s | {s['rss_mb']:.0f} MB each"
                 f" | {s['requests'] * r['tenants'] / s['processes']:g} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tenants", type=int, default=50)
    ap.add_argument("--n", type=int, default=2000, help="users per tenant")
    ap.add_argument("--latency", type=float, default=20, help="ms per request")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", type=int, nargs="+", default=[8, 16], help="[engine] max_parallel values")
    ap.add_argument("--rss", type=int, nargs="*", default=[10], help="also sweep the first K tenants")
    ap.add_argument("--separate", type=int, help="separate processes to run (default: every tenant)")
    ap.add_argument("--out", type=Path, default=harness.ROOT / "bench" / "results" / "tenants.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sweeper-tenants-") as tmp:
        result = measure_all(args.tenants, args.n, args.latency, args.runs, args.parallel, args.rss,
                             min(args.separate or args.tenants, args.tenants), Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
