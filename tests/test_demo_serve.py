"""`sweeper demo --serve` keeps the emulators up for your own commands; `dev.py sweeper` runs where you are
(#20 item 7)."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWEEPER_", "AZURE_", "GOOGLE_"))}
    env.update(TMPDIR=str(tmp), COLUMNS="200")
    return env


def test_demo_serve_answers_a_plan_until_interrupted(tmp_path):
    keep, work = tmp_path / "kept", tmp_path / "work"
    work.mkdir()
    server = subprocess.Popen([sys.executable, "-m", "sweeper", "demo", "--serve", "--keep", str(keep)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(tmp_path),
                              cwd=work)
    try:
        printed: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            printed.append(line)
            if line.startswith("# emulators ready"):
                break
        text = "".join(printed)
        assert printed and printed[-1].startswith("# emulators ready"), text + server.stderr.read()
        # the printed config is the one written, and names every provider
        config = keep / "sweeper.toml"
        body = config.read_text()
        assert body.strip() in text
        for provider in ("aws", "entra", "google_workspace"):
            assert f"[providers.{provider}]" in body, provider
        exports = dict(shlex.split(line[len("export "):])[0].split("=", 1) for line in printed
                       if line.startswith("export "))
        assert exports["SWEEPER_CONFIG"] == str(config) and any(k.startswith("AWS_") for k in exports)
        # another shell: the printed environment, any directory, the user's own command
        env = {**clean_env(tmp_path), **exports}
        plan = subprocess.run([sys.executable, "-m", "sweeper", "plan", "-f", "json", "--exit-code"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert plan.returncode == 10, plan.stdout + plan.stderr
        assert '"aws"' in plan.stdout and '"entra"' in plan.stdout and '"google_workspace"' in plan.stdout
        # the first cap, as docs/ci.md says to get past it: a capped plan (exit 3), then an apply of that
        # plan with --max-disable, which disables what the plan named
        capped = tmp_path / "capped.toml"
        capped.write_text(body.replace("max_disable = 25", "max_disable = 1")
                          .replace("max_disable_percent = 35", "max_disable_percent = 100"))
        plan = subprocess.run([sys.executable, "-m", "sweeper", "plan", "-c", str(capped), "--exit-code",
                               "--plan-out", "plan.json", "-f", "json", "-o", "report.json"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert plan.returncode == 3 and (tmp_path / "plan.json").exists(), plan.stdout + plan.stderr
        apply = subprocess.run([sys.executable, "-m", "sweeper", "apply", "plan.json", "-c", str(capped), "--yes",
                                "--max-disable", "50", "-f", "json", "-o", "applied.json"],
                               capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert apply.returncode == 0, apply.stdout + apply.stderr
        summary = json.loads((tmp_path / "applied.json").read_text())["summary"]
        assert summary["disabled"] == 17 and summary["failed"] == 0
        assert server.poll() is None, "the emulators stopped after the commands"
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
        assert server.returncode == 0, out + err
        assert "emulators stopped" in out and "Traceback" not in out + err
        assert (keep / "sweeper.db").exists()  # the journal is in the kept folder, not the caller's
        assert not (work / "sweeper.db").exists() and not (tmp_path / "sweeper.db").exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_dev_py_sweeper_keeps_the_callers_directory(tmp_path):
    """dev.py, copied beside a stand-in virtualenv whose python prints where it runs and with what."""
    root, elsewhere = tmp_path / "checkout", tmp_path / "mine"
    (root / ".venv" / "bin").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(ROOT / "dev.py", root / "dev.py")
    (root / "pyproject.toml").write_text("[project]\nname = 'stand-in'\n")
    digest = hashlib.sha256((root / "pyproject.toml").read_bytes() + b"test").hexdigest()
    (root / ".venv" / ".installed").write_text(digest)
    python = root / ".venv" / "bin" / "python"
    python.write_text("#!/bin/sh\npwd\necho \"$@\"\n")
    python.chmod(0o755)
    r = subprocess.run([sys.executable, str(root / "dev.py"), "sweeper", "plan", "-c", "sweeper.toml"],
                       capture_output=True, text=True, cwd=elsewhere, timeout=60)
    assert r.returncode == 0, r.stderr
    where, args = r.stdout.splitlines()
    assert Path(where).resolve() == elsewhere.resolve() and args == "-m sweeper plan -c sweeper.toml"
    # demo and test still run in the checkout
    r = subprocess.run([sys.executable, str(root / "dev.py"), "demo"], capture_output=True, text=True,
                       cwd=elsewhere, timeout=60)
    assert Path(r.stdout.splitlines()[0]).resolve() == root.resolve()
