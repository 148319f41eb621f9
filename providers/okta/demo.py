"""The demo organisation's Okta org (joins `sweeper demo` through the registry): an admin who runs the
sweeper with an API token, an admin who has not signed in for 200 days (protected), a leaver, a user who
never signed in since being created 400 days ago, a new starter, a suspended user, a locked-out and a
pending (PROVISIONED) user Okta cannot suspend (reported only), a STAGED one, one going quiet, a break-glass
account the demo's `exclude` keeps, and an unreadable date. Ordinary active users fill it out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from providers.okta.scenario import ORG_ID, user

TOKEN = "demo-okta-api-token"
FILLER = 24


def organisation(now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    def ago(**delta: float) -> datetime:
        return now - timedelta(**delta)

    domain = "contoso.example"
    runner = user(f"okta.admin@{domain}", created=ago(days=1500), last_login=ago(hours=1))
    admin = user(f"it.admin@{domain}", created=ago(days=1200), last_login=ago(days=200))
    users = [
        runner, admin,
        user(f"left.company@{domain}", created=ago(days=900), last_login=ago(days=250)),
        user(f"never.signed.in@{domain}", created=ago(days=400)),
        user(f"just.joined@{domain}", created=ago(days=2)),
        user(f"on.leave@{domain}", created=ago(days=900), last_login=ago(days=300), status="SUSPENDED"),
        user(f"locked.out@{domain}", created=ago(days=900), last_login=ago(days=200), status="LOCKED_OUT"),
        user(f"pending.invite@{domain}", created=ago(days=120), status="PROVISIONED"),
        user(f"staged.hire@{domain}", created=ago(days=10), status="STAGED"),
        user(f"fading.out@{domain}", created=ago(days=900), last_login=ago(days=82)),
        user(f"breakglass-okta@{domain}", created=ago(days=1000), last_login=ago(days=400)),
        user(f"garbled@{domain}", created=ago(days=900), last_login="yesterday-ish"),
    ]
    users += [user(f"member{i:02d}@{domain}", created=ago(days=250 + i), last_login=ago(hours=4 + 25 * i))
              for i in range(FILLER)]
    scenario = {"org_id": ORG_ID, "users": users, "admins": [runner["id"], admin["id"]],
                "api_tokens": {TOKEN: runner["id"]}}
    return scenario, {}
