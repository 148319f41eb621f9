"""Documentation that must not drift: permission pages, README commands, help texts."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from typer.main import get_command

from sweeper.cli import app

ROOT = Path(__file__).resolve().parent.parent


def _gen():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", [pytest.param("aws", marks=pytest.mark.aws),
                                  pytest.param("entra", marks=pytest.mark.entra),
                                  pytest.param("google_workspace", marks=pytest.mark.google_workspace)])
def test_permission_pages_match_sweeper_permissions(name):
    gen = _gen()
    page = (ROOT / "docs" / f"{name}.md").read_text()
    assert page == gen.page(name), f"docs/{name}.md is stale: run scripts/gen_docs.py"


def test_readme_quick_start_is_two_commands():
    text = (ROOT / "README.md").read_text()
    assert text.splitlines()[2] == "## Quick start"
    block = re.search(r"## Quick start\s+```\w*\n(.*?)```", text, re.S).group(1)
    assert block.strip().splitlines() == ["python3 dev.py demo", "python3 dev.py test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 dev.py test" in ci


def test_readme_sweeper_commands_exist_with_their_options():
    """Every `sweeper ...` line in the README's shell blocks names a real command and real options."""
    text = (ROOT / "README.md").read_text()
    commands = get_command(app).commands
    checked = 0
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if not line.startswith("sweeper "):
                continue
            name, *args = shlex.split(line)[1:]
            assert name in commands, line
            options = {o for p in commands[name].params for o in (*p.opts, *p.secondary_opts)}
            assert all(a in options for a in args if a.startswith("-")), line
            checked += 1
    assert checked >= 5


# --- #20 item 6: the README's claims, each checked against what the code does

def _readme() -> str:
    return re.sub(r"\s+", " ", (ROOT / "README.md").read_text())


def test_readme_leads_with_the_console_password_exception():
    """"each can be undone" is followed at once by the exception, with the default it is about."""
    from providers.aws_iam.settings import AwsSettings
    from sweeper import registry
    from sweeper.model import CredentialKind

    text = _readme()
    intro = text[text.index("## What it does, for whom"):text.index("Compared with the scripts")]
    undone = intro.index("each can be undone")
    exception = intro.index("One exception", undone)
    assert exception - undone < 40, "the exception must follow the promise, not sit in a later section"
    assert 'console_action = "delete"' in intro and 'console_action = "report"' in intro
    assert "no restore brings back" in intro
    # what it says is what the code does
    assert AwsSettings.model_fields["console_action"].default == "delete"
    assert CredentialKind.CONSOLE_PASSWORD in registry.info("aws").irreversible
    example = (ROOT / "config.example.toml").read_text()
    assert re.search(r'^console_action = "delete"', example, re.M)


def test_readme_control_labels_are_the_ones_findings_carry():
    from sweeper import registry
    from sweeper.config import PolicySettings, ProviderSettings
    from sweeper.model import CredentialKind
    from sweeper.policy import GENERIC_CONTROLS, Thresholds

    text = _readme()
    claim = re.search(r"Every finding carries the controls it satisfies \(([^)]*\)[^)]*)\)", text).group(1)
    generic = [c.strip() for c in claim.split(", ")]
    assert sorted(generic) == sorted(GENERIC_CONTROLS)
    # "every finding": each provider names every generic control for every kind it sweeps
    for name in ("aws", "entra", "google_workspace"):
        info = registry.info(name)
        t = Thresholds.resolve(PolicySettings(), ProviderSettings(), info)
        for kind in info.credential_kinds:
            assert set(GENERIC_CONTROLS) <= set(t.controls_for(kind, 365)), (name, kind)
    aws = registry.info("aws")
    limits = aws.control_limits()
    assert limits == {"CIS AWS v3.0.0 1.12 (45 days)": 45}
    assert "`CIS AWS v3.0.0 1.12 (45 days)`, but only when their threshold T is 45 days or less" in text
    t = Thresholds.resolve(PolicySettings(), ProviderSettings(), aws)
    assert PolicySettings().inactive_days > 45 and "the 90-day default does not satisfy it" in text
    assert PolicySettings().inactive_days == 90
    for kind in aws.credential_kinds:
        assert "CIS AWS v3.0.0 1.12 (45 days)" not in t.controls_for(kind, 90)
        # 1.12 is about IAM users' passwords and keys: no CIS recommendation covers unused roles (#17)
        users = kind in (CredentialKind.CONSOLE_PASSWORD, CredentialKind.ACCESS_KEY)
        assert ("CIS AWS v3.0.0 1.12 (45 days)" in t.controls_for(kind, 45)) is users, kind


def test_readme_ci_claims_match_the_examples():
    text = _readme()
    assert "[docs/ci.md](docs/ci.md)" in text and "roles/iam.serviceAccountTokenCreator" in text
    ci = (ROOT / "docs" / "ci.md").read_text()
    assert ci.startswith("# Running it in CI")
    for heading in ("## Setup per cloud", "## Where the journal lives", "## Restoring from a laptop",
                    "## Getting past a cap"):
        assert heading in ci
    assert "roles/iam.serviceAccountTokenCreator" in ci and "failed to sign JWT" in ci
    github = (ROOT / "examples/github-actions/sweep.yml").read_text()
    gitlab = (ROOT / "examples/gitlab-ci/.gitlab-ci.yml").read_text()
    assert "max_disable:" in github and "MAX_DISABLE" in gitlab
    assert "`max_disable` workflow input" in text and "`MAX_DISABLE` variable" in text
    # the docs' commands are real commands with real options
    commands = get_command(app).commands
    for block in re.findall(r"```sh\n(.*?)```", ci, re.S):
        for line in block.splitlines():
            name, *args = shlex.split(line)[1:]
            options = {o for p in commands[name].params for o in (*p.opts, *p.secondary_opts)}
            assert all(a in options for a in args if a.startswith("-")), line


def test_readme_says_how_to_try_your_own_config():
    text = _readme()
    assert "`python3 dev.py sweeper demo --serve`" in text and "in your current directory" in text
    options = {o for p in get_command(app).commands["demo"].params for o in (*p.opts, *p.secondary_opts)}
    assert {"--serve", "--keep"} <= options
