"""design.md §1: the core imports no cloud SDK and no adapter; `sweeper --help` stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "sweeper"
FORBIDDEN = ("providers", "boto3", "botocore", "moto", "msgraph", "azure", "kiota", "googleapiclient", "google",
             "httplib2")
COMPOSITION_ROOTS = {"cli.py", "demo.py"}  # allowed to reach adapters (lazily, through the registry)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_modules_import_no_sdk_and_no_adapter():
    offenders = {}
    for path in CORE.rglob("*.py"):  # sweeper/kit/ included
        if path.name in COMPOSITION_ROOTS:
            continue
        bad = {m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN}
        if bad:
            offenders[path.name] = bad
    assert offenders == {}


def test_help_imports_no_cloud_sdk():
    code = ("import sys; from sweeper.cli import app; from typer.testing import CliRunner; "
            "CliRunner().invoke(app, ['--help']); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & set(%r)))" % (FORBIDDEN,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
