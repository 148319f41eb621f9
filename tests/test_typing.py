"""Issue #22: the core type-checks under `mypy --strict`, and so do the stores and providers (with the
relaxations for untyped SDKs in pyproject.toml's [tool.mypy]).

mypy keeps its cache in the venv, so only the first run on a machine is slow (about 15 s).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(sys.prefix) / ".mypy_cache" if sys.prefix != sys.base_prefix else ROOT / ".mypy_cache"


def mypy(*targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"),
                           "--cache-dir", str(CACHE), "--no-color-output", "--no-error-summary", *targets],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("targets", [("sweeper",), ("stores", "providers")], ids=["core", "stores-providers"])
def test_mypy_strict_passes(targets: tuple[str, ...]) -> None:
    done = mypy(*targets)
    assert done.returncode == 0, f"mypy --strict {' '.join(targets)} failed:\n{done.stdout}{done.stderr}"
