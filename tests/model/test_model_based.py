"""Model-based test of the policy through every emulator (issue #29).

Hypothesis generates a small population per provider in the emulator's scenario format, together
with a configuration (thresholds at every level, warn windows, never_used_days, exclusions); the
emulator serves it; `sweeper plan --as-of AS_OF -f json` runs through the CLI exactly as a user would
run it; and every credential is compared with `tests/model/reference.py`: each finding's decision,
threshold_days, days_inactive and credential label, that nothing the model calls active or already
disabled is reported, and the provider's and the summary's counts. A disagreement fails with the
shrunk population, the configuration and the differences (hypothesis `note`). Populations,
configurations and the model: tests/model/populations.py and tests/model/reference.py; what it
found: docs/reliability.md ("Model-based test of the policy").

Quick profile (default, CI): a fixed number of derandomized examples per provider. Soak profile
(`SWEEPER_SOAK=1` or `-m slow`): the `slow` tests, many more examples from a random seed
(`SWEEPER_MODEL_SEED=n` fixes it).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from providers.emulator import toml_value
from hypothesis import HealthCheck, event, given, note, seed, settings
from hypothesis.control import currently_in_test_context
from typer.testing import CliRunner

from providers.aws_iam import emulator as aws_emulator
from providers.entra import emulator as graph_emulator
from providers.google_workspace import emulator as directory_emulator
from sweeper.cli import app
from tests.model import populations, reference

AS_OF = populations.AS_OF
runner = CliRunner()
COMPARED: Counter[str] = Counter()  # credentials compared with the model in this process, by provider

# examples per provider: (quick, soak). One `sweeper plan` per example; moto is started (reset and
# seeded) per example, the Graph and Directory emulators once per test and reseeded per example.
EXAMPLES = {"aws": (30, 300), "entra": (60, 600), "google_workspace": (100, 1000)}
_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


def _quick(provider: str) -> settings:
    return settings(max_examples=EXAMPLES[provider][0], deadline=None, derandomize=True, database=None,
                    suppress_health_check=_HEALTH, print_blob=False)


def _soak(provider: str) -> settings:
    return settings(max_examples=EXAMPLES[provider][1], deadline=None, database=None,
                    suppress_health_check=_HEALTH, print_blob=True)


def _soak_seed(test: Callable) -> Callable:
    fixed = os.environ.get("SWEEPER_MODEL_SEED")
    return seed(int(fixed))(test) if fixed else test


# -- running the CLI ----------------------------------------------------------------------------------

def render(config: dict[str, Any], connection: dict[str, Any], journal: Path) -> str:
    """sweeper.toml: the world's policy and provider keys plus how to reach the emulator."""
    lines = ["[policy]", *(f"{k} = {toml_value(v)}" for k, v in config["policy"].items()), "",
             "[journal]", f"path = {toml_value(str(journal))}", ""]
    for name, section in config["providers"].items():
        lines.append(f"[providers.{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in {**section, **connection}.items()]
    return "\n".join(lines) + "\n"


def plan(folder: Path, config: dict[str, Any], connection: dict[str, Any],
         env: dict[str, str | None]) -> dict[str, Any]:
    """`sweeper plan --as-of AS_OF -f json` in `folder` (its journal is reused from one example to
    the next: creating a journal costs more than a small plan)."""
    path = folder / "sweeper.toml"
    text = render(config, connection, folder / "sweeper.db")
    path.write_text(text)
    result = runner.invoke(app, ["plan", "-c", str(path), "--as-of", AS_OF.isoformat(), "-f", "json"],
                           env={"GITHUB_STEP_SUMMARY": None, "SWEEPER_CONFIG": None, **env})
    if currently_in_test_context():  # also used by plain regression tests
        note(f"sweeper.toml:\n{text}")
    assert result.exit_code in (0, 3), f"exit {result.exit_code}: {result.output}"
    return json.loads(result.stdout)


# -- comparing -------------------------------------------------------------------------------------

def _row(finding: dict[str, Any]) -> tuple:
    return (finding["identity"], finding["credential"], finding["decision"], finding["threshold_days"],
            finding["days_inactive"])


def differences(report: dict[str, Any], scopes: list[reference.Scope]) -> list[str]:
    """Every way the report and the model disagree, one line each (empty: they agree)."""
    problems: list[str] = []
    outcomes = [o for s in scopes for o in s.outcomes]
    want = Counter(o.row for s in scopes for o in s.findings)
    got = Counter(_row(f) for f in report["findings"])

    def model_of(login: str) -> str:
        return "; ".join(f"{o.credential} {o.decision} T={o.threshold_days} days={o.days_inactive}"
                         for o in outcomes if o.identity == login)

    for row in sorted(want - got, key=repr):
        problems.append(f"missing from the report: {row} (model for {row[0]}: {model_of(row[0])})")
    for row in sorted(got - want, key=repr):
        model = model_of(row[0]) or "no such identity"
        problems.append(f"reported but not expected: {row} (model for {row[0]}: {model})")

    listed = {(p["name"], p["scope"]): p for p in report["providers"]}
    for s in scopes:
        p = listed.get((s.provider, s.scope))
        if p is None:
            problems.append(f"provider {s.provider} scope {s.scope} missing from the report: {report['providers']}")
            continue
        for key, expected in (("status", s.status), ("identities", s.identities), ("credentials", s.credentials)):
            if p[key] != expected:
                problems.append(f"{s.provider} {key}: report {p[key]!r}, model {expected!r} ({p['message']})")

    expected_summary = {"identities": sum(s.identities for s in scopes),
                        "credentials": sum(s.credentials for s in scopes),
                        "already_disabled": sum(s.count(reference.ALREADY_DISABLED) for s in scopes)}
    for decision in reference.FINDINGS:
        expected_summary[decision] = sum(1 for s in scopes for o in s.findings if o.decision == decision)
    for key, expected in expected_summary.items():
        if report["summary"][key] != expected:
            problems.append(f"summary {key}: report {report['summary'][key]}, model {expected}")
    return problems


def check(report: dict[str, Any], scopes: list[reference.Scope]) -> None:
    problems = differences(report, scopes)
    compared = sum(s.credentials for s in scopes)
    COMPARED[scopes[0].provider] += compared
    if currently_in_test_context():  # --hypothesis-show-statistics: what the examples covered
        for decision in sorted({o.decision for s in scopes for o in s.outcomes}):
            event(f"some credential is {decision}")
    assert not problems, (f"{len(problems)} disagreement(s) in {compared} credentials, as of "
                          f"{AS_OF.isoformat()}:\n" + "\n".join(problems))


# -- one example per provider ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory(prefix="sweeper-model-") as path:
        yield Path(path)


@pytest.fixture(scope="module")
def graph():
    """One Graph emulator per test; each example reseeds its tenant."""
    with graph_emulator.start({"token": "unused", "users": []}) as emu:
        yield emu


@pytest.fixture(scope="module")
def directory():
    """One Directory emulator per test; each example reseeds its customer."""
    with directory_emulator.start({"users": []}) as emu:
        yield emu


def aws_case(folder: Path, world: dict[str, Any]) -> None:
    """moto's state is process-global: one emulator at a time, started (reset and seeded) per example."""
    emu = aws_emulator.start(world["scenario"])
    try:
        env = {**emu.env(), "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
               "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": None, "AWS_SESSION_TOKEN": None,
               "AWS_ROLE_ARN": None, "AWS_WEB_IDENTITY_TOKEN_FILE": None}
        report = plan(folder, world["config"], {**emu.config(), "report_poll_seconds": 0.01}, env)
        # The sweep signs its requests with the caller key, so that key was last used during the run.
        ran = datetime.now(timezone.utc)

        def key_id(account: str, user: str, n: int) -> str:
            return emu.backend(account).get_user(user).access_keys[n - 1].access_key_id

        scopes = reference.aws(world["scenario"], world["config"], AS_OF, key_id=key_id, caller_used=ran)
    finally:
        emu.stop()
    check(report, scopes)


def entra_case(folder: Path, emu: graph_emulator.GraphEmulator, world: dict[str, Any]) -> None:
    scenario = world["scenario"]
    emu.state = emu.app.state = graph_emulator.GraphState(scenario)  # reseed the running emulator
    report = plan(folder, world["config"], emu.config(), emu.env())
    check(report, [reference.entra(scenario, world["config"], AS_OF, self_id=world["self_id"])])


def google_case(folder: Path, emu: directory_emulator.DirectoryEmulator, world: dict[str, Any]) -> None:
    scenario = world["scenario"]
    emu.directory = directory_emulator.Directory(scenario)  # reseed the running emulator
    report = plan(folder, world["config"], emu.config(), emu.env())
    check(report, [reference.google(scenario, world["config"], AS_OF)])


# -- quick profile ----------------------------------------------------------------------------------

@pytest.mark.aws
@pytest.mark.timeout(1200)  # passing takes under a minute; shrinking a failure can take minutes
@_quick("aws")
@given(populations.aws_world())
def test_aws_plan_agrees_with_the_model(folder: Path, world: dict[str, Any]) -> None:
    aws_case(folder, world)


@pytest.mark.entra
@pytest.mark.timeout(1200)  # passing takes under a minute; shrinking a failure can take minutes
@_quick("entra")
@given(populations.entra_world())
def test_entra_plan_agrees_with_the_model(folder: Path, graph, world: dict[str, Any]) -> None:
    entra_case(folder, graph, world)


@pytest.mark.google_workspace
@pytest.mark.timeout(1200)  # passing takes under a minute; shrinking a failure can take minutes
@_quick("google_workspace")
@given(populations.google_world())
def test_google_plan_agrees_with_the_model(folder: Path, directory, world: dict[str, Any]) -> None:
    google_case(folder, directory, world)


# -- soak profile -------------------------------------------------------------------------------------

@pytest.mark.aws
@pytest.mark.slow
@pytest.mark.aws
@pytest.mark.timeout(3600)
@_soak_seed
@_soak("aws")
@given(populations.aws_world(max_users=20))
def test_aws_plan_agrees_with_the_model_soak(folder: Path, world: dict[str, Any]) -> None:
    aws_case(folder, world)


@pytest.mark.entra
@pytest.mark.slow
@pytest.mark.entra
@pytest.mark.timeout(3600)
@_soak_seed
@_soak("entra")
@given(populations.entra_world(max_users=40))
def test_entra_plan_agrees_with_the_model_soak(folder: Path, graph, world: dict[str, Any]) -> None:
    entra_case(folder, graph, world)


@pytest.mark.google_workspace
@pytest.mark.slow
@pytest.mark.google_workspace
@pytest.mark.timeout(3600)
@_soak_seed
@_soak("google_workspace")
@given(populations.google_world(max_users=40))
def test_google_plan_agrees_with_the_model_soak(folder: Path, directory, world: dict[str, Any]) -> None:
    google_case(folder, directory, world)
