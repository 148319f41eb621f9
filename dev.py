#!/usr/bin/env python3
"""Developer entry point that needs nothing but Python 3.11: `python3 dev.py demo|test|bench|sweeper|lock`.

It creates `.venv` beside this file on first use (and again when pyproject.toml changes), installs the
project with its test extras into it, then runs the command inside it. Nothing is installed globally.
`lock` writes requirements.lock, the hash-pinned runtime dependencies CI jobs install (README, Install).
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


def ensure_chromium() -> None:
    """Debian's chromium, for the HTML report's browser tests, when it is missing and can be had: as
    root with apt-get (`apt-get update` first when the package lists are stale). Otherwise, or when
    the install fails, those tests skip and say why."""
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return
    if not shutil.which("apt-get") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    print("dev.py: installing chromium (apt-get) for the HTML report's browser tests", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    try:
        if subprocess.run(install, env=env, stdout=subprocess.DEVNULL, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=True, timeout=600)
            subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as err:
        print(f"dev.py: warning: could not install chromium ({err}); the browser tests will skip", file=sys.stderr)


LOCK_TARGET = "CPython 3.11 on Linux x86_64"  # what the CI examples run (setup-python 3.11, python:3.11-slim)


def lock_name(extras: list[str]) -> str:
    """requirements.lock for the runtime dependencies; requirements-EXTRA[-EXTRA].lock with extras."""
    return "requirements.lock" if not extras else f"requirements-{'-'.join(sorted(extras))}.lock"


def lock(args: list[str]) -> int:
    """`python3 dev.py lock [EXTRA]... [pip-compile options]`: pin every runtime dependency (and those
    of the named extras, e.g. gcs or azure) with the sha256 of each release file, plus setuptools, the
    build backend, so that `pip install --require-hashes -r requirements.lock` and then
    `pip install --no-deps --no-build-isolation --no-index .` fetch nothing unpinned.

    pip-tools is installed into .venv on first use. Pins already in the lock are kept unless
    `--upgrade` (or `--upgrade-package NAME`) is given. The resolution is for this interpreter, so run
    it where the jobs run: the CI examples use CPython 3.11 on Linux x86_64.
    """
    extras = [a for a in args if not a.startswith("-")]
    options = [a for a in args if a.startswith("-")]
    if not PY.exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    have = subprocess.run([str(PY), "-c", "import piptools"], capture_output=True).returncode == 0
    if not have:
        print("dev.py: installing pip-tools into .venv", file=sys.stderr)
        subprocess.run([str(PY), "-m", "pip", "install", "-q", "--disable-pip-version-check", "pip-tools>=7.4"],
                       check=True)
    here = subprocess.run([str(PY), "-c", "import platform, sys; print(sys.implementation.name, "
                                          "'%d.%d' % sys.version_info[:2], platform.system(), platform.machine())"],
                          capture_output=True, text=True, check=True).stdout.split()
    if here != ["cpython", "3.11", "Linux", "x86_64"]:
        print(f"dev.py: warning: resolving on {' '.join(here)}, not {LOCK_TARGET} as the CI examples run; "
              "platform-specific dependencies may differ there", file=sys.stderr)
    output = lock_name(extras)
    command = ["python3", "dev.py", "lock", *args]
    env = {**os.environ, "CUSTOM_COMPILE_COMMAND": " ".join(command)}
    cmd = [str(PY), "-m", "piptools", "compile", "--quiet", "--generate-hashes", "--allow-unsafe",
           "--build-deps-for", "wheel", "--strip-extras", "--no-emit-index-url", "--no-emit-find-links",
           "--no-emit-trusted-host", "--output-file", output,
           *(f"--extra={name}" for name in extras), *options, "pyproject.toml"]
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code == 0:
        print(f"dev.py: wrote {output}; review the diff and commit it", file=sys.stderr)
    return code


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "bench", "sweeper", "lock"}:
        print("usage: python3 dev.py demo [args] | test [pytest args] | bench [args] | sweeper ARGS | "
              "lock [EXTRA]... [--upgrade]", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "lock":
        return lock(rest)
    # the test extra holds the html extra's matplotlib too: the demo's HTML report has its charts
    ensure_venv("test,bench" if command == "bench" else "test")
    if command == "test":
        ensure_azurite()
        ensure_chromium()
    if command == "demo":
        cmd = [str(PY), "-m", "sweeper", "demo", *rest]
    elif command == "test":
        cmd = [str(PY), "-m", "pytest", *rest]
    elif command == "bench":
        cmd = [str(PY), str(ROOT / "bench" / "run.py"), *rest]
    else:  # `sweeper` runs where the caller is, so ./sweeper.toml and relative paths are theirs
        return subprocess.call([str(PY), "-m", "sweeper", *rest])
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
