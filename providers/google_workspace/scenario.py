"""Scenarios for the Directory emulator: raw user objects, and synthetic tenants of any size.

The demo tenant is built in providers/demo.py from `user(...)`.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

NEVER = "1970-01-01T00:00:00.000Z"  # what the API puts in lastLoginTime for never signed in


def stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def user(uid: str, email: str, *, created: datetime, last_login: datetime | None = None,
         customer_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """A raw Directory user object as users.list returns it. Without `customer_id` the emulator
    serves it with its scenario's customer id."""
    local = email.split("@")[0]
    raw = {"id": uid, "primaryEmail": email,
           "name": {"givenName": local, "familyName": "User", "fullName": f"{local} User"},
           "isAdmin": False, "isDelegatedAdmin": False,
           "lastLoginTime": stamp(last_login) if last_login else NEVER,
           "creationTime": stamp(created), "suspended": False, "archived": False, "orgUnitPath": "/"}
    if customer_id is not None:
        raw["customerId"] = customer_id
    return {**raw, **extra}


def synthetic(n: int, *, now: datetime, seed: int = 0, customer_id: str = "C0synth1",
              domain: str = "synth.example", token: str = "synthetic-token") -> dict[str, Any]:
    """`n` users with a realistic mix: mostly active, some stale, some never signed in, a few
    suspended, admins and service accounts. Deterministic for a given seed."""
    rng = random.Random(seed)
    users = []
    for i in range(n):
        created = now - timedelta(days=rng.randint(1, 2000))
        roll = rng.random()
        last = None if roll < 0.08 else now - timedelta(days=rng.randint(0, 30 if roll < 0.8 else 900))
        ou = "/Service Accounts" if rng.random() < 0.02 else rng.choice(["/", "/Sales", "/Engineering"])
        users.append(user(f"1{i:020d}", f"user{i:06d}@{domain}", created=created,
                          last_login=max(last, created) if last else None, customer_id=customer_id,
                          suspended=rng.random() < 0.05, isAdmin=rng.random() < 0.005, orgUnitPath=ou))
    return {"customer_id": customer_id, "domain": domain, "token": token, "delegated_admin": False,
            "users": users}


# -- leavers (#25): suspended and archived users with their admin audit events, deleted users -----------

def admin_event(email: str, when: datetime, *, name: str = "SUSPEND_USER", actor: str = "admin@example.com",
                customer_id: str | None = None) -> dict[str, Any]:
    """An admin audit activity as activities.list(applicationName=admin) returns it: the event `name`
    (SUSPEND_USER, ARCHIVE_USER, UNSUSPEND_USER, ...) done to the user `email` at `when`; for the
    scenario's "audit": {"activities": [...]}."""
    qualifier = uuid.uuid5(uuid.NAMESPACE_URL, f"{email}|{stamp(when)}|{name}").int % 10**19  # stable per event
    ident: dict[str, Any] = {"time": stamp(when), "uniqueQualifier": str(qualifier), "applicationName": "admin"}
    if customer_id:
        ident["customerId"] = customer_id
    return {"kind": "admin#reports#activity", "id": ident, "etag": '"emulated"',
            "actor": {"callerType": "USER", "email": actor, "profileId": "100000000000000000001"},
            "ipAddress": "203.0.113.7",
            "events": [{"type": "USER_SETTINGS", "name": name, "parameters": [{"name": "USER_EMAIL", "value": email}]}]}


def suspended_user(uid: str, email: str, *, created: datetime, suspended_at: datetime, archived: bool = False,
                   **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A user suspended (or, `archived`, archived) by an admin at `suspended_at`, and its audit activity
    (SUSPEND_USER or ARCHIVE_USER): the user goes in "users", the activity in "audit"."""
    fields = {"archived": True} if archived else {"suspended": True, "suspensionReason": "ADMIN"}
    raw = user(uid, email, created=created, **{**fields, **extra})
    return raw, admin_event(email, suspended_at, name="ARCHIVE_USER" if archived else "SUSPEND_USER")


def deleted_user(uid: str, email: str, *, created: datetime, deleted: datetime, **extra: Any) -> dict[str, Any]:
    """A user Google keeps as deleted, with its deletionTime: for the scenario's "deleted_users"."""
    return {**user(uid, email, created=created, **extra), "deletionTime": stamp(deleted)}
