"""The test side of the reliability suite: the emulator process, configs, and `sweeper` processes.

Everything here talks to real processes: `serve.py` in its own process, `sweeper` started as
`python -m sweeper` with only the environment a user would give it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from providers.emulator import toml_value
from tests.reliability import world

ROOT = Path(__file__).resolve().parents[2]
EXTRA = {"aws": {"exclude_tags": {"sweeper:exempt": "true"}}}  # beyond what each emulator's config() gives
# The adapters' default retry budgets (sized for real throttling), but a short first credential
# report poll so that tests do not wait 2 s for moto's report.
RETRIES = {"aws": {"report_poll_seconds": 0.2}, "entra": {}, "google_workspace": {}}
# Small budgets, so that an unavailable provider gives up within seconds, not minutes.
SMALL_RETRIES = {"aws": {"max_attempts": 3, "report_timeout_seconds": 8},
                 "entra": {"max_retries": 2, "retry_max_wait": 5},
                 "google_workspace": {"num_retries": 2, "retry_budget_seconds": 10, "timeout_seconds": 5}}


class Served:
    """`python -m tests.reliability.serve` and its control endpoint."""

    def __init__(self) -> None:
        self.log = tempfile.NamedTemporaryFile("w+", prefix="sweeper-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.serve"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=clean_env())
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process did not start")
        self.url = json.loads(line)["control"]

    def call(self, path: str, payload: Any = None) -> Any:
        data = json.dumps(payload or {}).encode()
        req = urllib.request.Request(self.url + path, data, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"control {path}: {err.read().decode()}") from None

    def reset(self, scenario: dict[str, Any]) -> "Endpoints":
        return Endpoints(self, self.call("/reset", scenario))

    def faults(self, **spec: dict[str, Any]) -> None:
        self.call("/faults", spec)

    def hold(self, **spec: dict[str, Any]) -> None:
        self.call("/hold", spec)

    def state(self) -> dict[str, Any]:
        return self.call("/state")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


@dataclass
class Endpoints:
    served: Served
    raw: dict[str, Any]

    def env(self, entra_token: str = world.ENTRA_TOKEN, google_token: str = world.GOOGLE_TOKEN,
            **extra: str) -> dict[str, str]:
        """A `sweeper` process's environment: what the emulators ask for (AWS keys of the emulator's
        caller, the two tokens), with the tokens as given."""
        config = self.raw["config"]
        tokens = {config["entra"]["token_env"]: entra_token, config["google_workspace"]["token_env"]: google_token}
        return clean_env(**{**self.raw["env"], **tokens, **extra})

    def config(self, folder: Path, name: str = "sweeper.toml", journal: str = "sweeper.db",
               policy: str = "", journal_keys: dict[str, Any] | None = None, **sections: dict[str, Any]) -> Path:
        """Write a config for these emulators. `sections` adds or overrides keys per provider;
        a provider given as None is left out."""
        base = {provider: {**keys, **EXTRA.get(provider, {}), **RETRIES.get(provider, {})}
                for provider, keys in self.raw["config"].items()}
        lines = ["[policy]", "inactive_days = 90", "warn_days = 14", "max_disable = 25",
                 "max_disable_percent = 50", 'exclude = ["breakglass-*"]', policy, "",
                 "[journal]", f'path = "{journal}"',
                 *(f"{k} = {toml_value(v)}" for k, v in (journal_keys or {}).items()), ""]
        for provider, keys in base.items():
            if provider in sections and sections[provider] is None:
                continue
            keys = {**keys, **sections.get(provider, {})}
            lines.append(f"[providers.{provider}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in keys.items()]
            lines.append("")
        path = folder / name
        path.write_text("\n".join(lines))
        return path


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any cloud credentials or sweeper settings."""
    drop = ("AWS_", "SWEEPER_", "AZURE_", "GOOGLE_", "GITHUB_STEP_SUMMARY", "CLOUDSDK_", "MSI_", "IDENTITY_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(COLUMNS="200", PYTHONUNBUFFERED="1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env


@dataclass(repr=False)
class Ran:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        out = self.stdout
        try:  # a JSON report: only what explains a failure
            rep = json.loads(self.stdout)
            out = json.dumps({"providers": rep["providers"], "findings": [
                f for f in rep["findings"] if f["action"] == "failed" or f["decision"] == "unknown"]}, indent=1)
        except (ValueError, KeyError, TypeError):
            pass
        return f"exit {self.code} after {self.seconds:.1f} s\n--- stdout\n{out}\n--- stderr\n{self.stderr}"


def sweeper(*args: Any, env: dict[str, str], timeout: float = 120, cwd: Path | None = None) -> Ran:
    started = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "sweeper", *map(str, args)], capture_output=True, text=True,
                       env=env, timeout=timeout, cwd=cwd or ROOT)
    return Ran(p.returncode, p.stdout, p.stderr, time.monotonic() - started)


def start(*args: Any, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sweeper", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd or ROOT)


def journal_rows(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Read the journal the way an operator would (a separate sqlite3 connection, read-only)."""
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return []
    finally:
        db.close()


def findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Findings without what differs between runs of the same world (run ids, action state)."""
    keep = ("provider", "scope", "identity", "identity_id", "credential", "kind", "decision", "reason",
            "last_used", "created", "days_inactive", "threshold_days")
    return sorted(({k: f.get(k) for k in keep} for f in report["findings"]),
                  key=lambda f: (f["provider"], f["identity"], f["credential"]))


def disable_set(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["provider"], f["identity"], f["credential"]) for f in report["findings"]
            if f["decision"] == "disable"}


def written(state: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Applied disable writes by provider and login: {provider: {login or key: count}}."""
    aws_owner = {k["id"]: user for user, keys in state["aws"]["keys"].items() for k in keys}
    out: dict[str, dict[str, int]] = {"aws": {}, "entra": {}, "google_workspace": {}}
    for key, n in state["aws"]["writes"].items():
        key_id, status = key.split(" ")
        if status == "Inactive":
            out["aws"][f"{aws_owner.get(key_id)}/{key_id}"] = n
    for key, n in state["entra"]["writes"].items():
        uid, value = key.split(" ")
        if value == "False":
            out["entra"][state["entra"]["users"][uid]["login"]] = n
    for key, n in state["google"]["writes"].items():
        uid, value = key.split(" ")
        if value == "True":
            out["google_workspace"][state["google"]["users"][uid]["login"]] = n
    return out


def disabled_now(state: dict[str, Any]) -> dict[str, set[str]]:
    """Which credentials the emulators hold disabled now (AWS: user/key id of inactive keys)."""
    return {
        "aws": {f"{user}/{k['id']}" for user, keys in state["aws"]["keys"].items() for k in keys
                if k["status"] == "Inactive"},
        "entra": {u["login"] for u in state["entra"]["users"].values() if u["enabled"] is False},
        "google_workspace": {u["login"] for u in state["google"]["users"].values() if u["suspended"] is True},
    }


def record(test: str, **figures: Any) -> None:
    """Append measured figures to $SWEEPER_RELIABILITY_LOG (JSON lines) for docs/reliability.md."""
    path = os.environ.get("SWEEPER_RELIABILITY_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"test": test, **figures}, default=str) + "\n")


def provider_status(report: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["status"] for p in report["providers"]}
