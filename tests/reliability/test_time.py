"""`--as-of` and the real clock kept apart: inactivity is judged at --as-of, while journal timestamps,
run ids, plan `created` and the plan age check use the real clock."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from tests.reliability import world
from tests.reliability.harness import journal_rows, provider_status, record, start, sweeper, written

PAST, FUTURE = "2001-02-03", "2099-12-31T23:00:00Z"


def real(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_as_of_judges_while_the_real_clock_stamps(served, tmp_path):
    ep = served.reset(world.scenario())
    env = ep.env()
    cfg = ep.config(tmp_path)
    t0 = datetime.now(timezone.utc).replace(microsecond=0)

    # Two dry runs at once, at each end of time (a plan takes no journal lock).
    past_p = start("plan", "-c", cfg, "--as-of", PAST, "-f", "json", "--plan-out", tmp_path / "past.json", env=env)
    future_p = start("plan", "-c", cfg, "--as-of", FUTURE, "-f", "json", env=env)
    (past_code, past_out, past_err), (future_code, future_out, future_err) = [
        (p.wait(60), *p.communicate()) for p in (past_p, future_p)]
    assert past_code == 0, past_err
    report = json.loads(past_out)
    assert report["as_of"] == "2001-02-03T00:00:00Z"
    assert not [f for f in report["findings"] if f["decision"] in ("disable", "warn")]  # nothing was idle yet
    plan = json.loads((tmp_path / "past.json").read_text())
    assert plan["as_of"] == "2001-02-03T00:00:00Z" and plan["targets"] == []
    assert future_code == 3, future_err  # everything idle for decades: the safety cap stops every provider
    future = json.loads(future_out)
    assert set(provider_status(future).values()) == {"capped"}
    assert future["as_of"] == "2099-12-31T23:00:00Z"

    now_plan = sweeper("plan", "-c", cfg, "-f", "json", "--plan-out", tmp_path / "now.json", env=env)
    assert now_plan.code == 0, now_plan
    # A plan made now is fresh by the real clock, whatever --as-of the apply judges at.
    applied = sweeper("apply", tmp_path / "now.json", "-c", cfg, "--as-of", FUTURE, "--allow-future-as-of", "--yes",
                      "-f", "json", env=env)
    assert applied.code == 0, applied
    assert applied.json()["summary"]["disabled"] == 13  # the plan's targets, and nothing the far future adds
    assert {f["identity"] for f in applied.json()["findings"] if f["action"] == "disabled"} == \
        set().union(*world.targets().values())
    t1 = datetime.now(timezone.utc) + timedelta(seconds=1)

    for path in ("past.json", "now.json"):
        created = real(json.loads((tmp_path / path).read_text())["created"])
        assert t0 <= created <= t1, (path, created)
    runs = journal_rows(tmp_path / "sweeper.db", "SELECT run_id, mode, started, finished, as_of FROM runs")
    assert len(runs) == 4
    for run_id, mode, started, finished, as_of in runs:
        assert t0 <= real(started) <= real(finished) <= t1, (run_id, started, finished)
        assert t0.strftime("%Y%m%dT") in run_id or t1.strftime("%Y%m%dT") in run_id  # named by the real day
    assert sorted(a[:4] for _, _, _, _, a in runs) == ["2001", str(t0.year), "2099", "2099"]
    for created, updated in journal_rows(tmp_path / "sweeper.db", "SELECT created, updated FROM actions"):
        assert t0 <= real(created) <= real(updated) <= t1
    record("as-of and real clock", runs=len(runs), as_of=[PAST, "now", FUTURE])


def test_plan_age_is_measured_on_the_real_clock(served, tmp_path):
    """plan_max_age_hours = 0.0005 (1.8 s): a plan 2.5 s old is refused whatever --as-of says."""
    ep = served.reset(world.scenario())
    env = ep.env()
    cfg = ep.config(tmp_path, policy="plan_max_age_hours = 0.0005")
    made = sweeper("plan", "-c", cfg, "--as-of", FUTURE, "--plan-out", tmp_path / "plan.json", env=env)
    assert made.code == 3, made  # capped at that --as-of; the plan file is written all the same
    age = time.time() - real(json.loads((tmp_path / "plan.json").read_text())["created"]).timestamp()
    time.sleep(max(0.0, 2.5 - age))
    late = [start("apply", tmp_path / "plan.json", "-c", cfg, "--as-of", as_of, "--yes", env=env)
            for as_of in (PAST, FUTURE)]
    for proc in late:
        code, _, err = proc.wait(60), *proc.communicate()
        assert code == 2, err  # refused before taking the journal lock: both can say so at once
        assert "h old, older than plan_max_age_hours" in err, err
    assert written(served.state()) == {"aws": {}, "entra": {}, "google_workspace": {}}
