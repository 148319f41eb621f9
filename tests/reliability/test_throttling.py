"""Throttling and server faults on every emulator: the same findings, the same disables, each once;
and a provider that stays unavailable fails alone, within a bounded time."""

from __future__ import annotations

import pytest

from tests.reliability import world
from tests.reliability.harness import (SMALL_RETRIES, disable_set, disabled_now, findings, provider_status, record, sweeper,
                                       written)

# 20% of requests answered 429 (Retry-After: 1 s; Graph reads only whole seconds), 5% 503.
NOISY = {"rate_429": 0.2, "rate_503": 0.05, "retry_after": 1, "seed": 7}


def noisy(served, seed: int) -> None:
    f = {**NOISY, "seed": seed}
    served.faults(aws={k: v for k, v in f.items() if k != "retry_after"}, entra=f, entra_items=f, google=f,
                  google_items={"rate_429": 0.2, "rate_503": 0.05, "seed": seed})


def quiet(served) -> None:
    served.faults(aws={}, entra={}, entra_items={}, google={}, google_items={})


def injected(state: dict) -> dict[str, int]:
    return {"aws": sum(state["aws"]["injected"].values()),
            "entra": sum(state["entra"]["injected"].values()),
            "google_workspace": state["google"]["injected"].get("429", 0) + state["google"]["injected"].get("503", 0)
            + state["google"]["injected"].get("items", 0)}


def test_throttled_plan_and_apply_match_the_fault_free_run(served, tmp_path):
    ep = served.reset(world.scenario())
    cfg, env = ep.config(tmp_path), ep.env()
    clean = sweeper("plan", "-c", cfg, "-f", "json", env=env)
    assert clean.code == 0, clean
    expected = disable_set(clean.json())
    assert len(expected) == 13  # 5 AWS keys, 4 Entra accounts, 4 Google accounts

    noisy(served, seed=7)
    plan = sweeper("plan", "-c", cfg, "-f", "json", env=env)
    assert plan.code == 0, plan
    assert findings(plan.json()) == findings(clean.json())
    during_plan = injected(served.state())

    apply = sweeper("apply", "-c", cfg, "-f", "json", "--yes", env=env)
    assert apply.code == 0, apply
    report = apply.json()
    assert provider_status(report) == {"aws": "ok", "entra": "ok", "google_workspace": "ok"}
    assert {(f["provider"], f["identity"], f["credential"]) for f in report["findings"]
            if f["action"] == "disabled"} == expected
    assert report["summary"]["failed"] == 0

    state = served.state()
    quiet(served)
    writes = written(state)
    for provider, logins in world.targets().items():
        assert {k.split("/")[0] for k in writes[provider]} == logins, provider
        assert set(writes[provider].values()) == {1}, (provider, writes[provider])  # each once
    assert {k for k in writes["aws"]} == {f"{p[1]}/{p[2].split(':')[1]}" for p in expected if p[0] == "aws"}
    now = disabled_now(state)
    assert now["entra"] - {"already.off@reliability.example"} == world.entra_targets()
    assert now["google_workspace"] - {"on.leave@reliability.example"} == world.google_targets()
    total = injected(state)
    assert all(total[p] > during_plan[p] >= 1 for p in total), (during_plan, total)  # faults did happen
    record("throttled", plan_seconds=plan.seconds, apply_seconds=apply.seconds, clean_plan_seconds=clean.seconds,
           faults_during_plan=during_plan, faults_plan_and_apply=total, disabled=len(expected))


def test_unavailable_providers_fail_alone_within_a_bounded_time(served, tmp_path):
    """Entra answers 503 to everything and Google drops every connection: both fail, AWS completes."""
    ep = served.reset(world.scenario())
    cfg, env = ep.config(tmp_path, **SMALL_RETRIES), ep.env()
    served.faults(entra={"rate_503": 1.0}, google={"rate_drop": 1.0})
    run = sweeper("apply", "-c", cfg, "-f", "json", "--yes", env=env, timeout=90)
    state = served.state()
    quiet(served)
    assert run.code == 4, run
    report = run.json()
    assert provider_status(report) == {"aws": "ok", "entra": "failed", "google_workspace": "failed"}
    assert run.seconds < 60
    writes = written(state)
    assert writes["entra"] == {} and writes["google_workspace"] == {}
    assert {k.split("/")[0] for k in writes["aws"]} == world.aws_targets()
    messages = {p["name"]: p["message"] for p in report["providers"]}
    assert "503" in messages["entra"] or "unavailable" in messages["entra"].lower(), messages
    record("outage entra 503 + google drop", seconds=run.seconds, messages=messages,
           entra_requests=sum(state["entra"]["counts"].values()),
           google_requests=sum(state["google"]["counts"].values()))


@pytest.mark.aws
def test_aws_unavailable_fails_alone_within_a_bounded_time(served, tmp_path):
    ep = served.reset(world.scenario())
    cfg, env = ep.config(tmp_path, **SMALL_RETRIES), ep.env()
    served.faults(aws={"rate_503": 1.0})
    run = sweeper("apply", "-c", cfg, "-f", "json", "--yes", env=env, timeout=90)
    state = served.state()
    quiet(served)
    assert run.code == 4, run
    report = run.json()
    assert provider_status(report) == {"aws": "failed", "entra": "ok", "google_workspace": "ok"}
    assert run.seconds < 60
    writes = written(state)
    assert writes["aws"] == {}
    assert set(writes["entra"]) == world.entra_targets()
    assert set(writes["google_workspace"]) == world.google_targets()
    record("outage aws 503", seconds=run.seconds, message=report["providers"][0]["message"],
           aws_requests=sum(state["aws"]["counts"].values()))


@pytest.mark.aws
@pytest.mark.slow
def test_aws_endpoint_refusing_connections_fails_alone(served, tmp_path):
    import socket

    ep = served.reset(world.scenario())
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    cfg, env = ep.config(tmp_path, **{**SMALL_RETRIES, "aws": {**SMALL_RETRIES["aws"], "endpoint_url": dead}}), ep.env()
    run = sweeper("plan", "-c", cfg, "-f", "json", env=env, timeout=90)
    assert run.code == 4, run
    assert provider_status(run.json()) == {"aws": "failed", "entra": "ok", "google_workspace": "ok"}
    assert run.seconds < 60
    record("outage aws connection refused", seconds=run.seconds, message=run.json()["providers"][0]["message"])


@pytest.mark.aws
@pytest.mark.slow
def test_aws_credential_report_unavailable_is_bounded_by_report_timeout(served, tmp_path):
    """STS answers, IAM's credential report does not: the report wait ends at report_timeout_seconds."""
    ep = served.reset(world.scenario())
    small = {**SMALL_RETRIES, "aws": {**SMALL_RETRIES["aws"], "report_timeout_seconds": 4}}
    served.faults(aws={"rate_503": 1.0, "only": ["CredentialReport"]})
    run = sweeper("plan", "-c", ep.config(tmp_path, **small), "-f", "json", env=ep.env(), timeout=90)
    quiet(served)
    assert run.code == 4, run
    assert provider_status(run.json()) == {"aws": "failed", "entra": "ok", "google_workspace": "ok"}
    message = run.json()["providers"][0]["message"]
    assert "not complete after 4 s" in message, message
    assert run.seconds < 60
    record("outage aws credential report", seconds=run.seconds, message=message)
