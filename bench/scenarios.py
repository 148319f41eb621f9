"""Benchmark tenants: N identities per provider, exactly one in `stale_every` stale, the rest active.

Active users signed in 0-60 days before NOW, so nothing falls in the warning window and the only
per-identity calls the sweeper makes are the live confirmations of the stale ones. A few of the
rest are guests, already disabled or new and never signed in, so the mapping does real work.
Stale users are every `stale_every`-th one (index 0, stale_every, ...): ceil(n / stale_every) of them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
AS_OF = "2025-06-01"
STALE_DAYS = 200
GRAPH_TOKEN = "bench-graph-token"
GOOGLE_TOKEN = "bench-google-token"
GOOGLE_CUSTOMER = "C0bench01"
MANAGEMENT = "100000000000"


def stale_count(n: int, stale_every: int) -> int:
    return -(-n // stale_every)


def _active_days(i: int) -> int:
    return (i * 7) % 61


def _graph_stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def graph(n: int, stale_every: int = 100) -> dict[str, Any]:
    """A Graph tenant of n users (raw user objects as `GET /users?$select=...,signInActivity` shows them)."""
    users = []
    created = _graph_stamp(NOW - timedelta(days=1000))
    for i in range(n):
        upn = f"user{i:06d}@bench.example"
        uid = str(uuid.UUID(int=i + 1, version=4))
        kind, enabled, last = "Member", True, NOW - timedelta(days=_active_days(i), seconds=i % 86400)
        if i % stale_every == 0:
            last = NOW - timedelta(days=STALE_DAYS)
        elif i % 53 == 1:
            kind, upn = "Guest", f"guest{i:06d}_partner.example#EXT#@bench.example"
        elif i % 59 == 2:
            enabled = False
        stamp = _graph_stamp(last)
        activity = {"lastSignInDateTime": stamp, "lastSignInRequestId": f"r{i}",
                    "lastNonInteractiveSignInDateTime": stamp, "lastNonInteractiveSignInRequestId": f"n{i}",
                    "lastSuccessfulSignInDateTime": stamp, "lastSuccessfulSignInRequestId": f"s{i}"}
        users.append({"id": uid, "userPrincipalName": upn, "displayName": f"User {i}",
                      "accountEnabled": enabled, "userType": kind, "createdDateTime": created,
                      "onPremisesSyncEnabled": None,
                      "externalUserState": "Accepted" if kind == "Guest" else None,
                      "signInActivity": activity})
    return {"tenant_id": "b0b0b0b0-0000-4000-8000-000000000001", "token": GRAPH_TOKEN, "licensed": True,
            "users": users, "role_assignments": [], "groups": {}}


def tenant_id(k: int) -> str:
    """The k-th benchmark tenant's id (bench/tenants.py: many Graph tenants in one sweep)."""
    return f"b0b0b0b0-0000-4000-8000-{k + 1:012d}"


def tenant_name(k: int) -> str:
    """The k-th tenant's instance name in the config: t00, t01, ..."""
    return f"t{k:02d}"


def _google_stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def google(n: int, stale_every: int = 100) -> dict[str, Any]:
    """A Workspace customer of n users (raw Directory user objects) and its usage report.

    The report lags as a real one does: 2025-05-31 is the newest date the API accepts and is still
    being processed, so 2025-05-30 is the newest with data. One active user in four also read mail
    over IMAP an hour after signing in (so the report, not lastLoginTime, gives their last use), one in
    four signed in through SSO; stale users show nothing newer, so the same 1% are stale."""
    users, uses = [], {}
    created = _google_stamp(NOW - timedelta(days=1000))
    for i in range(n):
        last = NOW - timedelta(days=_active_days(i), seconds=i % 86400)
        if i % stale_every == 0:
            last = NOW - timedelta(days=STALE_DAYS)
        local = f"user{i:06d}"
        if i % stale_every and i % 4 == 1:
            uses[f"{local}@bench.example"] = {"imap": _google_stamp(min(last + timedelta(hours=1), NOW))}
        elif i % stale_every and i % 4 == 2:
            uses[f"{local}@bench.example"] = {"sso": _google_stamp(last)}
        users.append({"id": f"1{i:020d}", "primaryEmail": f"{local}@bench.example",
                      "name": {"givenName": local, "familyName": "User", "fullName": f"{local} User"},
                      "isAdmin": False, "isDelegatedAdmin": False, "lastLoginTime": _google_stamp(last),
                      "creationTime": created, "suspended": i % 59 == 2 and i % stale_every != 0,
                      "archived": False, "orgUnitPath": "/Sales" if i % 3 else "/",
                      "customerId": GOOGLE_CUSTOMER})
    return {"customer_id": GOOGLE_CUSTOMER, "domain": "bench.example", "token": GOOGLE_TOKEN,
            "delegated_admin": False, "users": users,
            "reports": {"available_through": "2025-05-31", "lag_days": 1, "users": uses}}


def account_id(k: int) -> str:
    """The k-th account: k = 0 is the organization's management account."""
    return f"{int(MANAGEMENT) + k:012d}"


def _aws_users(n: int, stale_every: int, caller: bool, link_tags: bool = False) -> list[dict[str, Any]]:
    old = (NOW - timedelta(days=1000)).isoformat()
    key_made = (NOW - timedelta(days=800)).isoformat()
    users = []
    for i in range(n):
        spec: dict[str, Any] = {"name": f"user-{i:06d}", "created": old}
        if link_tags:  # the person's address, as the Entra and Google users of the same i have it (#25)
            spec["tags"] = {"email": f"user{i:06d}@bench.example"}
        if i % stale_every == 0:  # one stale access key: the only credential of the user
            spec["keys"] = [{"created": key_made, "last_used": (NOW - timedelta(days=STALE_DAYS)).isoformat()}]
        else:
            used = (NOW - timedelta(days=_active_days(i), seconds=i % 86400)).isoformat()
            spec["keys"] = [{"created": key_made, "last_used": used}]
            if i % 3 == 1:
                spec["password"] = {"created": old, "last_used": used}
        users.append(spec)
    if caller:  # the sweeper's own user, an extra one
        users.append({"name": "sweeper-bench", "created": old,
                      "keys": [{"created": key_made, "last_used": NOW.isoformat(), "caller": True}]})
    return users


def aws(users_per_account: int, accounts: int = 1, stale_every: int = 100, *, link_tags: bool = False) -> dict[str, Any]:
    """`accounts` accounts of `users_per_account` users each (+ the sweeper's user in the first).

    With accounts > 1 the first is an organization's management account and the others its members,
    reached through AssumeRole. Stale users: ceil(users_per_account / stale_every) per account.
    """
    scenario: dict[str, Any] = {"accounts": {}}
    for k in range(accounts):
        scenario["accounts"][account_id(k)] = {"users": _aws_users(users_per_account, stale_every, k == 0, link_tags)}
    if accounts > 1:
        scenario["organization"] = {"management": MANAGEMENT,
                                    "members": [account_id(k) for k in range(1, accounts)]}
    return scenario
