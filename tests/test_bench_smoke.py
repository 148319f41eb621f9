"""Smoke test of the benchmark harness (bench/): tiny tenants, one run each, figures that must add up.

The emulators run in their own processes, the sweeper and the baseline scripts are measured children;
requests are read from the emulators' counters, so they must equal the API minimum exactly.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest

from bench import harness, report, scenarios
from bench.harness import Emulator
from bench.run import QUICK, Point

N = 50  # identities per provider; AWS: 2 accounts of 25 users through Organizations
AWS_ACCOUNTS, AWS_USERS = 2, 25


@pytest.fixture(scope="module")
def emulators():
    emus = [Emulator("graph", N), Emulator("google", N), Emulator("aws", AWS_USERS, accounts=AWS_ACCOUNTS)]
    yield emus
    for emu in emus:
        emu.close()


@pytest.fixture(scope="module")
def plan(emulators, tmp_path_factory) -> harness.Measured:
    return harness.run_sweeper("plan", emulators, tmp_path_factory.mktemp("plan"))


def test_plan_lists_at_the_api_minimum(plan):
    assert plan.exit_code == 0, plan.stderr
    assert [p["status"] for p in plan.report["providers"]] == ["ok"] * 4  # Entra, Google, 2 AWS accounts
    graph, google, aws = (plan.requests[p] for p in ("graph", "google", "aws"))
    assert graph["list"] == google["list"] == math.ceil(N / 500) == 1
    # per AWS account: GenerateCredentialReport + GetCredentialReport + one details page
    assert aws["list_per_account"] == {scenarios.account_id(k): 3 for k in range(AWS_ACCOUNTS)}
    assert aws["list"] == 6


def test_plan_reads_live_only_what_the_listing_cannot_confirm(plan):
    graph, google, aws = (plan.requests[p] for p in ("graph", "google", "aws"))
    stale = scenarios.stale_count(N, 100)
    aws_stale = AWS_ACCOUNTS * scenarios.stale_count(AWS_USERS, 100)
    assert graph["get"] == google["get"] == 0  # their listing is live: no per-candidate reads
    assert aws["get"] == 2 * aws_stale  # the report is hours old: ListAccessKeys + GetAccessKeyLastUsed
    assert graph["write"] == google["write"] == aws["write"] == 0
    assert plan.report["summary"]["disable"] == 2 * stale + aws_stale


def test_plan_measurements_are_sane(plan):
    assert 0 < plan.cpu_s < 60
    assert plan.cpu_s <= plan.wall_s * 2 + 0.5  # at most 2 cores' worth, plus clock granularity
    assert 20 < plan.rss_mb < 1000
    assert 0 <= plan.others_share <= 1
    assert plan.helper_cpu_s >= 0


@pytest.mark.parametrize("provider", ["graph", "google", "aws"])
def test_baseline_asks_about_every_identity(emulators, provider):
    emu = next(e for e in emulators if e.provider == provider)
    measured = harness.run_baseline(emu)
    assert measured.exit_code == 0, measured.stderr
    said = json.loads(measured.stdout)
    counted = measured.requests[provider]["total"]
    assert said["requests"] == counted  # the script counts what the emulator saw
    if provider == "aws":
        users = AWS_ACCOUNTS * AWS_USERS + 1  # and the sweeper's own user
        assert said["identities"] == users
        assert said["stale"] == AWS_ACCOUNTS * scenarios.stale_count(AWS_USERS, 100)
        assert counted >= 2 * users  # ListAccessKeys and GetAccessKeyLastUsed for every user's key
    else:
        assert said == {"identities": N, "stale": 1, "requests": 1 + N}


def test_apply_disables_in_batches(tmp_path):
    users = 400  # 4 stale: one batch request
    with Emulator("google", users) as emu:
        measured = harness.run_sweeper("apply", [emu], tmp_path, max_disable=10)
    assert measured.exit_code == 0, measured.stderr
    assert measured.report["summary"]["disabled"] == 4
    counts = measured.requests["google"]
    assert counts["write"] == 1 and counts["items_written"] == 4
    assert counts["list"] == 1 and counts["get"] == 0


def test_report_renders_targets_from_results(plan, emulators, tmp_path):
    points = []
    for provider in ("graph", "google", "aws"):
        accounts, users = (AWS_ACCOUNTS, AWS_USERS) if provider == "aws" else (1, N)
        point = Point("plan", (provider,), accounts * users, 0, accounts, users)
        point.add(plan)
        startup = Point("startup", (provider,), accounts * users, 0, accounts, users)
        startup.add(plan)
        points += [asdict(point), asdict(startup)]
    data = {"profile": asdict(QUICK), "machine": harness.machine(), "started": "now", "points": points}
    text = report.render(data, None)
    assert "| listing requests within 2% of the API minimum | worst 1.000× the minimum" in text
    assert "Entra (Graph) | 50 | 0 ms" in text


def test_plot_is_drawn(plan, tmp_path):
    pytest.importorskip("matplotlib")  # in the project's bench extra, not the test extra
    point = Point("plan", ("graph",), N, 0, 1, N)
    point.add(plan)
    data = {"profile": asdict(QUICK), "machine": harness.machine(), "started": "now", "points": [asdict(point)]}
    [path] = report.plot(report.Results(data), tmp_path)
    assert path.suffix == ".png" and path.stat().st_size > 10_000
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_many_tenants_in_one_sweep_against_one_alone_and_separate_processes(tmp_path):
    """bench/tenants.py (#16) with 3 tiny tenants: every figure measured, each tenant listed once, the
    separate-process figure extrapolated from the one run."""
    from bench import tenants

    result = tenants.measure_all(3, 30, 0, runs=1, parallel=[2], subsets=[2], separate_count=1, folder=tmp_path)
    one, every = result["one"], result["all"]["2"]
    assert one["identities"] == 30 and every["identities"] == 90 and result["subset"]["2"]["identities"] == 60
    assert one["list_requests"] == 1 and every["list_requests"] == 3  # one page per tenant, every tenant
    assert every["requests"] == 3 * one["requests"] and every["disable"] == 3 * one["disable"] == 3
    sep = result["separate"]
    assert sep["processes"] == 1 and sep["extrapolated"] and sep["wall_s_for_all"] == pytest.approx(3 * sep["wall_s"])
    text = tenants.table(result)
    assert "| one sweep, 3 tenants, max_parallel = 2 |" in text and "(1 run, × 3)" in text
