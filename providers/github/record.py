"""What a removal records in the journal so that `restore` can re-invite as before: the member's role
and teams (with each team role), written into the removal's note, which the journal keeps as that
action's detail, and read back from it when `restore` hands the adapter its journal records.

The note reads as a sentence for people; its last part, after `MARK`, is the same data as compact
JSON for the adapter (a note the adapter did not write, or one an older version wrote, parses as None).
"""

from __future__ import annotations

import json
from typing import Any

MARK = " restore="
ROLES = ("admin", "member")
TEAM_ROLES = ("member", "maintainer")


def render(org: str, role: str, teams: dict[str, str]) -> str:
    listed = ", ".join(f"{slug} ({team_role})" for slug, team_role in sorted(teams.items())) or "none"
    data = json.dumps({"role": role, "teams": dict(sorted(teams.items()))}, separators=(",", ":"))
    return (f"removed from {org} (role {role}; teams: {listed}). GitHub reinstates a former member's access when "
            f"they are invited again within three months; `sweeper restore` re-invites with this role and these "
            f"teams.{MARK}{data}")


def parse(note: str | None) -> tuple[str, dict[str, str]] | None:
    """(role, {team slug: team role}) from a note `render` wrote, else None."""
    if not note or MARK not in note:
        return None
    try:
        data: Any = json.loads(note[note.rindex(MARK) + len(MARK):])
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("role") not in ROLES or not isinstance(data.get("teams"), dict):
        return None
    teams = data["teams"]
    if not all(isinstance(k, str) and v in TEAM_ROLES for k, v in teams.items()):
        return None
    return data["role"], dict(teams)
