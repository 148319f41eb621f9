"""Documentation that must not drift: permission pages, README commands, help texts."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from typer.main import get_command

from sweeper.cli import app

ROOT = Path(__file__).resolve().parent.parent


def _gen():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", [pytest.param("aws", marks=pytest.mark.aws),
                                  pytest.param("entra", marks=pytest.mark.entra),
                                  pytest.param("google_workspace", marks=pytest.mark.google_workspace)])
def test_permission_pages_match_sweeper_permissions(name):
    gen = _gen()
    page = (ROOT / "docs" / f"{name}.md").read_text()
    assert page == gen.page(name), f"docs/{name}.md is stale: run scripts/gen_docs.py"


def test_readme_quick_start_is_two_commands():
    text = (ROOT / "README.md").read_text()
    assert text.splitlines()[2] == "## Quick start"
    block = re.search(r"## Quick start\s+```\w*\n(.*?)```", text, re.S).group(1)
    assert block.strip().splitlines() == ["python3 dev.py demo", "python3 dev.py test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 dev.py test" in ci


def test_readme_sweeper_commands_exist_with_their_options():
    """Every `sweeper ...` line in the README's shell blocks names a real command and real options."""
    text = (ROOT / "README.md").read_text()
    commands = get_command(app).commands
    checked = 0
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if not line.startswith("sweeper "):
                continue
            name, *args = shlex.split(line)[1:]
            assert name in commands, line
            options = {o for p in commands[name].params for o in (*p.opts, *p.secondary_opts)}
            assert all(a in options for a in args if a.startswith("-")), line
            checked += 1
    assert checked >= 5
