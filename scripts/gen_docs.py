#!/usr/bin/env python3
"""Write docs/<provider>.md from `sweeper permissions -p <provider>`, so the pages cannot drift.

Run: python3 dev.py sweeper permissions (to see the text) or `.venv/bin/python scripts/gen_docs.py`.
tests/test_docs.py fails when a page differs from what this script would write.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sweeper import registry  # noqa: E402

def page(name: str) -> str:
    info = registry.info(name)
    text = registry.adapter_class(name).permissions().rstrip("\n")
    fence = "json" if text.lstrip().startswith("{") else "text"
    return (f"# {info.display}: permissions\n\n{info.docs_intro}\n\n"
            f"Generated from `sweeper permissions -p {name}` by `scripts/gen_docs.py`; do not edit by hand.\n\n"
            f"```{fence}\n{text}\n```\n")


def documented() -> list[str]:
    """Every registered provider that wants a permissions page (not the tests' in-process fakes)."""
    return [i.name for i in registry.infos() if i.in_docs]


def main() -> int:
    for name in documented():
        (ROOT / "docs" / f"{name}.md").write_text(page(name), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
