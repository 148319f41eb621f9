"""Many tenants in one sweep (#16): `python3 dev.py bench`'s companion, run as
`.venv/bin/python bench/tenants.py [--tenants 50] [--n 2000] [--latency 20] [--runs 3]`.

One emulator process (bench/serve.py graph N --tenants T) serves T Graph tenants of N users each, every
one its own emulator (port, tenant id, token) answering each request after `--latency` ms. Measured,
like the main benchmark, as child `sweeper plan` processes (wall time, their own CPU and peak RSS):

  one        one tenant alone (a config with the single instance t00)
  all        one sweep over the T tenants (`[providers.entra.t00]` ... ), at each `--parallel` value of
             `[engine] max_parallel` (8 is the default), with `[engine] processes` at its default ("auto":
             worker processes, sweeper/workers.py); `--processes 1 ...` also measures those values
  subset     one sweep over the first K tenants (`--rss 10`): peak RSS against K, to see it flat in tenants
  separate   T processes one after another, each with its own one-tenant config (what an MSP runs
             today); `--separate K` runs the first K and extrapolates to T, saying so

A warm-up sweep (not measured) runs first, so that every emulator has built its pages once; the runs
of each kind then take turns (one, all, ..., one, all, ...), so that other work on the machine falls
on all of them alike. CPU is the sweeper's and its worker processes' (os.wait4 counts the children it
reaped); memory is sampled every 20 ms over the sweeper and its workers: the peak of their summed RSS
(pages shared after the fork counted in each) and of their summed PSS (shared pages split). Writes
bench/results/tenants.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import Emulator  # noqa: E402
from providers.emulator import toml_section  # noqa: E402


def write_config(folder: Path, emu: Emulator, names: list[str], max_parallel: int, processes: str = "auto") -> Path:
    """A config naming `names` of the emulator's tenants as instances, caps high enough not to cap."""
    value = f'"{processes}"' if processes == "auto" else processes
    text = ("[policy]\ninactive_days = 90\nwarn_days = 14\nmax_disable = 1000000\nmax_disable_percent = 100\n"
            f'[journal]\npath = "{folder / "sweeper.db"}"\n[engine]\nmax_parallel = {max_parallel}\n'
            f"processes = {value}\n")
    text += "".join(toml_section(f"providers.entra.{name}", emu.config[name]) for name in names)
    path = folder / f"tenants-{len(names)}-{names[0]}.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Memory(threading.Thread):
    """Samples the sweeper (this process's child) and its worker processes while it runs: the peak of
    their summed RSS and summed PSS, and how many processes it had at most (Linux /proc)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.done = threading.Event()
        self.rss_mb = self.pss_mb = 0.0
        self.processes = 0

    @staticmethod
    def _children(pid: int) -> list[int]:
        out: list[int] = []
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except (OSError, ValueError):
            pass
        return out

    def _tree(self) -> list[int]:
        tops = [c for c in self._children(os.getpid()) if b"-m\x00sweeper\x00" in _cmdline(c)]
        return tops + [w for top in tops for w in self._children(top)]

    def run(self) -> None:
        while not self.done.wait(0.02):
            rss = pss = 0
            tree = self._tree()
            for pid in tree:
                try:
                    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                        key, _, value = line.partition(":")
                        if key in ("Rss", "Pss"):
                            kb = int(value.split()[0])
                            rss, pss = (rss + kb, pss) if key == "Rss" else (rss, pss + kb)
                except (OSError, ValueError, IndexError):
                    continue
            self.rss_mb, self.pss_mb = max(self.rss_mb, rss / 1024), max(self.pss_mb, pss / 1024)
            self.processes = max(self.processes, len(tree))


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def sweep(emu: Emulator, names: list[str], max_parallel: int, folder: Path, processes: str = "auto") -> dict[str, Any]:
    """One measured `sweeper plan` over `names`; every tenant must be listed whole (status ok)."""
    config = write_config(folder, emu, names, max_parallel, processes)
    output = folder / "report.json"
    output.unlink(missing_ok=True)
    emu.reset()
    memory = Memory()
    memory.start()
    try:
        run = harness.measure(harness.sweeper_cmd("plan", config, output), harness.child_env([emu]),
                              helpers=[emu.proc.pid])
    finally:
        memory.done.set()
        memory.join()
    assert run.exit_code == 0 and output.exists(), run.stderr
    report = json.loads(output.read_text(encoding="utf-8"))
    statuses = {p["name"]: p["status"] for p in report["providers"]}
    assert statuses == {f"entra:{n}": "ok" for n in names}, statuses
    counts = emu.counts()
    return {"wall_s": run.wall_s, "cpu_s": run.cpu_s, "rss_mb": run.rss_mb, "emulator_cpu_s": run.helper_cpu_s,
            "others_share": run.others_share, "requests": counts["total"], "list_requests": counts["list"],
            "identities": report["summary"]["identities"], "disable": report["summary"]["disable"],
            "tree_rss_mb": memory.rss_mb, "tree_pss_mb": memory.pss_mb, "processes": memory.processes}


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} | {"runs": len(runs)}


def separate(emu: Emulator, names: list[str], folder: Path) -> dict[str, Any]:
    """One process per tenant, one after another: the sums over those run."""
    runs = [sweep(emu, [name], 8, folder) for name in names]
    return {k: sum(r[k] for r in runs) for k in ("wall_s", "cpu_s", "requests", "identities", "disable")} | {
        "rss_mb": max(r["rss_mb"] for r in runs), "processes": len(runs)}


def measure_all(tenants: int, n: int, latency: float, runs: int, parallel: list[int], subsets: list[int],
                separate_count: int, folder: Path, processes: list[str] = ["auto"]) -> dict[str, Any]:
    """Every figure of this benchmark for T tenants of N users at `latency` ms per request; "all" and
    "subset" with `[engine] processes` = processes[0], "processes" with each other value."""
    with Emulator("graph", n, tenants=tenants, latency_ms=latency) as emu:
        names = sorted(emu.config)
        sweep(emu, names, max(parallel), folder)  # warm-up: each emulator serialises its users once
        out: dict[str, Any] = {"tenants": tenants, "n": n, "latency_ms": latency, "machine": harness.machine(),
                               "load_before": os.getloadavg()}
        kinds: dict[tuple[str, str, str], tuple[list[str], int, str]] = {("one", "", ""): (names[:1], 8, "auto")}
        kinds |= {("all", str(p), ""): (names, p, processes[0]) for p in parallel}
        kinds |= {("processes", v, str(p)): (names, p, v) for v in processes[1:] for p in parallel}
        kinds |= {("subset", str(k), ""): (names[:k], 8, processes[0]) for k in subsets if k < tenants}
        taken: dict[tuple[str, str, str], list[dict[str, Any]]] = {k: [] for k in kinds}
        for _ in range(runs):  # in turns: other work on the machine falls on every kind alike
            for key, (chosen, p, v) in kinds.items():
                taken[key].append(sweep(emu, chosen, p, folder, v))
        out["one"] = medians(taken[("one", "", "")])
        for (kind, a, b), done in taken.items():
            if kind == "processes":
                out.setdefault(kind, {}).setdefault(a, {})[b] = medians(done)
            elif kind != "one":
                out.setdefault(kind, {})[a] = medians(done)
        out.setdefault("subset", {})
        out["processes_setting"] = processes[0]
        done = separate(emu, names[:separate_count], folder)
        scale = tenants / done["processes"]
        out["separate"] = done | {"extrapolated": scale != 1,
                                  "wall_s_for_all": done["wall_s"] * scale, "cpu_s_for_all": done["cpu_s"] * scale}
    return out


def mem(m: dict[str, Any]) -> str:
    """Peak memory of a run: the sweeper and its workers summed (RSS, and PSS), or the sweeper's own
    peak RSS when the run was too short to be sampled."""
    if not m.get("tree_rss_mb"):
        return f"{m['rss_mb']:.0f} MB"
    return f"{m['tree_rss_mb']:.0f} MB (PSS {m['tree_pss_mb']:.0f} MB, {m['processes']:g} proc.)"


def table(r: dict[str, Any]) -> str:
    one = r["one"]
    lines = [f"{r['tenants']} tenants × {r['n']:,} users, {r['latency_ms']:g} ms per request "
             f"({r['machine']['cpus']} cores)", "",
             "| run | wall | × one tenant | sweeper CPU | peak RSS (all processes) | requests |",
             "|---|---|---|---|---|---|",
             f"| one tenant alone | {one['wall_s']:.2f} s | 1.00 | {one['cpu_s']:.2f} s | {mem(one)} | "
             f"{one['requests']:g} |"]
    for p, m in r["all"].items():
        lines.append(f"| one sweep, {r['tenants']} tenants, max_parallel = {p} | {m['wall_s']:.2f} s | "
                     f"{m['wall_s'] / one['wall_s']:.2f} | {m['cpu_s']:.2f} s | {mem(m)} | "
                     f"{m['requests']:g} |")
    for v, by in r.get("processes", {}).items():
        for p, m in by.items():
            lines.append(f"| one sweep, {r['tenants']} tenants, max_parallel = {p}, processes = {v} | "
                         f"{m['wall_s']:.2f} s | {m['wall_s'] / one['wall_s']:.2f} | {m['cpu_s']:.2f} s | "
                         f"{mem(m)} | {m['requests']:g} |")
    for k, m in r["subset"].items():
        lines.append(f"| one sweep, {k} tenants, max_parallel = 8 | {m['wall_s']:.2f} s | "
                     f"{m['wall_s'] / one['wall_s']:.2f} | {m['cpu_s']:.2f} s | {mem(m)} | "
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
    ap.add_argument("--processes", nargs="+", default=["auto"],
                    help='[engine] processes values: the first for "all" and "subset", the others measured besides')
    ap.add_argument("--out", type=Path, default=harness.ROOT / "bench" / "results" / "tenants.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sweeper-tenants-") as tmp:
        result = measure_all(args.tenants, args.n, args.latency, args.runs, args.parallel, args.rss,
                             min(args.separate or args.tenants, args.tenants), Path(tmp), args.processes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
