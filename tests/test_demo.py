"""`sweeper demo` on the real emulators, in a subprocess as a newcomer would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def demo(*args: str, tmp) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWEEPER_"))}
    env.update(TMPDIR=str(tmp), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "sweeper", "demo", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_demo_apply_sweeps_every_provider_restores_and_leaves_nothing(tmp_path):
    r = demo("--apply", tmp=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "Traceback" not in out + r.stderr
    for provider in ("aws", "entra", "google_workspace"):
        assert f"| {provider} |" in out, provider  # the Markdown plan after restore names each provider
    assert "17 disabled, 0 failed" in out
    assert "cannot restore" in out and "restored" in out
    # after the restore the 10 restored credentials are in their re-enable grace period (warned, not
    # disabled again); the 3 deleted console passwords stay gone
    assert "**0 to disable**" in out and out.count("restored by run") >= 10 and "grace until" in out
    page = next(Path(line.rsplit(": ", 1)[1]) for line in out.splitlines() if "HTML report" in line)
    assert page.read_text().startswith("<!DOCTYPE html>") and "Microsoft Entra ID" in page.read_text()
    assert list(tmp_path.iterdir()) == [page.parent]  # the temporary folder is gone; the report is kept


def test_demo_keep_leaves_config_and_journal(tmp_path):
    keep = tmp_path / "kept"
    r = demo("--keep", str(keep), tmp=tmp_path / "t" if (tmp_path / "t").mkdir() is None else tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (keep / "sweeper.toml").exists() and (keep / "sweeper.db").exists() and (keep / "report.html").exists()
    assert f"HTML report (open it in a browser): {keep / 'report.html'}" in r.stdout
    assert "17 to disable" in r.stdout and "Next: sweeper demo --apply" in r.stdout.replace("\n", " ")
