"""#25's benchmark: what linking people across providers adds to a plan.

    .venv/bin/python bench/people.py [--n 100000] [--runs 3] [--out bench/results/people.json]

Three emulators of N identities each, in their own processes (bench/serve.py): an Entra tenant and a
Google customer whose users share their addresses (user000042@bench.example is one person in both),
and an AWS account whose IAM users carry the same address in an `email` tag. The same `sweeper plan`
runs without `[people]` and with `[people] sources = ["entra", "google_workspace"]`, alternately, each
`--runs` times; the medians of CPU time and peak RSS are compared (issue target: linking adds < 10 %).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import Emulator  # noqa: E402

PEOPLE = '\n[people]\nsources = ["entra", "google_workspace"]\ntags = ["email"]\n'


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="identities per provider")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=harness.ROOT / "bench" / "results" / "people.json")
    args = ap.parse_args(argv)
    emus = [Emulator("graph", args.n), Emulator("google", args.n), Emulator("aws", args.n, extra=("--link-tags",))]
    runs: dict[str, list[harness.Measured]] = {"without": [], "with": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            base = harness.write_config(folder, emus).read_text(encoding="utf-8")
            configs = {"without": base, "with": base + PEOPLE}
            env = harness.child_env(emus)
            for n in range(args.runs):
                for name, text in configs.items():
                    path = folder / f"{name}.toml"
                    path.write_text(text, encoding="utf-8")
                    out = folder / f"{name}.json"
                    out.unlink(missing_ok=True)
                    m = harness.measure(harness.sweeper_cmd("plan", path, out), env, timeout=1800,
                                        helpers=[e.proc.pid for e in emus])
                    if m.exit_code not in (0, 3):
                        print(m.stderr, file=sys.stderr)
                        raise SystemExit(f"sweeper plan ({name} [people]) exited {m.exit_code}")
                    m.report = json.loads(out.read_text(encoding="utf-8"))
                    runs[name].append(m)
                    print(f"run {n + 1} {name:7} [people]: wall {m.wall_s:6.1f} s  cpu {m.cpu_s:6.1f} s  "
                          f"rss {m.rss_mb:6.0f} MB  others {m.others_share:.0%}", flush=True)
    finally:
        for emu in emus:
            emu.close()
    med = {name: {k: statistics.median(getattr(m, k) for m in ms) for k in ("wall_s", "cpu_s", "rss_mb")}
           for name, ms in runs.items()}
    added = {k: med["with"][k] / med["without"][k] - 1 for k in ("cpu_s", "rss_mb", "wall_s")}
    report = runs["with"][-1].report or {}
    people = (report.get("people") or {}).get("counts", {})
    summary = {"n_per_provider": args.n, "identities": sum(e.identities for e in emus), "runs": args.runs,
               "median": med, "added": added, "people": people,
               "findings": report.get("summary", {}), "machine": harness.machine(),
               "all": {name: [{"wall_s": m.wall_s, "cpu_s": m.cpu_s, "rss_mb": m.rss_mb,
                               "others_share": m.others_share} for m in ms] for name, ms in runs.items()}}
    args.out.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"linking adds {added['cpu_s']:+.1%} CPU, {added['rss_mb']:+.1%} peak RSS, {added['wall_s']:+.1%} wall; "
          f"people {people}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
