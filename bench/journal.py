"""What a journal in object storage costs: `python3 dev.py bench`'s companion, run as
`.venv/bin/python bench/journal.py [--n 100000] [--runs 3]`.

The same `sweeper plan` and `sweeper apply --max-disable 1000` (child processes, measured like the main
benchmark) against one Graph emulator process with N users (1 % stale: N/100 disables), once with the
local SQLite journal and once with `[journal] path = "s3://..."` on moto's S3 server. Reports the
wall time and the storage requests (by HTTP method) per run and per disable; medians of --runs.
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
from stores import emulator_s3  # noqa: E402


def _config(folder: Path, emu: Emulator, journal: dict) -> Path:
    path = harness.write_config(folder, [emu])
    text = path.read_text().replace(f'path = "{folder / "sweeper.db"}"',
                                    "\n".join(f"{k} = {json.dumps(v)}" for k, v in journal.items()))
    path.write_text(text)
    return path


def one(mode: str, n: int, s3: emulator_s3.S3Emulator | None, run: int) -> dict:
    with Emulator("graph", n) as emu, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        journal = {"path": str(folder / "sweeper.db")}
        if s3 is not None:
            journal = {"path": f"s3://bench-journal/run-{mode}-{n}-{run}", **s3.config()}
        config = _config(folder, emu, journal)
        env = harness.child_env([emu])
        if s3 is not None:
            env.update(s3.env())
            s3.reset_counts()
        out = folder / "report.json"
        cmd = harness.sweeper_cmd(mode, config, out, max_disable=1000 if mode == "apply" else None)
        measured = harness.measure(cmd, env)
        assert measured.exit_code == 0, measured.stderr
        report = json.loads(out.read_text())
        return {"wall_s": measured.wall_s, "disabled": report["summary"]["disabled"],
                "storage": dict(s3.requests) if s3 is not None else {}}


def history_after(nights: int, s3: emulator_s3.S3Emulator) -> tuple[float, int, int]:
    """A year of nightly runs (a plan, then an apply of 3 disables, under the lease), then `history`
    read by a fresh machine: (seconds, storage requests, log segments written)."""
    import os
    import time
    from types import SimpleNamespace

    from sweeper.journal_remote import RemoteJournal
    from sweeper.model import Action, CredentialKind, CredentialRef

    os.environ.update(s3.env())
    settings = SimpleNamespace(**s3.config())
    url = f"s3://bench-journal/history-{nights}-{time.time_ns()}"
    for night in range(nights):
        writer = RemoteJournal(url, settings)
        plan = f"n{night:04d}-plan"
        writer.start_run(plan, "plan", None)
        writer.finish_run(plan, "done")
        with writer.exclusive():
            run = f"n{night:04d}-apply"
            writer.start_run(run, "apply", None)
            refs = [(CredentialRef("entra", "t", f"u{night}-{k}", f"u{k}@x", CredentialKind.ACCOUNT, f"u{night}-{k}"),
                     {"enabled": True}, False) for k in range(3)]
            ids = writer.intend(run, Action.DISABLE, refs)
            writer.settle([(i, "done", None) for i in ids])
            writer.finish_run(run, "done")
        writer.close()
    segments = writer._seq
    s3.reset_counts()
    started = time.perf_counter()
    reader = RemoteJournal(url, settings)
    runs = reader.runs()
    seconds = time.perf_counter() - started
    assert len(runs) == 2 * nights
    return seconds, s3.total(), segments


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="Graph users (1 %% stale)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--nights", type=int, default=365, help="nightly runs before the history read")
    args = ap.parse_args()
    s3 = emulator_s3.start()
    s3.make_bucket("bench-journal")
    rows = []
    try:
        seconds, requests, segments = history_after(args.nights, s3)
        print(f"history after {args.nights} nights ({segments} log segments written): {seconds:.2f} s, "
              f"{requests} storage requests", flush=True)
        for mode in ("plan", "apply"):
            for kind in ("local", "s3"):
                points = [one(mode, args.n, s3 if kind == "s3" else None, r) for r in range(args.runs)]
                wall = statistics.median(p["wall_s"] for p in points)
                requests = points[-1]["storage"]
                total = sum(requests.values())
                disabled = points[-1]["disabled"]
                rows.append((mode, kind, wall, total, requests, disabled))
                print(f"{mode:5} {kind:5} N={args.n}: {wall:6.2f} s, storage requests {total} {requests}"
                      + (f", {disabled} disabled, {total / disabled:.3f} requests per disable" if disabled else ""),
                      flush=True)
    finally:
        s3.stop()
    for mode in ("plan", "apply"):
        local = next(r for r in rows if r[0] == mode and r[1] == "local")
        remote = next(r for r in rows if r[0] == mode and r[1] == "s3")
        print(f"{mode}: s3 journal adds {remote[2] - local[2]:+.2f} s ({remote[3]} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
