"""Supply chain and CI (#18 item 5): the CI examples install a hash-pinned build from the reviewed checkout,
pin every action by commit SHA, mask tokens before they could be printed, and publish only counts in the
step summary (`--summary counts`); the identity names stay in the report files."""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from typer.testing import CliRunner

from sweeper.cli import app
from tests import fakes
from tests.fakes import FakeUser
from tests.test_examples import EXAMPLES, shell_lines

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
GITHUB, GITLAB = EXAMPLES


# --- the lock file -------------------------------------------------------------------------------------

LOCK_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)"
                       r"(?P<hashes>(?:\s+--hash=sha256:[0-9a-f]{64})+)$")


def lock_entries(text: str) -> dict[str, str]:
    """{canonical name: version} of a `pip-compile --generate-hashes` file; any line that is not a pinned,
    hashed requirement (an option, a URL, an editable, a bare name) fails."""
    entries: dict[str, str] = {}
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        m = LOCK_LINE.match(line)
        assert m, f"requirements.lock: not a pinned requirement with --hash=sha256: {line[:120]!r}"
        name = canonicalize_name(m["name"])
        assert name not in entries, f"requirements.lock: {name} pinned twice"
        entries[name] = m["version"]
    return entries


def test_lock_file_pins_every_runtime_dependency_with_hashes():
    text = LOCK.read_text()
    assert "python3 dev.py lock" in text.split("\n\n", 1)[0], "requirements.lock is not the one dev.py lock writes"
    locked = lock_entries(text)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [Requirement(r) for r in project["project"]["dependencies"]]
    # the build backend too: the package is installed from the checkout with --no-build-isolation
    wanted += [Requirement(r) for r in project["build-system"]["requires"]]
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} (pyproject.toml) is not in requirements.lock: run python3 dev.py lock"
        assert req.specifier.contains(Version(locked[name]), prereleases=True), \
            f"requirements.lock pins {name}=={locked[name]}, outside pyproject.toml's {req}: run python3 dev.py lock"
    assert canonicalize_name("identity-sweeper") not in locked, "the project itself is installed from the checkout"
    # Nothing a locked package needs is missing (checked for the packages installed here at the same version:
    # their metadata is the locked release's). pip --require-hashes would refuse a missing one in CI.
    env = {**default_environment(), "extra": ""}
    for dist in importlib.metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if locked.get(name) != dist.version:
            continue
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate(env):
                assert canonicalize_name(req.name) in locked, f"{name} needs {req.name}, not in requirements.lock"


def test_the_lock_parser_refuses_what_pip_would_install_unchecked():
    good = "boto3==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via identity-sweeper (pyproject.toml)\n"
    assert lock_entries(good) == {"boto3": "1.0"}
    for bad in ("boto3==1.0\n", "boto3>=1.0 --hash=sha256:" + "a" * 64 + "\n", "--index-url https://x.example/simple\n",
                "-e .\n", "identity-sweeper @ https://x.example/pkg.whl\n", "boto3==1.0 --hash=md5:abc\n"):
        with pytest.raises(AssertionError):
            lock_entries(bad)


# --- how the examples (and the README) install ---------------------------------------------------------

PIP = re.compile(r"(?:^|[\s;&|(])(?:python3?\s+-m\s+)?pip3?\s+install\s+([^;&|#]*)")


def pip_installs(lines: list[str]) -> list[list[str]]:
    return [shlex.split(m.group(1)) for line in lines for m in PIP.finditer(line)]


def install_kind(args: list[str]) -> str:
    """'lock' (every dependency from the lock, hash-checked) or 'checkout' (the reviewed source, nothing
    fetched); anything else, a name from an index above all, fails."""
    positional = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "-r")]
    if "-r" in args:
        target = args[args.index("-r") + 1]
        assert target == "requirements.lock" and (ROOT / target).exists(), f"pip install -r {target}: not the lock"
        assert "--require-hashes" in args, f"pip install {shlex.join(args)}: without --require-hashes"
        assert not positional, f"pip install {shlex.join(args)}: installs {positional} besides the lock"
        return "lock"
    assert positional == ["."], f"pip install {shlex.join(args)}: only the lock and this checkout may be installed"
    for flag in ("--no-deps", "--no-index", "--no-build-isolation"):
        assert flag in args, f"pip install {shlex.join(args)}: without {flag}, pip may fetch unpinned packages"
    return "checkout"


def test_install_kind_refuses_a_name_from_an_index():
    assert install_kind(["--require-hashes", "-r", "requirements.lock"]) == "lock"
    assert install_kind(["--no-deps", "--no-build-isolation", "--no-index", "."]) == "checkout"
    for bad in (["identity-sweeper"], ["identity-sweeper[gcs]"], ["-r", "requirements.lock"],
                ["--no-deps", "."], ["--require-hashes", "-r", "requirements.lock", "identity-sweeper"]):
        with pytest.raises(AssertionError):
            install_kind(bad)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_examples_install_the_lock_then_the_checkout(path):
    doc = yaml.safe_load(path.read_text())
    installs = pip_installs(shell_lines(doc))
    kinds = [install_kind(args) for args in installs]
    assert kinds and kinds[0::2] == ["lock"] * len(kinds[0::2]) and kinds[1::2] == ["checkout"] * len(kinds[1::2]) \
        and len(kinds) % 2 == 0, f"{path.name}: each install is the lock, then the checkout: {kinds}"
    assert not re.search(r"pip3?\s+install\s+['\"]?identity-sweeper", path.read_text())


def test_readme_installs_the_same_way():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    kinds = [install_kind(args) for args in pip_installs([b for block in blocks for b in block.splitlines()])]
    assert {"lock", "checkout"} <= set(kinds)
    assert not any(re.search(r"pip3?\s+install\s+['\"]?identity-sweeper", block) for block in blocks)
    install = re.search(r"^## Install\n(.*?)^## ", text, re.S | re.M)
    assert install and "--require-hashes" in install.group(1) and "python3 dev.py lock" in install.group(1)


# --- actions pinned by commit SHA ----------------------------------------------------------------------

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)\s*(?P<comment>#.*)?$")


def uses_lines(text: str) -> list[re.Match[str]]:
    return [m for m in map(USES.match, text.splitlines()) if m]


def all_uses(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "uses"] + [u for v in node.values() for u in all_uses(v)]
    if isinstance(node, list):
        return [u for v in node for u in all_uses(v)]
    return []


def test_every_action_is_pinned_to_a_commit_sha_with_its_release():
    text = GITHUB.read_text()
    found = uses_lines(text)
    assert len(found) == len(all_uses(yaml.safe_load(text))) >= 6, "every `uses:` is on a line of its own"
    pins: dict[str, set[tuple[str, str]]] = {}
    for m in found:
        ref, comment = m["ref"], (m["comment"] or "")
        action, _, sha = ref.partition("@")
        assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?", action), f"uses: {ref}: not a repository action"
        assert re.fullmatch(r"[0-9a-f]{40}", sha), f"uses: {ref}: pin it to a full commit SHA, not a tag or branch"
        assert re.fullmatch(r"#\s*v\d+\.\d+\.\d+", comment.strip()), f"uses: {ref}: name its release (# vX.Y.Z)"
        pins.setdefault(action.lower(), set()).add((sha, comment.strip()))
    assert all(len(p) == 1 for p in pins.values()), f"one action, two pins: {pins}"
    assert uses_lines("      - uses: actions/checkout@v4\n")[0]["ref"] == "actions/checkout@v4"  # the old form is seen


def test_gitlab_image_is_pinned_by_digest_or_says_how():
    text = GITLAB.read_text()
    images = re.findall(r"^\s*image:\s*(\S+)", text, re.M)
    assert images
    for image in images:
        if "@" in image:
            assert re.fullmatch(r"[^@]+@sha256:[0-9a-f]{64}", image), image
        else:
            assert "imagetools inspect" in text and f"{image}@sha256:" in text, \
                f"{image}: pin it by digest, or say why not and how"


# --- tokens masked -------------------------------------------------------------------------------------

SECRETISH = re.compile(r"TOKEN|SECRET|PASSWORD|CREDENTIAL", re.I)
ASSIGN = re.compile(r"^(?:export\s+)?([A-Za-z_]\w*)=(.*)$")
MASK = re.compile(r"::add-mask::\$\{?([A-Za-z_]\w*)\}?")
TO_ENV = re.compile(r">>\s*\"?\$\{?GITHUB_ENV\}?\"?")


def unmasked(script: str) -> list[str]:
    """Where a GitHub Actions script captures a token (VAR=$(...)) and does anything before masking it
    (`::add-mask::` is the very next command), or exports one to $GITHUB_ENV unmasked."""
    problems, masked, pending = [], set(), {}
    for line in (raw.strip() for raw in script.splitlines()):
        if not line or line.startswith("#"):
            continue
        mask = MASK.search(line)
        if mask:
            masked.add(mask.group(1))
            pending.pop(mask.group(1), None)
        problems += [f"${var} is not masked by the next command: {line}" for var in pending]
        pending.clear()
        if mask:
            continue
        if TO_ENV.search(line):
            entry = re.search(r"([A-Za-z_]\w*)=(.*?)\"?\s*>>", line)
            name, value = (entry.group(1), entry.group(2)) if entry else ("", line)
            refs = re.findall(r"\$\{?([A-Za-z_]\w*)", value.replace("$(", ""))
            if "$(" in value or "`" in value:
                if SECRETISH.search(name) or SECRETISH.search(value):
                    problems.append(f"a token computed inside the $GITHUB_ENV export cannot be masked first: {line}")
            elif SECRETISH.search(name) or any(SECRETISH.search(r) for r in refs):
                problems += [f"${r} goes to $GITHUB_ENV unmasked: {line}" for r in refs if r not in masked]
            continue
        assign = ASSIGN.match(line)
        if assign and SECRETISH.search(assign.group(1)) and ("$(" in assign.group(2) or "`" in assign.group(2)):
            pending[assign.group(1)] = line
    return problems + [f"${v} is never masked: {line}" for v, line in pending.items()]


def github_scripts() -> list[str]:
    doc = yaml.safe_load(GITHUB.read_text())
    return [step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step]


def test_tokens_are_masked_before_anything_could_print_them():
    scripts = github_scripts()
    for script in scripts:
        assert unmasked(script) == [], unmasked(script)
    masks = [m.group(1) for s in scripts for m in MASK.finditer(s)]
    fetched = sum(s.count("SWEEPER_ENTRA_TOKEN=\"$(az account get-access-token") for s in scripts)
    assert fetched >= 2 and masks.count("SWEEPER_ENTRA_TOKEN") == fetched, \
        "every step that fetches a Graph token (notify and plan, apply) masks it"
    # what the examples did before #18 is caught, as are the other unmasked forms
    assert unmasked('echo "SWEEPER_ENTRA_TOKEN=$(az account get-access-token -o tsv)" >> "$GITHUB_ENV"')
    assert unmasked('T="$(az account get-access-token -o tsv)"\necho "SWEEPER_ENTRA_TOKEN=$T" >> "$GITHUB_ENV"')
    assert unmasked('SWEEPER_ENTRA_TOKEN="$(az account get-access-token)"\nexport SWEEPER_ENTRA_TOKEN\n'
                    'echo "::add-mask::$SWEEPER_ENTRA_TOKEN"')
    assert unmasked('TOKEN="$(az account get-access-token)"\necho "::add-mask::$TOKEN"\n'
                    'echo "SWEEPER_ENTRA_TOKEN=$TOKEN" >> "$GITHUB_ENV"') == []


def test_gitlab_scripts_never_print_a_token():
    lines = shell_lines(yaml.safe_load(GITLAB.read_text()))
    assert not any(re.search(r"\bset\s+-\w*x", line) for line in lines), "set -x would print every token"
    for line in lines:
        for m in re.finditer(r"echo\s+\"?\$\{?(\w*TOKEN\w*)", line):
            assert re.search(r"\"?\s*>\s*/", line[m.end():]), f"${m.group(1)} echoed to the job log: {line}"


# --- the step summary: counts, no names ----------------------------------------------------------------

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
AS_OF = "2026-11-21"
LOGINS = ["stale0@example.com", "stale1@example.com", "stale2@example.com", "warned@example.com",
          "breakglass-1@example.com", "root-admin@example.com", "odd@example.com", "gone@example.com",
          *(f"user{n}@example.com" for n in range(20))]
REASON_TEXT = ["super admin", "garbled date", "BreakGlass-"]


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def swept(tmp_path, cloud, monkeypatch):
    for n in range(3):
        cloud.add(FakeUser(f"stale{n}@example.com", ago(200 + n), ago(900)))
    for n in range(20):
        cloud.add(FakeUser(f"user{n}@example.com", ago(n % 30), ago(900)))
    cloud.add(FakeUser("warned@example.com", ago(80), ago(900)))
    cloud.add(FakeUser("breakglass-1@example.com", ago(500), ago(900)))
    cloud.add(FakeUser("root-admin@example.com", ago(500), ago(900), protected_by="super admin"))
    cloud.add(FakeUser("odd@example.com", None, ago(900), activity=fakes.Activity.UNKNOWN, note="garbled date"))
    cloud.add(FakeUser("gone@example.com", ago(500), ago(900), enabled=False))
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text('[policy]\nmax_disable_percent = 50\nexclude = ["BreakGlass-*"]\n[providers.fake]\ncloud = "default"\n')
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return cfg, summary


def sweeper(*args) -> int:
    return CliRunner().invoke(app, [str(a) for a in args]).exit_code


def named(text: str) -> list[str]:
    return [s for s in LOGINS + REASON_TEXT if s.casefold() in text.casefold()]


def test_plan_summary_counts_names_nobody(swept, tmp_path):
    cfg, summary = swept
    report = tmp_path / "report.md"
    assert sweeper("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json", "-o", report, "--summary", "counts") == 0
    text = summary.read_text()
    assert named(text) == []
    assert "**3 to disable**, 1 warn, 1 unknown, 1 protected, 1 excluded, 1 already disabled" in text
    assert "| fake-tenant | ok | 28 | 28 | 3 | 1 | 1 | 1 | 1 |" in text
    assert "stale0@example.com" in report.read_text()  # the names are in the report file
    # the default is counts too; full is the old summary, which names them (so the check above can fail)
    summary.unlink()
    assert sweeper("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json", "-o", report) == 0
    run_id = re.compile(r"Run `[^`]+`")
    assert run_id.sub("Run", summary.read_text()) == run_id.sub("Run", text)
    summary.unlink()
    assert sweeper("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json", "-o", report, "--summary", "full") == 0
    assert {"stale0@example.com", "root-admin@example.com", "super admin", "garbled date"} <= set(named(summary.read_text()))


def test_apply_summary_counts_names_nobody(swept, cloud, tmp_path):
    cfg, summary = swept
    cloud.fail_apply_for.add("stale1@example.com")
    code = sweeper("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json", "-o", tmp_path / "applied.json",
                   "--summary", "counts")
    assert code == 4  # one disable failed
    text = summary.read_text()
    assert named(text) == [] and "403" not in text
    assert "; 2 disabled, 1 failed." in text and "| fake-tenant | ok | 28 | 28 | 3 | 1 | 1 | 1 | 1 | 2 | 1 |" in text
    assert sorted(cloud.calls) == [("disable", "stale0@example.com"), ("disable", "stale2@example.com")]


def test_summary_counts_keeps_scope_messages_out(swept, cloud, tmp_path):
    """A scope's message can quote an identity; counts shows the status, the message stays in the report."""
    cfg, summary = swept
    cloud.fail_listing_after = 5
    assert sweeper("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json", "-o", tmp_path / "r.json") == 4
    text = summary.read_text()
    assert "| fake-tenant | failed | 5 |" in text and "connection dropped" not in text
    assert "connection dropped" in (tmp_path / "r.json").read_text()
    summary.unlink()
    assert sweeper("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json", "--summary", "full") == 4
    assert "connection dropped" in summary.read_text()


def test_github_example_asks_for_counts():
    lines = shell_lines(yaml.safe_load(GITHUB.read_text()))
    runs = [line for line in lines if re.search(r"\bsweeper (plan|apply)\b", line)]
    assert len(runs) == 2 and all("--summary counts" in line for line in runs)
