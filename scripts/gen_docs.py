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

def _block(text: str) -> str:
    text = text.rstrip("\n")
    fence = "json" if text.lstrip().startswith("{") else "text"
    return f"```{fence}\n{text}\n```\n"


def page(name: str) -> str:
    """docs/<name>.md. An adapter with a `permission_pages()` classmethod gets one section per policy it
    lists, (heading, what it is for, mode, settings); any other adapter one block, its `permissions()`."""
    info = registry.info(name)
    adapter = registry.adapter_class(name)
    head = (f"# {info.display}: permissions\n\n{info.docs_intro}\n\n"
            f"Generated from `sweeper permissions -p {name}` by `scripts/gen_docs.py`; do not edit by hand.\n")
    sections = getattr(adapter, "permission_pages", None)
    if sections is None:
        return f"{head}\n{_block(adapter.permissions())}"
    parts = [head]
    for heading, about, mode, settings in sections():
        text = registry.permissions(name, mode, settings)
        parts.append(f"\n## {heading}\n\n{about.strip()}\n\n{_block(text)}")
    return "".join(parts)


def documented() -> list[str]:
    """Every registered provider that wants a permissions page (not the tests' in-process fakes)."""
    return [i.name for i in registry.infos() if i.in_docs]


def main() -> int:
    for name in documented():
        (ROOT / "docs" / f"{name}.md").write_text(page(name), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
