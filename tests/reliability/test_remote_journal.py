"""The journal in S3 (moto's S3 server) with real `sweeper` processes on two "machines" (two folders,
each with its own config and nothing else in common but the bucket).

- A runner SIGKILLed between its stored intents and the calls they announce leaves nothing that the
  next run, on the other machine, cannot reconcile: it asks the providers, never acts twice, and every
  run can then be restored from a third folder (an engineer's laptop).
- Two applies at once from two machines: one acts, the other exits 2 naming the holder.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest

from stores import emulator_s3
from sweeper.journal_remote import RemoteJournal
from tests.reliability import world
from tests.reliability.harness import Served, record, start, sweeper
from tests.reliability.test_crash import (NO_HOLD, PHASES, check_writes, target_state, wait_for, wait_quiet,
                                          writes_by_login)

LEASE_SECONDS = 3


@pytest.fixture(scope="module")
def s3():
    emu = emulator_s3.start()
    emu.make_bucket("team-sweeper")
    yield emu
    emu.stop()


def _machines(served: Served, s3, tmp_path: Path, n: int = 3):
    ep = served.reset(world.scenario())
    url = f"s3://team-sweeper/{uuid.uuid4().hex}/journal"
    keys = {**s3.config(), "lease_seconds": LEASE_SECONDS, "write_batch": 50}
    configs = []
    for i in range(n):
        folder = tmp_path / f"machine-{i}"
        folder.mkdir()
        configs.append((ep.config(folder, journal=url, journal_keys=keys), folder))
    return ep, url, configs


def _reader(url: str, s3) -> RemoteJournal:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in s3.env().items():
            mp.setenv(name, value)
        from types import SimpleNamespace
        return RemoteJournal(url, SimpleNamespace(**s3.config()))


def test_killed_on_one_machine_reconciled_and_restored_from_others(served, s3, tmp_path):
    ep, url, [(cfg_a, dir_a), (cfg_b, dir_b), (cfg_c, dir_c)] = _machines(served, s3, tmp_path)
    env = ep.env()
    want = sum(len(v) for v in world.targets().values())
    served.hold(**PHASES["before"])  # each write is held, and dropped when its client dies
    started = time.monotonic()
    proc = start("apply", "-c", cfg_a, "--yes", "-f", "json", env=env, cwd=dir_a)

    def intents_stored() -> bool:
        rows = _reader(url, s3).actions(state="intent")
        holding = served.state()["holds"]
        return len(rows) >= want and all(h["holding"] for h in holding.values())

    assert wait_for(intents_stored, 40, proc), proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    killed_after = time.monotonic() - started
    wait_quiet(served)
    served.hold(**NO_HOLD)
    assert not any(target_state(served.state())[p][u] for p, logins in world.targets().items() for u in logins)

    seen = sweeper("history", "-c", cfg_b, "-f", "json", env=env, cwd=dir_b)
    assert seen.code == 0, seen
    [killed] = seen.json()["runs"]
    assert killed["status"] == "running" and killed["actions"]["pending"] == want

    time.sleep(LEASE_SECONDS + 0.5)  # the dead runner's lease expires; the next run takes it over
    done = sweeper("apply", "-c", cfg_b, "--yes", "-f", "json", env=env, cwd=dir_b)
    assert done.code == 0, done
    assert "reconciled" in done.stderr, done
    wait_quiet(served)
    state = served.state()
    assert all(all(v.values()) for v in target_state(state).values()), target_state(state)
    check_writes(writes_by_login(state, disable=True), in_flight=set())  # each target written once

    runs = sweeper("history", "-c", cfg_c, "-f", "json", env=env, cwd=dir_c).json()["runs"]
    status = {r["run_id"]: r["status"] for r in runs}
    assert status[killed["run_id"]] == "interrupted" and list(status.values()).count("done") == 1
    assert all(r["actions"]["pending"] == 0 for r in runs), runs
    for run in runs:
        if run["mode"] == "apply" and run["actions"]["done"]:
            restored = sweeper("restore", run["run_id"], "-c", cfg_c, env=env, cwd=dir_c)
            assert restored.code == 0, restored
    wait_quiet(served)
    assert not any(any(v.values()) for v in target_state(served.state()).values())
    assert not any(p.name.endswith(".db") for d in (dir_a, dir_b, dir_c) for p in d.iterdir())
    record("remote_journal_kill", killed_after_s=round(killed_after, 2), targets=want,
           reconcile_apply_s=round(done.seconds, 2))


def test_two_machines_apply_at_once_one_acts(served, s3, tmp_path):
    ep, url, [(cfg_a, dir_a), (cfg_b, dir_b), _] = _machines(served, s3, tmp_path)
    env = ep.env()
    served.hold(aws={"before": 6.0}, entra={"before": 6.0}, google={"before": 6.0})
    first = start("apply", "-c", cfg_a, "--yes", "-f", "json", env=env, cwd=dir_a)
    try:
        assert wait_for(lambda: any(h["holding"] for h in served.state()["holds"].values()), 40, first)
        second = sweeper("apply", "-c", cfg_b, "--yes", "-f", "json", env=env, cwd=dir_b)
        assert second.code == 2, second
        assert "holds the journal" in second.stderr and "host" in second.stderr and "since" in second.stderr
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err
    finally:
        served.hold(**NO_HOLD)
        if first.poll() is None:
            first.kill()
    wait_quiet(served)
    check_writes(writes_by_login(served.state(), disable=True), in_flight=set())
    runs = sweeper("history", "-c", cfg_b, "-f", "json", env=env, cwd=dir_b).json()["runs"]
    assert [r["mode"] for r in runs] == ["apply"]  # the refused one never started a run
