"""The example CI jobs parse, every `sweeper` command they run exists with those options, and only the
apply job holds writer identities (supply chain, masks and the step summary: tests/test_supply_chain.py)."""

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


# --- reader and writer identities (#18 item 3): only the apply job, in its protected environment, can write

ADMIN_SCOPE = re.compile(r"https://www\.googleapis\.com/auth/admin\.[\w.]+")


def step_with(steps: list[dict], action: str) -> dict:
    return next(s for s in steps if s.get("uses", "").lower().startswith(action))


def test_github_plan_job_has_reader_identities_and_apply_the_writers():
    doc = yaml.safe_load(EXAMPLES[0].read_text())
    plan, apply = doc["jobs"]["plan"], doc["jobs"]["apply"]
    assert "environment" not in plan and apply["environment"] == "identity-sweeper-apply"
    identities = {}
    for name, job in (("plan", plan), ("apply", apply)):
        steps = job["steps"]
        aws = step_with(steps, "aws-actions/configure-aws-credentials")["with"]["role-to-assume"]
        entra = step_with(steps, "azure/login")["with"]["client-id"]
        google = step_with(steps, "google-github-actions/auth")["with"]
        identities[name] = (aws, entra, google["service_account"], google["access_token_scopes"])
    (p_aws, p_entra, p_sa, p_scopes), (a_aws, a_entra, a_sa, a_scopes) = identities["plan"], identities["apply"]
    assert p_aws.endswith("-read") and a_aws.endswith("-write")
    assert "READER" in p_entra and "WRITER" in a_entra
    assert p_sa.startswith("identity-sweeper-read@") and a_sa.startswith("identity-sweeper-write@")
    assert ADMIN_SCOPE.findall(p_scopes) and all(s.endswith(".readonly") for s in ADMIN_SCOPE.findall(p_scopes))
    assert any(not s.endswith(".readonly") for s in ADMIN_SCOPE.findall(a_scopes))


def test_gitlab_plan_job_mints_only_the_readonly_google_scope():
    doc = yaml.safe_load(EXAMPLES[1].read_text())
    shared = "\n".join(shell_lines(doc[".sweeper"]) + [str(doc["variables"]), str(doc[".sweeper"].get("variables"))])
    plan, apply = doc["plan"], doc["apply"]
    # the shared part names no admin scope (the job's GOOGLE_SCOPE does), and the plan's is read-only
    assert ADMIN_SCOPE.findall(shared) == [] and "os.environ[\"GOOGLE_SCOPE\"]" in shared
    plan_scopes, apply_scopes = plan["variables"]["GOOGLE_SCOPE"].split(), apply["variables"]["GOOGLE_SCOPE"].split()
    assert plan_scopes and all(ADMIN_SCOPE.fullmatch(s) and s.endswith(".readonly") for s in plan_scopes)
    assert any(not s.endswith(".readonly") for s in apply_scopes)
    assert all(s.endswith(".readonly") for s in ADMIN_SCOPE.findall(str(plan)))
    for key in ("AWS_ROLE_ARN", "AZURE_CLIENT_ID", "GOOGLE_SERVICE_ACCOUNT"):
        assert plan["variables"][key] != apply["variables"][key], f"{key}: the plan job has the writer's identity"
    assert plan["variables"]["AWS_ROLE_ARN"].endswith("-read") and "environment" not in plan


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_examples_say_which_identity_needs_which_permissions(path):
    """The comments name `sweeper permissions -p NAME --for plan|apply` per provider; each names a real
    command with real options."""
    comments = " ".join(line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line)
    named = re.findall(r"`(sweeper permissions [^`]+)`", comments)
    want = {f"-p {p} --for {m}" for p in ("aws", "entra", "google_workspace") for m in ("plan", "apply")}
    assert want <= {" ".join(shlex.split(c)[2:]) for c in named}, f"{path.name}: {sorted(named)}"
    options = {opt for p in get_command(app).commands["permissions"].params for opt in (*p.opts, *p.secondary_opts)}
    for call in named:
        assert all(a in options for a in shlex.split(call)[2:] if a.startswith("-")), call
