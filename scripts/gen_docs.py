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

TITLES = {"aws": "AWS IAM", "entra": "Microsoft Entra ID", "google_workspace": "Google Workspace"}
INTRO = {
    "aws": "The sweeper reads one credential report and the authorization details of each account, "
           "then re-reads only the candidates live. Attach this policy to the identity it runs as (and, "
           "for an organization, to the role it assumes in each member account).",
    "entra": "The sweeper reads users with their sign-in activity through Microsoft Graph and disables "
             "them with `$batch` requests. Grant these application permissions and admin consent.",
    "google_workspace": "The sweeper reads users through the Admin SDK Directory API and suspends them "
                        "with batch requests, as an admin through domain-wide delegation.",
}


def page(name: str) -> str:
    text = registry.adapter_class(name).permissions().rstrip("\n")
    fence = "json" if text.lstrip().startswith("{") else "text"
    return (f"# {TITLES[name]}: permissions\n\n{INTRO[name]}\n\n"
            f"Generated from `sweeper permissions -p {name}` by `scripts/gen_docs.py`; do not edit by hand.\n\n"
            f"```{fence}\n{text}\n```\n")


def main() -> int:
    for name in TITLES:
        (ROOT / "docs" / f"{name}.md").write_text(page(name), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
