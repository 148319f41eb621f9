"""Scenarios for the Directory emulator: the bundled demo tenant and synthetic ones of any size."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DEMO = Path(__file__).with_name("scenarios") / "demo.json"
NEVER = "1970-01-01T00:00:00.000Z"  # what the API puts in lastLoginTime for never signed in


def stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def user(uid: str, email: str, *, created: datetime, last_login: datetime | None = None,
         customer_id: str = "C0demo01", **extra: Any) -> dict[str, Any]:
    """A raw Directory user object as users.list returns it."""
    local = email.split("@")[0]
    return {"id": uid, "primaryEmail": email,
            "name": {"givenName": local, "familyName": "User", "fullName": f"{local} User"},
            "isAdmin": False, "isDelegatedAdmin": False,
            "lastLoginTime": stamp(last_login) if last_login else NEVER,
            "creationTime": stamp(created), "suspended": False, "archived": False,
            "orgUnitPath": "/", "customerId": customer_id, **extra}


def demo() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
    return loaded


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
