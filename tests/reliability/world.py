"""The reliability world: one small organisation per provider with several stale targets each.

Pure data, dated back from `now` (the real clock when the tests run without --as-of). Every provider
has targets (stale, enabled, reversible), distractors that must never be written to (active users,
an already disabled one, a protected one, an excluded one), and optional extra raw records for the
malformed-data tests. AWS targets are access keys only: console passwords are deleted irreversibly.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from providers.aws_iam.scenarios import MANAGEMENT
from providers.entra import scenario as graph
from providers.google_workspace import scenario as directory

TENANT = "7a1d9c3e-5b2f-4e8a-9d61-0c4b3a2f1e90"
CUSTOMER = "C0reliab1"
DOMAIN = "reliability.example"
ENTRA_TOKEN = "entra-emulator-token"
GOOGLE_TOKEN = "google-emulator-token"
ROLE = "62e90394-69f5-4237-9190-012177145e10"


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def aws(at: datetime, stale: int = 4, active: int = 6) -> dict[str, Any]:
    def ago(**d: float) -> str:
        return (at - timedelta(**d)).isoformat()

    def key(created: float, used: float | None, status: str = "Active", **extra: Any) -> dict[str, Any]:
        return {"created": ago(days=created), "last_used": ago(days=used) if used is not None else None,
                "status": status, **extra}

    old = ago(days=900)
    users = [{"name": "sweeper-bot", "created": old,
              "keys": [{"created": ago(days=30), "last_used": ago(minutes=5), "caller": True}]},
             {"name": "mixed-keys", "created": old, "keys": [key(800, 1), key(700, 400)]},  # key 2 is a target
             {"name": "already-off", "created": old, "keys": [key(600, 500, "Inactive")]},
             {"name": "exempt-tagged", "created": old, "tags": {"sweeper:exempt": "true"}, "keys": [key(700, 600)]},
             {"name": "console-user", "created": old, "password": {"created": ago(days=400), "last_used": ago(days=2)}}]
    users += [{"name": f"stale-key-{i}", "created": old, "keys": [key(500, 200 + 30 * i)]} for i in range(stale)]
    users += [{"name": f"active-key-{i}", "created": old, "keys": [key(300, i % 5)]} for i in range(active)]
    return {"accounts": {MANAGEMENT: {"root": {"created": "2015-01-01T00:00:00+00:00",
                                               "password_last_used": ago(days=10)}, "users": users}}}


def aws_targets(stale: int = 4) -> set[str]:
    """Logins whose one stale access key is a target (mixed-keys: only its second key)."""
    return {f"stale-key-{i}" for i in range(stale)} | {"mixed-keys"}


def entra(at: datetime, stale: int = 4, active: int = 8, token: str = ENTRA_TOKEN,
          extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    def ago(days: float) -> datetime:
        return at - timedelta(days=days)

    admin = graph.user(f"global.admin@{DOMAIN}", created=ago(1500), success=ago(300))
    users = [admin,
             graph.user(f"already.off@{DOMAIN}", created=ago(900), enabled=False, success=ago(500)),
             graph.user(f"breakglass-01@{DOMAIN}", created=ago(900), success=ago(400))]
    users += [graph.user(f"stale{i}@{DOMAIN}", created=ago(900), success=ago(150 + 20 * i)) for i in range(stale)]
    users += [graph.user(f"active{i}@{DOMAIN}", created=ago(600), success=ago(i % 10)) for i in range(active)]
    users += extra or []
    return {"tenant_id": TENANT, "token": token, "licensed": True, "users": users,
            "role_assignments": [{"principalId": admin["id"], "roleDefinitionId": ROLE}], "groups": {}}


def entra_targets(stale: int = 4) -> set[str]:
    return {f"stale{i}@{DOMAIN}" for i in range(stale)}


def google(at: datetime, stale: int = 4, active: int = 8, token: str = GOOGLE_TOKEN,
           extra: list[Any] | None = None) -> dict[str, Any]:
    def ago(days: float) -> datetime:
        return at - timedelta(days=days)

    def user(n: int, local: str, **kw: Any) -> dict[str, Any]:
        return directory.user(f"20{n:019d}", f"{local}@{DOMAIN}", customer_id=CUSTOMER, **kw)

    users = [user(1, "super.admin", created=ago(2000), last_login=ago(300), isAdmin=True),
             user(2, "on.leave", created=ago(900), last_login=ago(500), suspended=True),
             user(3, "breakglass-gw", created=ago(900), last_login=ago(400))]
    users += [user(10 + i, f"gstale{i}", created=ago(900), last_login=ago(160 + 20 * i)) for i in range(stale)]
    users += [user(100 + i, f"gactive{i}", created=ago(500), last_login=ago(i % 10)) for i in range(active)]
    users += extra or []
    return {"customer_id": CUSTOMER, "domain": DOMAIN, "token": token, "delegated_admin": False, "users": users}


def google_targets(stale: int = 4) -> set[str]:
    return {f"gstale{i}@{DOMAIN}" for i in range(stale)}


def scenario(at: datetime | None = None, stale: int = 4, **kw: Any) -> dict[str, Any]:
    """All three providers; `kw` may carry entra_token, google_token, entra_extra, google_extra."""
    at = at or now()
    return {"aws": aws(at, stale),
            "entra": entra(at, stale, token=kw.get("entra_token", ENTRA_TOKEN), extra=kw.get("entra_extra")),
            "google": google(at, stale, token=kw.get("google_token", GOOGLE_TOKEN), extra=kw.get("google_extra"))}


def targets(stale: int = 4) -> dict[str, set[str]]:
    """Target logins by provider name as the report spells it."""
    return {"aws": aws_targets(stale), "entra": entra_targets(stale), "google_workspace": google_targets(stale)}
