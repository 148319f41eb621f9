#!/usr/bin/env python3
"""Developer entry point that needs nothing but Python 3.11: `python3 dev.py demo|test|bench`.

It creates `.venv` beside this file on first use (and again when pyproject.toml changes), installs the
project with its test extras into it, then runs the command inside it. Nothing is installed globally.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no lock around the npm install
    fcntl = None

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".installed"
NPM = VENV / "npm"  # node packages the tests use (Azurite), kept with the venv


def ensure_venv(extras: str = "test") -> None:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text() == digest:
        return
    if not PY.exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"dev.py: installing identity-sweeper[{extras}] into .venv", file=sys.stderr)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-e", f"{ROOT}[{extras}]"], check=True)
    STAMP.write_text(digest)


def ensure_azurite() -> None:
    """Azurite, the Azure Storage emulator, from npm into .venv/npm for the az:// store tests.

    Without npm, or when the install fails, the tests that need it skip and say why. The lock file is
    the one stores/emulator_azurite.py takes for the same install (not imported: it needs the venv).
    """
    npm = shutil.which("npm")
    if (NPM / "node_modules" / ".bin" / "azurite-blob").exists() or npm is None:
        return
    print("dev.py: installing Azurite (npm azurite@3) into .venv/npm", file=sys.stderr)
    NPM.mkdir(parents=True, exist_ok=True)
    try:
        with open(NPM / ".install.lock", "w") as lock:
            if fcntl:
                fcntl.flock(lock, fcntl.LOCK_EX)
            subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM), "azurite@3"],
                           check=True, stdout=subprocess.DEVNULL, timeout=600)
    except (OSError, subprocess.SubprocessError) as err:
        print(f"dev.py: warning: could not install Azurite ({err}); the Azure Blob store tests will skip",
              file=sys.stderr)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "bench", "sweeper"}:
        print("usage: python3 dev.py demo [args] | test [pytest args] | bench [args] | sweeper ARGS",
              file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_venv("test,bench" if command == "bench" else "test")
    if command == "test":
        ensure_azurite()
    if command == "demo":
        cmd = [str(PY), "-m", "sweeper", "demo", *rest]
    elif command == "test":
        cmd = [str(PY), "-m", "pytest", *rest]
    elif command == "bench":
        cmd = [str(PY), str(ROOT / "bench" / "run.py"), *rest]
    else:
        cmd = [str(PY), "-m", "sweeper", *rest]
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
