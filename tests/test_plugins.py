"""A provider, a journal store and a report renderer from another package: installed (a dist-info
with entry points on the path), found by name, used end to end by a real `sweeper` process, with
no edit to the core. This is what adding Okta or GitHub as a package looks like."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLUGIN = '''
"""A third-party provider, store and renderer for identity-sweeper (a test double of a real package)."""
from datetime import datetime, timezone
from sweeper.config import ProviderSettings
from sweeper.model import (Action, Activity, CheckResult, Credential, CredentialKind, Identity, IdentityKind,
                           Outcome, Principal)
from sweeper.registry import Control, ProviderInfo

PROVIDER = ProviderInfo(name="acme", display="Acme Directory", settings="acme_sweeper:AcmeSettings",
                        adapter="acme_sweeper:AcmeAdapter", install_hint="pip install acme-sweeper",
                        controls={CredentialKind.ACCOUNT: (Control("ACME-7", "Acme Baseline v2"),)},
                        docs_intro="Reads Acme users.")


class AcmeSettings(ProviderSettings):
    org: str = "acme"


class AcmeAdapter:
    name = "acme"
    batch_size = 10
    max_parallel = 1
    listing_is_live = True

    def __init__(self, settings, *, write):
        self.write = write

    def whoami(self):
        return Principal("acme", "bot", "acme bot")

    def scopes(self):
        return ["acme-org"]

    def list_identities(self, scope):
        old = datetime(2020, 1, 1, tzinfo=timezone.utc)
        for login in ("old@acme.test", "new@acme.test"):
            used = old if login.startswith("old") else datetime.now(timezone.utc)
            cred = Credential(CredentialKind.ACCOUNT, login, True, Activity.SEEN, old, used)
            yield Identity("acme", scope, login, login, IdentityKind.MEMBER, True, (cred,), old)

    def refresh(self, ref):
        return None

    def apply(self, action, refs):
        return [Outcome(r, True) for r in refs]

    def check(self):
        return [CheckResult("list users", True)]

    @classmethod
    def permissions(cls):
        return "acme: users.read, users.write"

    def close(self):
        pass


def render_count(result):
    return f"{len(result.findings)} finding(s)\\n"
'''


def _install(tmp: Path) -> dict[str, str]:
    (tmp / "acme_sweeper.py").write_text(textwrap.dedent(PLUGIN))
    dist = tmp / "acme_sweeper-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-sweeper\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[identity_sweeper.providers]\nacme = acme_sweeper:PROVIDER\n\n"
        "[identity_sweeper.renderers]\ncount = acme_sweeper:render_count\n\n"
        "[identity_sweeper.stores]\nacmefs = stores.memory:MemoryStore\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPER_", "GITHUB_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp), str(ROOT)])
    return env


def _sweeper(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sweeper", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def test_a_provider_store_and_renderer_from_another_package(tmp_path: Path) -> None:
    env = _install(tmp_path)
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text('[policy]\nmax_disable_percent = 100\n[providers.acme]\norg = "acme"\n')
    r = _sweeper("plan", "-c", str(cfg), "-f", "json", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    [finding] = out["findings"]
    assert finding["provider"] == "acme" and finding["identity"] == "old@acme.test"
    assert finding["controls"] == ["ACME-7"]
    md = _sweeper("plan", "-c", str(cfg), "-f", "markdown", env=env, cwd=tmp_path)
    assert "Acme Directory" in md.stdout
    assert _sweeper("plan", "-c", str(cfg), "-f", "count", env=env, cwd=tmp_path).stdout == "1 finding(s)\n"
    perms = _sweeper("permissions", "-p", "acme", env=env, cwd=tmp_path)
    assert perms.returncode == 0 and "users.read" in perms.stdout
    assert "acme" in _sweeper("plan", "--help", env=env, cwd=tmp_path).stdout
    # the store plug-in: the scheme is accepted (its bucket does not exist in a fresh process: named)
    bad = _sweeper("history", "-c", str(cfg), "--journal", "acmefs://nobucket/j", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "nobucket" in bad.stderr
