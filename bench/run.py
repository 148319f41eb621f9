"""The benchmark: `python3 dev.py bench [--quick]` (runs `.venv/bin/python bench/run.py`).

Every measured command is a child process (`sweeper plan|apply`, or the per-identity baseline
script) against emulators seeded with N identities, each in its own process (bench/serve.py).
Sections, each a list of points measured `--runs` times (median reported):

  startup    sweeper plan with N tiny, per provider: interpreter and import cost, subtracted from CPU
  plan       sweeper plan, each provider alone, N x latency; the baseline beside it where asked
  together   sweeper plan, all three providers at once, N each
  accounts   AWS: users per account fixed, 1..20 accounts through Organizations
  apply      sweeper apply --max-disable 1000 on 1,000 stale identities per provider (fresh emulators)

Results go to bench/results/<profile>.json (after every point, so an interrupted run keeps what it
measured) and bench/results/<profile>.md; the full profile also draws docs/bench/*.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, report, scenarios  # noqa: E402
from bench.harness import Emulator, Measured  # noqa: E402

PROVIDERS = ("graph", "google", "aws")


@dataclass(frozen=True)
class Profile:
    """What to measure. AWS sizes are (accounts, users per account); N = their product."""

    name: str
    runs: int
    tiny: int
    sizes: tuple[int, ...]  # identities per provider (Graph, Directory)
    aws_sizes: dict[int, tuple[int, int]]  # N -> (accounts, users per account)
    latencies: tuple[float, ...]
    slow_latency_sizes: tuple[int, ...]  # N measured at the non-zero latencies too
    per_account: tuple[int, ...]  # AWS users-per-account series (one account)
    accounts: tuple[int, ...]  # AWS accounts series
    accounts_users: int
    apply_n: int  # Graph/Directory identities for the apply section (1% stale: n/100 disables)
    apply_aws: tuple[int, int]  # (users in one account, stale every k): users/k disables
    apply_latency: float
    baseline_sizes: tuple[int, ...]  # N where the baseline runs at 0 ms ...
    baseline_slow_sizes: tuple[int, ...]  # ... and at the slow latency (once: it is long)
    baseline_direct: tuple[tuple[str, int, float], ...] = ()  # (provider, N, latency) measured, not estimated


FULL = Profile("full", runs=3, tiny=10, sizes=(1_000, 10_000, 50_000, 100_000),
               aws_sizes={1_000: (2, 500), 10_000: (5, 2_000), 50_000: (10, 5_000), 100_000: (20, 5_000)},
               latencies=(0, 20), slow_latency_sizes=(1_000, 10_000, 50_000, 100_000),
               per_account=(500, 2_000, 5_000), accounts=(1, 5, 20), accounts_users=2_000,
               apply_n=100_000, apply_aws=(5_000, 5), apply_latency=20,
               baseline_sizes=(1_000, 10_000), baseline_slow_sizes=(1_000,),
               baseline_direct=(("graph", 10_000, 20),))
QUICK = Profile("quick", runs=1, tiny=10, sizes=(200, 1_000), aws_sizes={200: (2, 100), 1_000: (2, 500)},
                latencies=(0, 20), slow_latency_sizes=(200,), per_account=(100,), accounts=(1, 2),
                accounts_users=100, apply_n=2_000, apply_aws=(100, 5), apply_latency=20,
                baseline_sizes=(200,), baseline_slow_sizes=(200,))


@dataclass
class Point:
    """One configuration measured `runs` times."""

    section: str
    providers: tuple[str, ...]
    n: int
    latency_ms: float
    accounts: int = 1
    users_per_account: int = 0
    kind: str = "sweeper"  # sweeper | baseline
    mode: str = "plan"
    runs: list[dict[str, Any]] = field(default_factory=list)

    def add(self, m: Measured) -> None:
        self.runs.append({"wall_s": m.wall_s, "cpu_s": m.cpu_s, "rss_mb": m.rss_mb, "exit_code": m.exit_code,
                          "others_share": m.others_share, "emulator_cpu_s": m.helper_cpu_s,
                          "requests": m.requests, "summary": (m.report or {}).get("summary"),
                          "statuses": [p["status"] for p in (m.report or {}).get("providers", [])],
                          "output": m.stdout.strip()[-500:] if self.kind == "baseline" else None,
                          "stderr": m.stderr[-1500:] if m.exit_code else None})

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.runs)


class Bench:
    def __init__(self, profile: Profile, out: Path, providers: tuple[str, ...] = PROVIDERS,
                 baselines: bool = True) -> None:
        self.p = profile
        self.out = out
        self.providers = providers  # for startup, plan and apply
        self.baselines = baselines
        self.tmp = Path(tempfile.mkdtemp(prefix="sweeper-bench-"))
        self.results: dict[str, Any] = {"profile": asdict(profile), "machine": harness.machine(),
                                        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                        "points": []}

    # -- bookkeeping ----------------------------------------------------------------------------
    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / f"{self.p.name}.json").write_text(json.dumps(self.results, indent=1), encoding="utf-8")

    def record(self, point: Point) -> Point:
        self.results["points"].append(asdict(point))
        self.save()
        last = point.runs[-1]
        reqs = {p: r.get("total") for p, r in last["requests"].items()}
        print(f"  {point.section:8} {point.kind:8} {point.mode:5} {'+'.join(point.providers):17} "
              f"N={point.n:>7} acc={point.accounts:>2} lat={point.latency_ms:>3g}  "
              f"wall {point.median('wall_s'):7.2f}s  cpu {point.median('cpu_s'):6.2f}s  "
              f"rss {point.median('rss_mb'):5.0f}MB  req {reqs}  others {last['others_share']:.0%}"
              + (f"  EXIT {last['exit_code']}" if last["exit_code"] not in (0,) else ""), flush=True)
        return point

    def sweep(self, point: Point, emulators: list[Emulator], runs: int | None = None,
              max_disable: int | None = None) -> Point:
        for emu in emulators:
            emu.latency(point.latency_ms)
        for _ in range(runs or self.p.runs):
            point.add(harness.run_sweeper(point.mode, emulators, self.tmp, max_disable=max_disable))
        return self.record(point)

    def baseline(self, point: Point, emu: Emulator, runs: int) -> Point:
        emu.latency(point.latency_ms)
        for _ in range(runs):
            point.add(harness.run_baseline(emu))
        return self.record(point)

    def aws_shape(self, n: int) -> tuple[int, int]:
        return self.p.aws_sizes[n]

    # -- sections ---------------------------------------------------------------------------------
    def startup(self) -> None:
        print("startup (N tiny)", flush=True)
        for provider in self.providers:
            with Emulator(provider, self.p.tiny) as emu:
                self.sweep(Point("startup", (provider,), self.p.tiny, 0, 1, self.p.tiny), [emu])

    def plan(self) -> None:
        print("plan, one provider at a time", flush=True)
        for provider in self.providers:
            for n in self.p.sizes:
                accounts, users = self.aws_shape(n) if provider == "aws" else (1, n)
                with Emulator(provider, users, accounts=accounts) as emu:
                    for latency in self.p.latencies:
                        if latency and n not in self.p.slow_latency_sizes:
                            continue
                        self.sweep(Point("plan", (provider,), n, latency, accounts, users), [emu])
                        runs = self._baseline_runs(n, latency) if self.baselines else 0
                        if runs:
                            self.baseline(Point("plan", (provider,), n, latency, accounts, users, "baseline"), emu, runs)

    def _baseline_runs(self, n: int, latency: float) -> int:
        """The baseline is long (one request per identity, in sequence): several runs only where cheap."""
        if latency == 0 and n in self.p.baseline_sizes:
            return self.p.runs if n < 10_000 else 1
        if latency and n in self.p.baseline_slow_sizes:
            return 1
        return 0

    def together(self) -> None:
        print("plan, all providers at once", flush=True)
        for n in self.p.sizes:
            accounts, users = self.aws_shape(n)
            emus = [Emulator("graph", n), Emulator("google", n), Emulator("aws", users, accounts=accounts)]
            try:
                for latency in self.p.latencies:
                    if latency and n not in self.p.slow_latency_sizes:
                        continue
                    self.sweep(Point("together", PROVIDERS, n, latency, accounts, users), emus)
            finally:
                for emu in emus:
                    emu.close()

    def accounts(self) -> None:
        print("AWS: users per account, and accounts through Organizations", flush=True)
        shapes = [(1, users, 0) for users in self.p.per_account if users != self.p.accounts_users]
        shapes += [(accounts, self.p.accounts_users, latency) for accounts in self.p.accounts
                   for latency in self.p.latencies]
        for accounts, users in dict.fromkeys((a, u) for a, u, _ in shapes):
            latencies = [lat for a, u, lat in shapes if (a, u) == (accounts, users)]
            done = {lat: self._measured_aws(accounts, users, lat) for lat in latencies}
            if all(done.values()):  # the plan section measured this shape already: not again
                for latency, point in done.items():
                    self.record(Point("accounts", ("aws",), point["n"], latency, accounts, users, runs=point["runs"]))
                continue
            with Emulator("aws", users, accounts=accounts) as emu:
                for latency in latencies:
                    self.sweep(Point("accounts", ("aws",), users * accounts, latency, accounts, users), [emu])

    def _measured_aws(self, accounts: int, users: int, latency: float) -> dict[str, Any] | None:
        return next((p for p in self.results["points"] if p["section"] == "plan" and p["kind"] == "sweeper"
                     and tuple(p["providers"]) == ("aws",) and p["accounts"] == accounts
                     and p["users_per_account"] == users and p["latency_ms"] == latency), None)

    def direct(self) -> None:
        """The baseline measured directly where the tables otherwise estimate it (once: minutes long)."""
        print("baseline measured directly at the slow latency", flush=True)
        for provider, n, latency in self.p.baseline_direct:
            accounts, users = self.aws_shape(n) if provider == "aws" else (1, n)
            with Emulator(provider, users, accounts=accounts) as emu:
                self.baseline(Point("plan", (provider,), n, latency, accounts, users, "baseline"), emu, 1)

    def apply(self) -> None:
        print("apply: 1,000 disables per provider (fresh emulators; plan first, then apply)", flush=True)
        latency, points = self.p.apply_latency, {}
        for _ in range(self.p.runs):  # apply changes the tenant: every run starts from a fresh one
            for provider in self.providers:
                if provider == "aws":
                    users, every = self.p.apply_aws
                else:
                    users, every = self.p.apply_n, 100
                disables = scenarios.stale_count(users, every)
                with Emulator(provider, users, stale_every=every, latency_ms=latency) as emu:
                    for mode in ("plan", "apply"):
                        point = points.setdefault((provider, mode), Point("apply", (provider,), users, latency,
                                                                          1, users, mode=mode))
                        point.add(harness.run_sweeper(mode, [emu], self.tmp, max_disable=disables))
        for point in points.values():
            self.record(point)


SECTIONS: dict[str, Callable[[Bench], None]] = {"startup": Bench.startup, "plan": Bench.plan,
                                                 "together": Bench.together, "accounts": Bench.accounts,
                                                 "apply": Bench.apply, "direct": Bench.direct}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Benchmark identity-sweeper against local emulators.")
    ap.add_argument("--quick", action="store_true", help="tiny N, one run each (a minute or two)")
    ap.add_argument("--runs", type=int, help="runs per point (default 3; --quick 1)")
    ap.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only this section (repeatable)")
    ap.add_argument("--out", type=Path, default=harness.ROOT / "bench" / "results", help="results folder")
    ap.add_argument("--plots", type=Path, help="draw PNG plots here (full profile: docs/bench)")
    ap.add_argument("--merge", action="store_true",
                    help="replace only the re-measured points in the existing results file")
    ap.add_argument("--provider", action="append", choices=PROVIDERS,
                    help="only this provider in the startup, plan and apply sections (repeatable)")
    ap.add_argument("--skip-baseline", action="store_true", help="do not run the baseline scripts")
    args = ap.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.runs:
        profile = Profile(**{**asdict(profile), "runs": args.runs})
    chosen = tuple(args.provider or PROVIDERS)
    bench = Bench(profile, args.out, chosen, not args.skip_baseline)
    if args.merge and (args.out / f"{profile.name}.json").exists():
        old = json.loads((args.out / f"{profile.name}.json").read_text(encoding="utf-8"))
        done = set(args.only or SECTIONS) - {"direct"}  # direct adds baseline points to "plan"

        def replaced(p: dict[str, Any]) -> bool:
            if p["section"] not in done or (p["kind"] == "baseline" and args.skip_baseline):
                return False
            return p["section"] in ("together", "accounts") or set(p["providers"]) <= set(chosen)

        now = bench.results
        bench.results = {**old, "points": [p for p in old["points"] if not replaced(p)],
                         "remeasured": old.get("remeasured", []) + [
                             {"started": now["started"], "sections": sorted(done), "providers": list(chosen),
                              "runs": profile.runs, "baselines": not args.skip_baseline}]}
    print(f"identity-sweeper benchmark ({profile.name}): {bench.results['machine']}", flush=True)
    started = time.perf_counter()
    try:
        for name in args.only or SECTIONS:
            SECTIONS[name](bench)
    finally:
        shutil.rmtree(bench.tmp, ignore_errors=True)
    if "remeasured" in bench.results:
        bench.results["remeasured"][-1]["elapsed_s"] = time.perf_counter() - started
    else:
        bench.results["elapsed_s"] = time.perf_counter() - started
    bench.save()
    plots = args.plots or (harness.ROOT / "docs" / "bench" if profile.name == "full" else None)
    text = report.render(bench.results, plots)
    (args.out / f"{profile.name}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
