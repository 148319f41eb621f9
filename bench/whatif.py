"""Measure what a proposed fix would save, by patching it into a measured `sweeper plan` run.

    python bench/whatif.py PROVIDER N [--accounts A] [--stale-every K] [--runs R] [--latency-ms L]

Runs `sweeper plan` unchanged, then once per patch below (applied in the child before the CLI
starts), and prints wall, CPU and peak RSS for each. The patches are experiments, not the fixes
themselves: docs/benchmarks.md says where each belongs.

  gc-freeze      gc.freeze() once the adapters are imported: the collector stops re-scanning the
                 hundreds of thousands of objects the SDK imports leave behind
  shared-loader  AWS: every per-account botocore session shares the caller's data loader, so the
                 service models are read and kept once, not once per account
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import PY, Emulator, child_env, measure, sweeper_cmd, write_config  # noqa: E402

PATCHES = {
    "none": "",
    "gc-freeze": """
import gc
import providers.aws_iam.adapter, providers.entra.adapter, providers.google_workspace.adapter
gc.freeze()
""",
    "shared-loader": """
import botocore.session
_first = botocore.session.get_session()
_loader = _first.get_component("data_loader")
_original = botocore.session.get_session
def _shared(env_vars=None):
    session = _original(env_vars)
    session.register_component("data_loader", _loader)
    return session
botocore.session.get_session = _shared
import boto3.session
_boto_init = boto3.session.Session.__init__
def _init(self, *args, botocore_session=None, **kwargs):
    _boto_init(self, *args, botocore_session=botocore_session or _shared(), **kwargs)
boto3.session.Session.__init__ = _init
""",
}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("provider", choices=("graph", "google", "aws"))
    ap.add_argument("n", type=int)
    ap.add_argument("--accounts", type=int, default=1)
    ap.add_argument("--stale-every", type=int, default=100)
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--patch", action="append", choices=sorted(PATCHES))
    args = ap.parse_args(argv)
    with Emulator(args.provider, args.n, accounts=args.accounts, stale_every=args.stale_every,
                  latency_ms=args.latency_ms) as emu, tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), [emu])
        plan = sweeper_cmd("plan", config, Path(tmp) / "report.json")[3:]
        for name in args.patch or PATCHES:
            code = PATCHES[name] + "\nimport sys\nfrom sweeper.cli import main\nsys.argv = ['sweeper', *sys.argv[1:]]\nmain()\n"
            runs = [measure([str(PY), "-c", code, *plan], child_env([emu]), helpers=[emu.proc.pid])
                    for _ in range(args.runs)]
            bad = [r for r in runs if r.exit_code]
            print(f"{name:14} wall {statistics.median(r.wall_s for r in runs):6.2f} s  "
                  f"cpu {statistics.median(r.cpu_s for r in runs):6.2f} s  "
                  f"rss {statistics.median(r.rss_mb for r in runs):5.0f} MB"
                  + (f"  FAILED: {bad[0].stderr[-300:]}" if bad else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
