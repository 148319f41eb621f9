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


def _mail(upn: str) -> str:
    if "#EXT#" not in upn:
        return upn
    alias = upn.split("#EXT#")[0]
    name, _, domain = alias.rpartition("_")
    return f"{name}@{domain}" if name else alias


def user(upn: str, *, id: str | None = None, created: datetime | str | None = None, enabled: bool = True,
         user_type: str = "Member", success: Any = _ABSENT, interactive: Any = _ABSENT,
         non_interactive: Any = _ABSENT, synced: bool | None = None, external_state: str | None = None,
         sign_in: bool = True, mail: Any = _ABSENT) -> dict[str, Any]:
    """One Graph user. `sign_in=False` leaves signInActivity out, as Graph does for users who never signed in.
    `mail` defaults to the UPN, or for a guest (alice_contoso.com#EXT#@tenant) its home address.

    Each sign-in field left at its default is absent from signInActivity; None is sent as JSON null.
    """
    out: dict[str, Any] = {
        "id": id or str(uuid.uuid5(uuid.NAMESPACE_DNS, upn)),
        "userPrincipalName": upn,
        "mail": _mail(upn) if mail is _ABSENT else mail,
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
                # as Graph's examples show it: no request id ("") beside a "no such sign-in" time
                rid = None if value is None else "" if value in ("", NO_SIGN_IN) else str(uuid.uuid4())
                activity[key.replace("DateTime", "RequestId")] = rid
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


def demo(as_of: datetime | None = None, *, token: str = "demo-token") -> dict[str, Any]:
    """A small tenant showing each case the sweeper handles, dated back from `as_of`."""
    now = as_of or datetime(2025, 6, 1, tzinfo=timezone.utc)

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    users = [
        user("alice@contoso.test", id="u-alice", created=ago(900), success=ago(2), interactive=ago(2)),
        user("bob@contoso.test", id="u-bob", created=ago(900), success=ago(200), interactive=ago(200)),
        user("carol@contoso.test", id="u-carol", created=ago(300), sign_in=False),
        user("dave@contoso.test", id="u-dave", created=ago(1200), success=None, interactive=ago(1), non_interactive=ago(1)),
        user("erin@contoso.test", id="u-erin", created=ago(1500), interactive=datetime(2023, 3, 1, tzinfo=timezone.utc)),
        user("frank@contoso.test", id="u-frank", created=ago(100), success=ago(80)),
        user("globaladmin@contoso.test", id="u-admin", created=ago(1500), success=ago(400)),
        user("svc-sync@contoso.test", id="u-synced", created=ago(1500), success=ago(300), synced=True),
        user("breakglass-1@contoso.test", id="u-bg", created=ago(1500), sign_in=False),
        user("contractor@contoso.test", id="u-contractor", created=ago(700), success=ago(500)),
        user("partner_fabrikam.test#EXT#@contoso.test", id="u-guest", created=ago(400), user_type="Guest",
             external_state="Accepted", success=ago(45)),
        user("invitee_fabrikam.test#EXT#@contoso.test", id="u-invitee", created=ago(60), user_type="Guest",
             external_state="PendingAcceptance", sign_in=False),
        user("leaver@contoso.test", id="u-leaver", created=ago(900), enabled=False, success=ago(365)),
        user("odd@contoso.test", id="u-odd", created=ago(900), success="not-a-date"),
        user("pim-admin@contoso.test", id="u-pim", created=ago(1500), success=ago(250)),
    ]
    return {"tenant_id": "8f0c6b1e-1d2a-4f6b-9c3e-0a1b2c3d4e5f", "token": token, "licensed": True, "users": users,
            "role_assignments": [{"principalId": "u-admin", "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10"}],
            "role_eligibilities": [{"principalId": "u-pim", "roleDefinitionId": "62e90394-69f5-4237-9190-012177145e10",
                                    "startDateTime": stamp(ago(700))}],
            "groups": {"g-contractors": ["g-vendors"], "g-vendors": ["u-contractor"]}}
