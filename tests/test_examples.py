"""The example CI jobs parse, and every `sweeper` command they run exists with those options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from sweeper.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [ROOT / "examples/github-actions/sweep.yml", ROOT / "examples/gitlab-ci/.gitlab-ci.yml"]


def shell_lines(node) -> list[str]:
    """Every `run:` / `script:` string in a workflow, split into lines."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script", "before_script") and isinstance(value, (str, list)):
                for item in value if isinstance(value, list) else [value]:
                    out += str(item).splitlines()
            else:
                out += shell_lines(value)
    elif isinstance(node, list):
        for item in node:
            out += shell_lines(item)
    return out


def sweeper_invocations(lines: list[str]) -> list[list[str]]:
    calls = []
    for line in lines:
        for m in re.finditer(r"(?:^|[\s;&|(])sweeper\s+([^;&|>]*)", line):
            calls.append(shlex.split(m.group(1)))
    return calls


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_commands_exist_with_their_options(path):
    doc = yaml.safe_load(path.read_text())
    calls = sweeper_invocations(shell_lines(doc))
    assert calls, f"{path.name} runs no sweeper command"
    commands = get_command(app).commands
    seen = set()
    for argv in calls:
        name, *args = argv
        assert name in commands, f"{path.name}: sweeper {name} does not exist"
        seen.add(name)
        options = {opt for p in commands[name].params for opt in (*p.opts, *p.secondary_opts)}
        for token in args:
            if token.startswith("-"):
                assert token.split("=")[0] in options, f"{path.name}: sweeper {name} has no option {token}"
    assert {"plan", "apply"} <= seen
    plan_args = next(a for a in calls if a[0] == "plan" and "--exit-code" in a)
    assert plan_args[plan_args.index("-f") + 1] == "json" and "-o" in plan_args


def test_github_workflow_shape():
    doc = yaml.safe_load(EXAMPLES[0].read_text())
    triggers = doc[True] if True in doc else doc["on"]  # YAML 1.1 reads `on` as a boolean
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    assert doc["permissions"]["id-token"] == "write"
    steps = doc["jobs"]["plan"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("aws-actions/configure-aws-credentials") for u in uses)
    google = next(s for s in steps if s.get("uses", "").startswith("google-github-actions/auth"))
    assert google["with"]["token_format"] == "access_token" and google["with"]["access_token_subject"]
    assert doc["jobs"]["apply"]["environment"] and doc["jobs"]["apply"]["needs"] == "plan"


def test_gitlab_pipeline_shape():
    doc = yaml.safe_load(EXAMPLES[1].read_text())
    assert doc["apply"]["when"] == "manual" and doc["apply"]["environment"]["name"]
    assert {"AWS_ID_TOKEN", "AZURE_ID_TOKEN", "GOOGLE_ID_TOKEN"} <= set(doc[".sweeper"]["id_tokens"])
