"""The Directory emulator's deleted users: `users.delete`, `users.list(showDeleted=true)`,
`users.undelete`, and the purge once Google's 20-day window has passed.

As the API does: a deleted user leaves the ordinary listing and is listed, with its `deletionTime`,
only by `showDeleted=true`; `users.get`, `users.update` and `users.delete` addressing it answer 412
conditionNotMet "User is deleted."; `users.undelete` takes the user's immutable id (not an
address), puts it back as it was deleted (a suspended user stays suspended) into the org unit named
in the body (`/` when none), and answers 204. Its errors: a user not among the deleted ones
(purged, never deleted, or an address given) 412 conditionNotMet (the message is not documented;
GAM tells it by that reason and "undelete" in the message), an org unit that does not exist 400
invalid, an address taken meanwhile by another user 409 duplicate. A deleted user is purged only
when asked (`purge`): a test needs no waiting, and the emulator's clock (`clock`, which stamps
`deletionTime`) is the test's to set. Scenario keys: "deleted_users" (raw users, each with its
`deletionTime`), "org_units" (paths; without it any path is accepted).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from providers.emulator import Response
from providers.google_workspace import wire

if TYPE_CHECKING:
    from providers.google_workspace.emulator import Directory

UNDELETE_DAYS = 20  # how long Google keeps a deleted user
DELETED = ("conditionNotMet", "User is deleted.")
NOT_DELETED = ("conditionNotMet", "Invalid undelete request: no deleted user with this id")


def _stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse(text: object) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


class Recycle:
    """Deleted users of one emulated customer, in the order they were deleted."""

    def __init__(self, directory: Directory, scenario: dict[str, Any]) -> None:
        self.directory = directory
        self.users: list[dict[str, Any]] = [dict(u) for u in scenario.get("deleted_users", ()) if isinstance(u, dict)]
        units = scenario.get("org_units")
        self.org_units: set[str] | None = None if units is None else {"/", *map(str, units)}
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self.deletes: Counter[str] = Counter()  # users.delete that took effect, per user id
        self.undeletes: Counter[str] = Counter()  # users.undelete that took effect, per user id

    def find(self, key: str) -> dict[str, Any] | None:
        """The most recently deleted user with this id or primary email (callers hold the lock)."""
        low = key.lower()
        user: dict[str, Any]
        for user in reversed(self.users):
            if low in (str(user.get("id", "")).lower(), str(user.get("primaryEmail", "")).lower()):
                return user
        return None

    def is_deleted(self, key: str) -> bool:
        with self.directory.lock:
            return self.directory.find(key) is None and self.find(key) is not None

    def delete(self, key: str) -> Response:
        d = self.directory
        with d.lock:
            user = d.find(key)
            if user is None:
                return wire.error(412, *DELETED) if self.find(key) is not None else wire.error(404, "notFound")
            if d.delegated_admin and user.get("isAdmin") is True:
                return wire.error(403, "forbidden")
            del d.users[next(i for i, u in enumerate(d.users) if u is user)]  # in place: the reports share the list
            for k in [k for k, u in d.by_key.items() if u is user]:
                del d.by_key[k]
            user["deletionTime"] = _stamp(self.clock())
            self.users.append(user)
            self.deletes[str(user.get("id"))] += 1
        return Response(204, b"", {})

    def undelete(self, key: str, body: bytes) -> Response:
        d = self.directory
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return wire.error(400, "parseError", "Parse Error")
        unit = request.get("orgUnitPath", "/") if isinstance(request, dict) else None
        if not isinstance(unit, str) or not unit.startswith("/"):
            return wire.error(400, "invalid", "Invalid Input: orgUnitPath")
        with d.lock:
            user = next((u for u in reversed(self.users) if str(u.get("id")) == key), None)
            if user is None:
                return wire.error(412, *NOT_DELETED)
            if self.org_units is not None and unit not in self.org_units:
                return wire.error(400, "invalid", "Invalid Input: INVALID_OU_ID")
            email = str(user.get("primaryEmail", "")).lower()
            if email and d.find(email) is not None:
                return wire.error(409, "duplicate", "Entity already exists.")
            self.users.remove(user)
            user.pop("deletionTime", None)
            user["orgUnitPath"] = unit
            d.users.append(user)
            for k in (user.get("id"), user.get("primaryEmail")):
                if isinstance(k, str):
                    d.by_key[k.lower()] = user
            self.undeletes[key] += 1
        return Response(204, b"", {})

    def purge(self, key: str | None = None, now: datetime | None = None) -> list[str]:
        """Purge the deleted user with this id or address, or else every one deleted more than
        UNDELETE_DAYS before `now` (the clock by default); the ids purged."""
        with self.directory.lock:
            if key is not None:
                found = self.find(key)
                gone = [found] if found is not None else []
            else:
                limit = (now or self.clock()) - timedelta(days=UNDELETE_DAYS)
                gone = [u for u in self.users if (at := _parse(u.get("deletionTime"))) is not None and at < limit]
            self.users = [u for u in self.users if all(u is not g for g in gone)]
        return [str(u.get("id")) for u in gone]
