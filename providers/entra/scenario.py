"""Emulator scenarios: raw Graph user objects as Graph returns them, for tests, benchmarks and the demo.

`user(...)` builds one user the way `GET /users?$select=...,signInActivity` shows it; `generate(n)` a
tenant of n users with a repeatable mix of active, stale, never-used, guest and disabled accounts.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

NO_SIGN_IN = "0001-01-01T00:00:00Z"  # what Graph shows for "no such sign-in"
_ABSENT = object()


def stamp(when: Any) -> Any:
    """A datetime in Graph's form; anything else (None, strings, deliberate junk) as given."""
    if not isinstance(when, datetime):
        return when
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(upn: str, *, id: str | None = None, created: datetime | str | None = None, enabled: bool = True,
         user_type: str = "Member", success: Any = _ABSENT, interactive: Any = _ABSENT,
         non_interactive: Any = _ABSENT, synced: bool | None = None, external_state: str | None = None,
         sign_in: bool = True) -> dict[str, Any]:
    """One Graph user. `sign_in=False` leaves signInActivity out, as Graph does for users who never signed in.

    Each sign-in field left at its default is absent from signInActivity; None is sent as JSON null.
    """
    out: dict[str, Any] = {
        "id": id or str(uuid.uuid5(uuid.NAMESPACE_DNS, upn)),
        "userPrincipalName": upn,
        "displayName": upn.split("@")[0].replace(".", " ").title(),
        "accountEnabled": enabled,
        "userType": user_type,
        "createdDateTime": stamp(created) if created is not None else None,
        "onPremisesSyncEnabled": synced,
        "externalUserState": external_state,
    }
    if sign_in:
        activity: dict[str, Any] = {}
        for key, value in (("lastSignInDateTime", interactive), ("lastNonInteractiveSignInDateTime", non_interactive),
                           ("lastSuccessfulSignInDateTime", success)):
            if value is not _ABSENT:
                activity[key] = stamp(value)
                activity[key.replace("DateTime", "RequestId")] = str(uuid.uuid4()) if value else None
        out["signInActivity"] = activity
    return out


def generate(n: int, *, seed: int = 0, as_of: datetime | None = None, tenant_id: str | None = None,
             token: str = "emulator-token", licensed: bool = True) -> dict[str, Any]:
    """A tenant of `n` users; the mix is fixed by `seed`. Ages are measured back from `as_of`."""
    rng = random.Random(seed)
    now = as_of or datetime(2025, 6, 1, tzinfo=timezone.utc)
    users = []
    for i in range(n):
        created = now - timedelta(days=rng.randint(30, 2000), seconds=rng.randint(0, 86399))
        upn = f"user{i:06d}@example.test"
        uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        roll = rng.random()
        if roll < 0.6:  # active
            last = now - timedelta(days=rng.randint(0, 60), seconds=rng.randint(0, 86399))
            users.append(user(upn, id=uid, created=created, success=last, interactive=last, non_interactive=last))
        elif roll < 0.8:  # stale
            last = max(created, now - timedelta(days=rng.randint(91, 900)))
            users.append(user(upn, id=uid, created=created, success=last, interactive=last))
        elif roll < 0.88:  # never signed in
            users.append(user(upn, id=uid, created=created, sign_in=False))
        elif roll < 0.95:  # guest
            guest = f"guest{i:06d}_partner.test#EXT#@example.test"
            last = now - timedelta(days=rng.randint(0, 200))
            users.append(user(guest, id=uid, created=created, user_type="Guest", success=last,
                              external_state="Accepted"))
        else:  # disabled already
            users.append(user(upn, id=uid, created=created, enabled=False, success=NO_SIGN_IN))
    return {"tenant_id": tenant_id or str(uuid.UUID(int=rng.getrandbits(128), version=4)), "token": token,
            "licensed": licensed, "users": users, "role_assignments": [], "groups": {}}
