"""The demo organisation: one realistic tenant per provider, dated relative to `now`.

Each covers the rules a newcomer should see: stale and fresh keys on one user, never-used old and
new credentials, a stale console password, a sprayed dormant Entra account, a pending guest, a synced
user, a role holder, a Google super admin, a service-account org unit, a break-glass account excluded
by config, an unreadable date, and IAM roles (a forgotten one trusting a vendor account, reported only by
default; one in use; a service-linked one, never touched). Ordinary active users fill each tenant out to a few dozen.
`organisation(now)` is what `sweeper demo` loops over. A provider packaged elsewhere (or added beside
these) joins the demo by shipping a `demo` module beside its `emulator` one, with `organisation(now)`
giving its (scenario, settings) in the same shapes: found through the registry, no edit here.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from typing import Any

from providers.aws_iam.scenarios import MANAGEMENT
from providers.entra import scenario as graph
from providers.google_workspace import scenario as directory

ENTRA_TOKEN = "demo-entra-token"
GOOGLE_TOKEN = "demo-google-token"
TENANT = "5f1c2a9e-0d4b-4c1e-9a53-6d2f8b7e1c40"
ROLE_ADMIN = "62e90394-69f5-4237-9190-012177145e10"  # Global Administrator's role definition id
FILLER = 24


def organisation(now: datetime) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Per provider: its emulator's scenario, and the demo's settings for it beyond the emulator's own."""
    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "aws": (aws(now), {"console_inactive_days": 45, "exclude_tags": {"sweeper:exempt": "true"}}),
        "entra": (entra(now), {"guest_inactive_days": 30}),
        "google_workspace": (google_workspace(now), {"exclude_org_units": ["/Service Accounts"]}),
    }
    found.update(plugged_in(now, skip=set(found)))
    return found


def plugged_in(now: datetime, skip: set[str]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The demo organisation of every other registered provider whose package has a `demo` module."""
    from sweeper import registry

    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for name in registry.names():
        if name in skip or not registry.info(name).in_docs:  # in_docs False: the tests' run-time fakes
            continue
        package = registry.settings_class(name).__module__.rpartition(".")[0]
        try:
            module = importlib.import_module(f"{package}.demo")
        except ModuleNotFoundError as err:
            if err.name != f"{package}.demo":
                raise
            continue
        found[name] = module.organisation(now)
    return found


def aws(now: datetime) -> dict[str, Any]:
    def ago(**delta: float) -> str:
        return (now - timedelta(**delta)).isoformat()

    def key(created: dict[str, float], used: dict[str, float] | None, status: str = "Active",
            **extra: Any) -> dict[str, Any]:
        return {"created": ago(**created), "last_used": ago(**used) if used else None, "status": status, **extra}

    def pw(created: dict[str, float], used: dict[str, float] | None) -> dict[str, Any]:
        return {"created": ago(**created), "last_used": ago(**used) if used else None}

    old = ago(days=900)
    users = [
        {"name": "sweeper-bot", "created": old, "keys": [key({"days": 30}, {"minutes": 5}, caller=True)]},
        {"name": "deploy-pipeline", "created": old, "tags": {"owner": "platform-team@contoso.example"},  # one key
         # in daily use, the other forgotten
         "keys": [key({"days": 200}, {"hours": 3}), key({"days": 700}, {"days": 400})]},
        {"name": "etl-service", "created": old, "keys": [key({"days": 300}, None)]},  # never used, old
        {"name": "new-integration", "created": ago(hours=2), "keys": [key({"hours": 1}, None)]},
        {"name": "old-contractor", "created": old, "password": pw({"days": 800}, {"days": 200}),
         "keys": [key({"days": 600}, {"days": 500}, "Inactive")]},
        {"name": "maria.garcia", "created": old, "password": pw({"days": 400}, {"days": 2})},
        {"name": "intern-2024", "created": ago(days=400), "password": pw({"days": 400}, None)},
        {"name": "new-hire", "created": ago(days=2), "password": pw({"days": 2}, None)},
        {"name": "analyst-leaving", "created": old, "tags": {"email": "analyst@contoso.example"}, "password": pw({"days": 300}, {"days": 80})},
        {"name": "backup-job", "created": old, "tags": {"sweeper:exempt": "true", "owner": "platform"},
         "keys": [key({"days": 700}, {"days": 300})]},
        {"name": "breakglass-admin", "created": old, "password": pw({"days": 700}, {"days": 365})},
    ]
    users += [{"name": f"engineer-{i:02d}", "created": old, "password": pw({"days": 300}, {"days": i % 20}),
               "keys": [key({"days": 100 + i}, {"hours": i + 1})]} for i in range(FILLER)]
    roles = [
        {"name": "vendor-audit-access", "created": ago(days=800), "last_used": ago(days=230),  # forgotten
         "trust": {"AWS": "arn:aws:iam::999988887777:root"}, "tags": {"owner": "secops@contoso.example"}},
        {"name": "deploy-pipeline-role", "created": old, "last_used": ago(hours=2)},
        {"service": "autoscaling.amazonaws.com", "created": old, "last_used": ago(days=300)},
    ]
    return {"accounts": {MANAGEMENT: {"root": {"created": "2015-01-01T00:00:00+00:00",
                                               "password_last_used": ago(days=400)},
                                      "users": users, "roles": roles}}}


def entra(now: datetime) -> dict[str, Any]:
    def ago(**delta: float) -> datetime:
        return now - timedelta(**delta)

    domain = "contoso.example"
    role_holder = graph.user(f"global.admin@{domain}", created=ago(days=1500), success=ago(days=200))
    users = [
        role_holder,
        graph.user(f"dormant.sales@{domain}", created=ago(days=1200), success=ago(days=300),
                   interactive=ago(hours=6)),  # password spraying: failed attempts this morning
        graph.user(f"pre2023.user@{domain}", created=ago(days=1600), interactive=ago(days=1300)),
        graph.user(f"never.signed.in@{domain}", created=ago(days=400), sign_in=False),
        graph.user(f"starts.monday@{domain}", created=ago(days=3), sign_in=False),
        graph.user(f"partner_fabrikam.example#EXT#@{domain}", created=ago(days=120), user_type="Guest",
                   external_state="PendingAcceptance", sign_in=False),
        graph.user(f"auditor_external.example#EXT#@{domain}", created=ago(days=500), user_type="Guest",
                   external_state="Accepted", success=ago(days=45)),
        graph.user(f"onprem.user@{domain}", created=ago(days=2000), success=ago(days=400), synced=True),
        graph.user(f"breakglass-01@{domain}", created=ago(days=1000), success=ago(days=500)),
        graph.user(f"weird.date@{domain}", created=ago(days=900), success="not-a-date"),
        graph.user(f"already.off@{domain}", created=ago(days=900), enabled=False, success=ago(days=600)),
        graph.user(f"going.quiet@{domain}", created=ago(days=900), success=ago(days=82)),
    ]
    users += [graph.user(f"staff{i:02d}@{domain}", created=ago(days=300 + i), success=ago(hours=5 + 20 * i))
              for i in range(FILLER)]
    return {"tenant_id": TENANT, "token": ENTRA_TOKEN, "licensed": True, "users": users,
            "role_assignments": [{"principalId": role_holder["id"], "roleDefinitionId": ROLE_ADMIN}],
            "groups": {}, **entra_machines(now, role_holder["id"])}


def entra_machines(now: datetime, owner: str) -> dict[str, Any]:
    """A few service principals and an application (#17): a retired integration nobody signed in with for
    200 days, a busy one, Microsoft's own and a managed identity (never touched), and an app with an expired
    and an unused secret. All reported only (service_principal_action defaults to "report")."""
    def ago(**delta: float) -> datetime:
        return now - timedelta(**delta)

    retired = graph.service_principal("legacy-crm-sync", created=ago(days=900), owners=(owner,))
    busy = graph.service_principal("billing-api", created=ago(days=600))
    sps = [retired, busy, graph.service_principal("Microsoft Graph", owner_org=graph.FIRST_PARTY),
           graph.service_principal("vm-backup-identity", sp_type="ManagedIdentity", created=ago(days=300))]
    expired, unused, live = (f"{n}{n}{n}{n}0000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))
    app = graph.application("legacy-crm-sync", app_id=retired["appId"], created=ago(days=900), owners=(owner,),
                            secrets=(graph.secret(expired, start=ago(days=800), end=ago(days=60), name="2023 secret"),
                                     graph.secret(unused, start=ago(days=400), end=now + timedelta(days=3650),
                                                  name="spare"),
                                     graph.secret(live, start=ago(days=100), end=now + timedelta(days=3650),
                                                  name="current")))
    return {"service_principals": sps, "applications": [app],
            "sp_sign_in_activities": [
                graph.sp_activity(retired["appId"], applicationAuthenticationClientSignInActivity=ago(days=200)),
                graph.sp_activity(busy["appId"], applicationAuthenticationClientSignInActivity=ago(hours=3),
                                  delegatedResourceSignInActivity=ago(hours=1))],
            "app_credential_sign_in_activities": [
                graph.credential_activity(live, app["appId"], app["id"], ago(days=1))]}


def google_workspace(now: datetime) -> dict[str, Any]:
    def ago(**delta: float) -> datetime:
        return now - timedelta(**delta)

    domain, customer = "example.org", "C03az79cb"

    def user(n: int, email: str, **kw: Any) -> dict[str, Any]:
        return directory.user(f"10{n:019d}", f"{email}@{domain}", customer_id=customer, **kw)

    users = [
        user(1, "ceo", created=ago(days=2000), last_login=ago(days=200), isAdmin=True),
        user(2, "it-helpdesk", created=ago(days=1500), last_login=ago(days=300), isDelegatedAdmin=True),
        user(3, "former.employee", created=ago(days=1400), last_login=ago(days=250)),
        user(4, "never.logged.in", created=ago(days=500)),
        user(5, "joined.yesterday", created=ago(days=1)),
        user(6, "ci-bot", created=ago(days=900), last_login=ago(days=700), orgUnitPath="/Service Accounts/bots"),
        user(7, "legacy-bot", created=ago(days=900), last_login=ago(days=700),
             orgUnitPath="/Service Accounts Legacy"),
        user(8, "breakglass-gw", created=ago(days=900), last_login=ago(days=400)),
        user(9, "on.leave", created=ago(days=900), last_login=ago(days=500), suspended=True),
        user(10, "garbled", created=ago(days=900), lastLoginTime="yesterday-ish"),
        user(11, "fading.out", created=ago(days=900), last_login=ago(days=85)),
    ]
    users += [user(100 + i, f"member{i:02d}", created=ago(days=200 + i), last_login=ago(hours=3 + 30 * i),
                   orgUnitPath="/Sales" if i % 2 else "/Engineering") for i in range(FILLER)]
    return {"customer_id": customer, "domain": domain, "token": GOOGLE_TOKEN, "delegated_admin": False,
            "users": users}
