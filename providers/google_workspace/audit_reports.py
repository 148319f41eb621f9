"""The emulator's admin audit log (#25): Reports API `activities.list`
(GET /admin/reports/v1/activity/users/{userKey}/applications/{applicationName}) in the real shapes.

Seeded from the scenario's "audit" section:

    "audit": {
      "activities": [activity, ...],  # as activities.list returns them (`scenario.suspend_event` builds one)
      "tokens": ["..."],               # the tokens whose scopes include admin.reports.audit.readonly
                                       # (default: every valid token); any other is answered 403
      "forbidden": false               # every request answers 403 (the scope not granted)
    }

Served newest first (by `id.time`), as the API lists them: only `applicationName`'s activities,
userKey `all` or an actor's email, `eventName` (the activities with such an event), `startTime` and
`endTime` (RFC 3339; anything else 400), `maxResults` 1-1000 (default 1000), `nextPageToken` paging,
and `customerId` (another customer's id: 403). An empty page leaves `items` out, as the API does.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from providers.emulator import Request, Response
from providers.google_workspace import wire
from providers.google_workspace.mapping import parse_time as _when
from providers.google_workspace.group_members import _token, _untoken  # the same opaque offset tokens

PREFIX = "/admin/reports/v1/activity/users/"
PATH = re.compile(r"/admin/reports/v1/activity/users/([^/]+)/applications/([^/]+)")
MAX_PAGE = 1000
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


class AuditLog:
    """The activities of one emulated customer."""

    def __init__(self, section: Any, customer_id: str) -> None:
        s = section if isinstance(section, dict) else {}
        self.activities: list[dict[str, Any]] = [dict(a) for a in s.get("activities", ()) if isinstance(a, dict)]
        self.tokens: set[str] | None = set(s["tokens"]) if "tokens" in s else None
        self.forbidden = bool(s.get("forbidden", False))
        self.customer_id = customer_id

    def may_read(self, token: str | None) -> bool:
        return not self.forbidden and (self.tokens is None or token in self.tokens)

    def serve(self, req: Request, token: str | None) -> Response | dict[str, Any]:
        """An error answer, or the payload of a 200 answer (the emulator applies `fields` and faults)."""
        match = PATH.fullmatch(req.path)
        if match is None or req.method != "GET":
            return wire.error(404, "notFound", f"Method not found: {req.method} {req.path}")
        if not self.may_read(token):
            return wire.error(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
        user_key, app = unquote(match.group(1)), unquote(match.group(2))
        customer = req.arg("customerId")
        if customer and customer not in ("my_customer", self.customer_id):
            return wire.error(403, "forbidden", "Caller does not have access to the customers reporting data.")
        bounds = {}
        for name in ("startTime", "endTime"):
            text = req.arg(name)
            if text:
                bounds[name] = _when(text)
                if bounds[name] is None:
                    return wire.error(400, "invalid", f"Invalid value '{text}' for {name}")
        size = wire.page_size(req, MAX_PAGE)
        if isinstance(size, Response):
            return size
        event = req.arg("eventName")
        rows = [a for a in self.activities if self._selected(a, app, user_key, event, bounds)]
        rows.sort(key=lambda a: _when(a["id"]["time"]) or EARLIEST, reverse=True)
        query = json.dumps([user_key, app, event, req.arg("startTime"), req.arg("endTime")])
        page_token = req.arg("pageToken")
        start = _untoken(page_token, query) if page_token else 0
        if start is None:
            return wire.error(400, "invalid", "Invalid value for pageToken")
        payload: dict[str, Any] = {"kind": "admin#reports#activities", "etag": f'"{uuid.uuid4().hex}"'}
        if rows[start:start + size]:
            payload["items"] = rows[start:start + size]
        if start + size < len(rows):
            payload["nextPageToken"] = _token(start + size, query)
        return payload

    @staticmethod
    def _selected(activity: dict[str, Any], app: str, user_key: str, event: str | None,
                  bounds: dict[str, datetime | None]) -> bool:
        ident = activity.get("id")
        ident = ident if isinstance(ident, dict) else {}
        when = _when(ident.get("time"))
        if ident.get("applicationName", "admin") != app or when is None:
            return False
        start, end = bounds.get("startTime"), bounds.get("endTime")
        if start is not None and when < start or end is not None and when > end:
            return False
        actor = activity.get("actor")
        actor = actor if isinstance(actor, dict) else {}
        if user_key != "all" and str(actor.get("email", "")).lower() != user_key.lower():
            return False
        events = activity.get("events")
        events = events if isinstance(events, list) else []
        return event is None or any(isinstance(e, dict) and e.get("name") == event for e in events)
