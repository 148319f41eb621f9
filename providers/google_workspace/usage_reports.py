"""The emulator's Reports API: `userUsageReport.get` (GET /admin/reports/v1/usage/users/{userKey}/dates/{date})
in the real shapes, seeded from the scenario's "reports" section. Kept apart from the Directory state.

    "reports": {
      "available_through": "2025-05-30",  # later dates answer 400 "Data for dates later than ... is not
                                          # yet available" (default: yesterday in UTC-8, by the real clock)
      "lag_days": 2,                      # the newest dates up to it answer DATA_NOT_AVAILABLE warnings
                                          # and no entries, as the real API does while a day is processed
      "partial": {"2025-05-28": ["gmail"]},  # PARTIAL_DATA_AVAILABLE warnings for those applications
      "forbidden": false,                 # every report request answers 403 (the scope not granted)
      "tokens": ["..."],                  # the tokens that may read reports (default: every valid one)
      "style": "names",                   # "names": the guides' names with datetimeValue;
                                          # "timestamps": the appendices' timestamp_* names with intValue
      "int_unit": "ms",                   # the unit of those integers: s, ms or us
      "users": {"<id or email>": {"imap": "2025-05-20T08:00:00.000Z", "sso": ..., "drive": ...}},
      "raw": {"<id or email>": [parameter objects, served as given]}
    }

Each user's "login" is its lastLoginTime unless `users` says otherwise. A report dated D shows a use
made by the end of D (UTC-8); the Gmail uses only when within the 30 days before, else the epoch.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

from providers.emulator import Request, Response
from providers.google_workspace import wire

PATH = re.compile(r"/admin/reports/v1/usage/users/([^/]+)/dates/([^/]+)")
PREFIX = "/admin/reports/v1/usage/users/"
PACIFIC = timezone(timedelta(hours=-8))
EPOCH_TEXT = "1970-01-01T00:00:00.000Z"
# source -> (application, the guides' name, the appendices' name)
NAMES = {
    "login": ("accounts", "accounts:last_login_time", "accounts:timestamp_last_login"),
    "sso": ("accounts", "accounts:last_sso_time", "accounts:timestamp_last_sso"),
    "imap": ("gmail", "gmail:last_imap_time", "gmail:timestamp_last_imap"),
    "pop": ("gmail", "gmail:last_pop_time", "gmail:timestamp_last_pop"),
    "webmail": ("gmail", "gmail:last_webmail_time", "gmail:timestamp_last_webmail"),
    "drive": ("drive", "drive:last_active_usage_time", "drive:timestamp_last_active_usage"),
}
APPS = ("accounts", "gmail", "drive")
UNITS = {"s": 1, "ms": 1000, "us": 1_000_000}


_PARSED: dict[str, datetime] = {}  # the same few stamps are read for every page: parsed once


def _when(text: str) -> datetime:
    when = _PARSED.get(text)
    if when is None:
        when = _PARSED[text] = datetime.fromisoformat(text).astimezone(timezone.utc)
        if len(_PARSED) > 1_000_000:
            _PARSED.clear()
    return when


def _day_end(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PACIFIC).astimezone(timezone.utc) + timedelta(days=1)


_STAMPS: dict[datetime, str] = {}


def _stamp(when: datetime) -> str:
    text = _STAMPS.get(when)
    if text is None:
        text = _STAMPS[when] = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if len(_STAMPS) > 1_000_000:
            _STAMPS.clear()
    return text


class UsageReports:
    """The reports' settings and per-user uses; `serve()` answers one request."""

    def __init__(self, section: dict[str, Any] | None, users: list[Any], customer_id: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        s = dict(section or {})
        through = s.get("available_through")
        self.available_through = (date.fromisoformat(through) if through
                                  else clock().astimezone(PACIFIC).date() - timedelta(days=1))
        self.lag_days = int(s.get("lag_days", 0))
        self.partial = {date.fromisoformat(d): list(apps) for d, apps in (s.get("partial") or {}).items()}
        self.forbidden = bool(s.get("forbidden", False))
        self.tokens: set[str] | None = set(s["tokens"]) if "tokens" in s else None
        self.style = s.get("style", "names")
        self.int_unit = UNITS[s.get("int_unit", "ms")]
        self.users = users  # the Directory's list: renames and new users show in later reports
        self.customer_id = customer_id
        self.uses = {str(k).lower(): dict(v) for k, v in (s.get("users") or {}).items()}
        self.raw = {str(k).lower(): list(v) for k, v in (s.get("raw") or {}).items()}
        self.pages: Counter[str] = Counter()  # 200 answers by report date
        self.foreign_customer: str | None = None  # set by the emulator's report faults
        self._people: list[dict[str, Any]] = []
        self._seen = -1

    def may_read(self, token: str | None) -> bool:
        return not self.forbidden and (self.tokens is None or token in self.tokens)

    # --- one request ------------------------------------------------------------------------------

    def serve(self, req: Request) -> Response | dict[str, Any]:
        """An error answer, or the payload of a 200 answer (the emulator applies `fields` and faults)."""
        m = PATH.fullmatch(req.path)
        if m is None or req.method != "GET":
            return wire.error(404, "notFound", f"Method not found: {req.method} {req.path}")
        key, text = m.group(1), m.group(2)
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return wire.error(400, "invalid", f"Invalid value '{text}'. Values must match the following regular "
                              "expression: '(\\d){4}-(\\d){2}-(\\d){2}'")
        customer = req.arg("customerId")
        if customer and customer not in ("my_customer", self.customer_id):
            return wire.error(403, "forbidden")
        if day > self.available_through:
            return wire.error(400, "invalid", f"Data for dates later than {self.available_through} is not yet "
                              "available. Please check back later")
        try:
            size = int(req.arg("maxResults", "1000") or "")
        except ValueError:
            size = 0
        if not 1 <= size <= 1000:
            return wire.error(400, "invalid", f"Invalid value '{req.arg('maxResults')}'. Values must be within the "
                              "range: [1, 1000]")
        wanted = {n.strip() for n in (req.arg("parameters") or "").split(",") if n.strip()}
        payload: dict[str, Any] = {"kind": "admin#reports#usageReports", "etag": f'"{uuid.uuid4().hex}"'}
        if day > self.available_through - timedelta(days=self.lag_days):
            payload["warnings"] = [_warning("DATA_NOT_AVAILABLE", day, app) for app in APPS]
            self.pages[text] += 1
            return payload
        if day in self.partial:
            payload["warnings"] = [_warning("PARTIAL_DATA_AVAILABLE", day, app) for app in self.partial[day]]
        people = self._everyone() if key == "all" else [
            u for u in self._everyone() if key.lower() in (u["id"].lower(), str(u.get("primaryEmail", "")).lower())]
        try:
            start = _untoken(token, text) if (token := req.arg("pageToken")) else 0
        except ValueError:
            return wire.error(400, "invalid", "Invalid value for pageToken")
        chunk = people[start:start + size]
        if chunk:
            end = _day_end(day)
            payload["usageReports"] = [self._entry(u, day, end, wanted) for u in chunk]
        if start + size < len(people):
            payload["nextPageToken"] = _token(start + size, text)
        self.pages[text] += 1
        return payload

    def _everyone(self) -> list[dict[str, Any]]:
        """The users a report covers (those with an id), listed once per size of the Directory."""
        if self._seen != len(self.users):
            self._people = [u for u in self.users if isinstance(u, dict) and isinstance(u.get("id"), str)]
            self._seen = len(self.users)
        return self._people

    def _entry(self, user: dict[str, Any], day: date, end: datetime, wanted: set[str]) -> dict[str, Any]:
        email = str(user.get("primaryEmail", ""))
        entity = {"customerId": self.foreign_customer or user.get("customerId") or self.customer_id,
                  "userEmail": email, "profileId": user["id"], "type": "USER"}
        raw = self.raw.get(user["id"].lower(), self.raw.get(email.lower()))
        params = list(raw) if raw is not None else self._params(user, end, wanted)
        entry: dict[str, Any] = {"kind": "admin#reports#usageReport", "date": day.isoformat(), "entity": entity}
        if params:
            entry["parameters"] = params
        return entry

    def _params(self, user: dict[str, Any], end: datetime, wanted: set[str]) -> list[dict[str, Any]]:
        uses = {**self.uses.get(str(user.get("primaryEmail", "")).lower(), {}), **self.uses.get(user["id"].lower(), {})}
        login = user.get("lastLoginTime")
        if "login" not in uses and isinstance(login, str):
            uses["login"] = login
        out = []
        for source, (app, old, new) in NAMES.items():
            name = new if self.style == "timestamps" else old
            if wanted and name not in wanted or source not in uses:
                continue
            try:
                when: datetime | None = _when(uses[source])
            except (TypeError, ValueError):
                continue
            if when is None or when > end:
                continue  # a use after the report's day is not in it
            if app == "gmail" and when <= end - timedelta(days=30):
                when = None  # the Gmail signals look back 30 days only
            out.append(self._value(name, when))
        return out

    def _value(self, name: str, when: datetime | None) -> dict[str, Any]:
        if self.style == "timestamps":
            number = 0 if when is None else int(when.timestamp()) * self.int_unit
            return {"name": name, "intValue": str(number)}
        text = EPOCH_TEXT if when is None else _stamp(when)
        return {"name": name, "datetimeValue": text}


def _warning(code: str, day: date, app: str) -> dict[str, Any]:
    if code == "DATA_NOT_AVAILABLE":
        message = f'Sorry, data for date {day} for application "{app}" is not available.'
    else:
        message = (f'Data for date {day} for application "{app}" is not available right now, please try again '
                   "after a few hours.")
    return {"code": code, "message": message, "data": [{"key": "application", "value": app}]}


def _token(offset: int, day: str) -> str:
    raw = json.dumps({"o": offset, "d": day}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str, day: str) -> int:
    raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    if raw.get("d") != day or not isinstance(raw.get("o"), int) or raw["o"] < 0:
        raise ValueError(token)
    offset: int = raw["o"]
    return offset
