"""Concurrent runs on one journal: one apply acts, every other refuses at once (exit 2); never two act."""

from __future__ import annotations

import time

import pytest

from tests.reliability import world
from tests.reliability.harness import journal_rows, record, start, written


def test_racing_applies_on_a_fresh_journal_act_once(served, tmp_path):
    """Three applies and a plan start together on a journal that does not exist yet; the emulators hold
    each write's answer for 1.5 s, so the first apply is still acting when the others want the lock."""
    ep = served.reset(world.scenario())
    cfg, env = ep.config(tmp_path), ep.env()
    served.hold(aws={"after": 1.5}, entra={"after": 1.5}, google={"after": 1.5})
    started = time.monotonic()
    procs = [start("apply", "-c", cfg, "--yes", "-f", "json", env=env) for _ in range(3)]
    procs.append(start("plan", "-c", cfg, "-f", "json", env=env))
    outs = [(p.wait(90), *p.communicate()) for p in procs]
    seconds = time.monotonic() - started
    served.hold(aws={}, entra={}, google={})
    state = served.state()

    applies, plan = outs[:3], outs[3]
    assert sorted(code for code, _, _ in applies) == [0, 2, 2], applies
    for code, out, err in applies:
        if code == 2:
            assert out == ""  # refused before any report
            assert "another sweeper apply/restore (pid" in err and "is using this journal" in err, err
    assert plan[0] == 0, plan  # a dry run needs no lock and is not disturbed
    writes = written(state)
    for provider, logins in world.targets().items():
        assert {k.split("/")[0] for k in writes[provider]} == logins, provider
        assert set(writes[provider].values()) == {1}, writes[provider]
    runs = journal_rows(tmp_path / "sweeper.db", "SELECT mode, status FROM runs")
    assert sorted(runs) == [("apply", "done"), ("plan", "done")]
    record("racing applies", processes=4, seconds=seconds, exit_codes=[c for c, _, _ in outs],
           writes=sum(n for v in writes.values() for n in v.values()))


@pytest.mark.slow
def test_restore_and_apply_at_once_one_refuses(served, tmp_path):
    """An apply that is acting holds the journal against a restore of an earlier run, too."""
    ep = served.reset(world.scenario())
    cfg, env = ep.config(tmp_path), ep.env()
    first = start("apply", "-c", cfg, "--yes", "-p", "entra", "-f", "json", env=env)
    assert first.wait(60) == 0, first.communicate()
    run_id = journal_rows(tmp_path / "sweeper.db", "SELECT run_id FROM runs WHERE mode = 'apply'")[0][0]
    served.hold(aws={"after": 2}, google={"after": 2})
    acting = start("apply", "-c", cfg, "--yes", "-p", "aws", "-p", "google_workspace", "-f", "json", env=env)
    deadline = time.monotonic() + 30
    while not served.state()["holds"]["google"]["holding"] and time.monotonic() < deadline:
        time.sleep(0.05)
    restore = start("restore", run_id, "-c", cfg, env=env)
    r_code, r_out, r_err = restore.wait(60), *restore.communicate()
    a_code = acting.wait(60)
    acting.communicate()
    served.hold(aws={}, google={})
    assert a_code == 0
    assert r_code == 2 and "is using this journal" in r_err, (r_code, r_out, r_err)
    entra = served.state()["entra"]["users"]
    assert all(u["enabled"] is False for u in entra.values() if u["login"] in world.entra_targets())
