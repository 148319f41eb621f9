"""Profile one `sweeper plan` against a seeded emulator with py-spy (pip install py-spy).

    python bench/profile.py PROVIDER N [--accounts A] [--latency-ms L] [--tenants T] [--top K] [--raw FILE]

`--tenants T` (graph): T tenants of N users each, swept as named instances in one run (bench/tenants.py).

py-spy samples every thread of the sweeper process (the adapters work in worker threads and, for
Graph, on an event loop thread), only the thread holding the GIL sampled (so waits do not count). The emulator runs in its own process, so the
samples are the sweeper's own work. Prints the functions with the most samples, by self time and by
inclusive time; this is how the CPU figures in docs/benchmarks.md were explained.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import PY, ROOT, Emulator, child_env, sweeper_cmd, workload_arguments, write_config  # noqa: E402


def summarise(raw: Path, top: int) -> str:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("site-packages/")[-1] + ")"
                  if " (" in f else f for f in stack.split(";")[1:]]  # drop the thread name
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            incl[frame] += n
    lines = [f"{total} samples (non-idle)", "", "self:"]
    lines += [f"{n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"{n / total:6.1%}  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = workload_arguments(argparse.ArgumentParser())
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    ap.add_argument("--tenants", type=int, default=0, help="graph: this many tenants of N users, one sweep")
    args = ap.parse_args(argv)
    spy = PY.parent / "py-spy"
    with Emulator(args.provider, args.n, accounts=args.accounts, latency_ms=args.latency_ms,
                  tenants=args.tenants) as emu, \
            tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), [emu])
        raw = args.raw or Path(tmp) / "stacks.txt"
        cmd = [str(spy), "record", "--gil", "-r", "250", "-f", "raw", "-o", str(raw), "--",
               *sweeper_cmd("plan", config, Path(tmp) / "report.json")]
        code = subprocess.call(cmd, env=child_env([emu]), cwd=ROOT, stdout=subprocess.DEVNULL)
        print(summarise(raw, args.top))
        return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
