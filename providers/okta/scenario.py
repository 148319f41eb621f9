"""Okta user records in the API's shape, for the emulator's scenarios and the tests."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

ORG_ID = "00o1sweeperdemo0x7"


def user_id(login: str) -> str:
    """A stable 20-character Okta-style user id (00u...) for a login."""
    return "00u" + hashlib.sha256(login.encode()).hexdigest()[:17]


def stamp(when: datetime | str | None) -> str | None:
    """Okta's timestamps: UTC with milliseconds and a Z (2024-05-01T12:00:00.000Z); text passes through."""
    if when is None or isinstance(when, str):
        return when
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def user(login: str, *, created: datetime | str | None, last_login: datetime | str | None = None,
         status: str = "ACTIVE", activated: datetime | str | None = None, first: str = "", last: str = "",
         uid: str | None = None, **extra: Any) -> dict[str, Any]:
    """One user as GET /api/v1/users answers it (without `_links`, which the emulator adds)."""
    first = first or login.split("@")[0].split(".")[0].capitalize()
    last = last or (login.split("@")[0].split(".")[1].capitalize() if "." in login.split("@")[0] else "User")
    activated = activated if activated is not None else (None if status == "STAGED" else created)
    changed = last_login if status in ("SUSPENDED", "LOCKED_OUT") and last_login else activated
    return {"id": uid or user_id(login), "status": status, "created": stamp(created), "activated": stamp(activated),
            "statusChanged": stamp(changed), "lastLogin": stamp(last_login), "lastUpdated": stamp(changed or created),
            "passwordChanged": stamp(activated), "type": {"id": "oty1sweeperdefault0x7"},
            "profile": {"firstName": first, "lastName": last, "mobilePhone": None, "secondEmail": None,
                        "login": login, "email": login},
            "credentials": {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}}, **extra}
