"""The Directory emulator's groups: members.list (`GET /admin/directory/v1/groups/{groupKey}/members`)
in the real API's shapes, for `[[rules]]` that match on groups (#26).

The scenario's "groups" section: [{"id", "email", "aliases": [...], "members": [member, ...]}], a
member being {"email" or "id"} of a user of the scenario or of another group (or anyone outside,
served as given with type USER), {"type": "CUSTOMER"} (every user of the customer), or {"raw": ...}
(served exactly as given: malformed records). "group_tokens": the tokens whose scopes include the
group scope (default: every valid token); any other token is answered 403, as a token without
admin.directory.group.member.readonly is.

`includeDerivedMembership=true` adds the members of nested groups, depth first, each member once
(a group nested twice, or in a cycle, is expanded once); the nested group itself stays listed, as
type GROUP. Pages of `maxResults` (1-200, default 200) with an offset `nextPageToken`; an unknown
group is 404 "Resource Not Found: groupKey".
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, Callable
from urllib.parse import unquote

from providers.emulator import Request, Response
from providers.google_workspace import wire

GROUPS = "/admin/directory/v1/groups"
MAX_PAGE = 200  # members.list's documented maximum


class Groups:
    """The groups of a scenario, indexed by id, email and alias (case-insensitively)."""

    def __init__(self, scenario: dict[str, Any], find_user: Callable[[str], dict[str, Any] | None],
                 customer_id: str) -> None:
        self.groups: list[dict[str, Any]] = [dict(g) for g in scenario.get("groups", []) if isinstance(g, dict)]
        self.tokens: set[str] | None = set(scenario["group_tokens"]) if "group_tokens" in scenario else None
        self.find_user = find_user
        self.customer_id = customer_id
        self.by_key: dict[str, dict[str, Any]] = {}
        for n, group in enumerate(self.groups):
            group.setdefault("id", f"0{n:07d}grp")
            for key in (group.get("id"), group.get("email"), *group.get("aliases", ())):
                if isinstance(key, str):
                    self.by_key[key.lower()] = group

    def find(self, key: str) -> dict[str, Any] | None:
        return self.by_key.get(key.lower())

    def may_read(self, token: str | None) -> bool:
        return self.tokens is None or token in self.tokens

    # --- members.list ---------------------------------------------------------------------------

    def serve(self, req: Request, token: str | None) -> Response | dict[str, Any]:
        """An error answer, or the payload of a 200 answer (the emulator applies `fields` and faults)."""
        key = req.path[len(GROUPS) + 1:-len("/members")]
        if "/" in key or not key:
            return wire.error(404, "notFound", f"Method not found: {req.method} {req.path}")
        if not self.may_read(token):
            return wire.error(403, "insufficientPermissions")
        group = self.find(unquote(key))
        if group is None:
            return wire.error(404, "notFound", "Resource Not Found: groupKey")
        size = wire.page_size(req, MAX_PAGE)
        if isinstance(size, Response):
            return size
        derived = (req.arg("includeDerivedMembership") or "").lower() == "true"
        roles = {r.strip().upper() for r in (req.arg("roles") or "").split(",") if r.strip()}
        members = [m for m in self.members(group, derived)
                   if not roles or isinstance(m, dict) and m.get("role") in roles]
        bound = f"{group['id']}:{derived}:{','.join(sorted(roles))}"
        page_token = req.arg("pageToken")
        start = _untoken(page_token, bound) if page_token else 0
        if start is None:
            return wire.error(400, "invalid", "Invalid Input: pageToken")
        payload: dict[str, Any] = {"kind": "admin#directory#members", "etag": f'"{uuid.uuid4().hex}"'}
        page = members[start:start + size]
        if page:  # as users.list, an empty page has no `members`
            payload["members"] = page
        if start + size < len(members):
            payload["nextPageToken"] = _token(start + size, bound)
        return payload

    def members(self, group: dict[str, Any], derived: bool) -> list[Any]:
        """The group's member records; with `derived`, nested groups' members too, each once."""
        out: list[Any] = []
        seen: set[str] = set()
        expanded: set[str] = set()

        def walk(g: dict[str, Any]) -> None:
            expanded.add(g["id"])
            for spec in g.get("members", ()):
                record = self.record(spec)
                key = json.dumps(record, sort_keys=True) if "raw" in spec else f"{record.get('type')}:{record.get('id')}"
                if key not in seen:
                    seen.add(key)
                    out.append(record)
                nested = self.find(str(record.get("id", ""))) if isinstance(record, dict) and \
                    record.get("type") == "GROUP" else None
                if derived and nested is not None and nested["id"] not in expanded:
                    walk(nested)

        walk(group)
        return out

    def record(self, spec: dict[str, Any]) -> Any:
        """A member as members.list answers it."""
        if "raw" in spec:
            return spec["raw"]
        base = {"kind": "admin#directory#member", "etag": f'"{uuid.uuid4().hex[:16]}"',
                "role": spec.get("role", "MEMBER")}
        if spec.get("type") == "CUSTOMER":
            return {**base, "id": self.customer_id, "type": "CUSTOMER", "status": "ACTIVE"}
        key = str(spec.get("email") or spec.get("id") or "")
        group = self.find(key)
        if group is not None:
            return {**base, "id": group["id"], "email": group.get("email"), "type": "GROUP", "status": "ACTIVE"}
        user = self.find_user(key)
        if user is not None:
            return {**base, "id": user.get("id"), "email": user.get("primaryEmail"), "type": "USER",
                    "status": "SUSPENDED" if user.get("suspended") else "ACTIVE"}
        return {**base, "id": spec.get("id") or str(uuid.uuid5(uuid.NAMESPACE_URL, key).int % 10**21), "email": spec.get("email"),
                "type": spec.get("type", "USER"), "status": "ACTIVE"}


def _token(offset: int, bound: str) -> str:
    raw = json.dumps({"o": offset, "g": bound}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str, bound: str) -> int | None:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("g") != bound or not isinstance(raw.get("o"), int) or raw["o"] < 0:
        return None
    offset: int = raw["o"]
    return offset
