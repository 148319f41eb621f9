"""Emulator scenarios: raw Graph user objects as Graph returns them, for tests, benchmarks and the demo.

`user(...)` builds one user the way `GET /users?$select=...,signInActivity` shows it; `generate(n)` a
tenant of n users with a repeatable mix of active, stale, never-used, guest and disabled accounts.
Machine identities (#17): `service_principal`, `application`, `secret` / `certificate`, and the beta
report rows `sp_activity` and `credential_activity`.
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
         sign_in: bool = True, mail: Any = _ABSENT, proxy_addresses: Any = _ABSENT) -> dict[str, Any]:
    """One Graph user. `sign_in=False` leaves signInActivity out, as Graph does for users who never signed in.
    `mail` defaults to the UPN, or for a guest (alice_contoso.com#EXT#@tenant) its home address.
    `proxy_addresses` (e.g. ["SMTP:alice@contoso.test", "smtp:a.smith@contoso.test"]) is left out unless given.

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
    if proxy_addresses is not _ABSENT:
        out["proxyAddresses"] = proxy_addresses
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


# -- leavers (#25): disabled users with their audit events, deleted users, guests ----------------------------

def disable_event(user_id: str, upn: str | None, when: datetime | str, *, result: str = "success",
                  activity: str = "Disable account", by: str = "admin@contoso.test") -> dict[str, Any]:
    """A directoryAudit record as `GET /auditLogs/directoryAudits` returns it: `activity` (default
    "Disable account", category UserManagement) done to the user `user_id` at `when`."""
    return {"id": f"Directory_{uuid.uuid5(uuid.NAMESPACE_URL, f'{user_id}|{stamp(when)}|{activity}')}",
            "category": "UserManagement", "correlationId": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{user_id}{when}")),
            "result": result, "resultReason": "", "activityDisplayName": activity, "activityDateTime": stamp(when),
            "loggedByService": "Core Directory", "operationType": "Update",
            "initiatedBy": {"app": None, "user": {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, by)), "displayName": None,
                                                  "userPrincipalName": by, "ipAddress": ""}},
            "targetResources": [{"id": user_id, "displayName": None, "type": "User", "userPrincipalName": upn,
                                 "groupType": None, "modifiedProperties": [
                                     {"displayName": "AccountEnabled", "oldValue": "[true]", "newValue": "[false]"}]}],
            "additionalDetails": []}


def disabled_user(upn: str, disabled: datetime, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A user disabled at `disabled` and its "Disable account" audit event: put the user in "users" and
    the event in "directory_audits". Other keywords as `user` (created, success, mail, ...)."""
    raw = user(upn, enabled=False, **kw)
    return raw, disable_event(raw["id"], upn, disabled)


def deleted_user(upn: str, deleted: datetime | str, **kw: Any) -> dict[str, Any]:
    """A user in deleted items as Graph shows it: its userPrincipalName prefixed by its object id without
    dashes, with its deletedDateTime and mail kept; for the scenario's "deleted_users". Keywords as `user`."""
    raw = user(upn, **kw)
    raw["userPrincipalName"] = raw["id"].replace("-", "") + upn
    raw["deletedDateTime"] = stamp(deleted)
    return raw


def guest(address: str, tenant_domain: str, **kw: Any) -> dict[str, Any]:
    """A guest account for the external `address` (alice@fabrikam.test): UPN alice_fabrikam.test#EXT#@<tenant>,
    mail the external address, userType Guest, invitation accepted. Keywords as `user`."""
    upn = f"{address.replace('@', '_')}#EXT#@{tenant_domain}"
    kw.setdefault("external_state", "Accepted")
    kw.setdefault("mail", address)
    return user(upn, user_type="Guest", **kw)


# -- machine identities (#17) ------------------------------------------------------------------------

FIRST_PARTY = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"  # Microsoft's tenant: owner of its first-party apps
SP_FIELDS = ("lastSignInActivity", "delegatedClientSignInActivity", "delegatedResourceSignInActivity",
             "applicationAuthenticationClientSignInActivity", "applicationAuthenticationResourceSignInActivity")


def _uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def service_principal(name: str, *, id: str | None = None, app_id: str | None = None, enabled: bool = True,
                      created: Any = _ABSENT, sp_type: str = "Application", owner_org: str | None = None,
                      owners: tuple[str, ...] = ()) -> dict[str, Any]:
    """One service principal as `GET /servicePrincipals` stores it; `owners` are user or SP object ids."""
    out: dict[str, Any] = {"id": id or _uid(f"sp:{name}"), "appId": app_id or _uid(f"app:{name}"),
                           "displayName": name, "accountEnabled": enabled, "servicePrincipalType": sp_type,
                           "appOwnerOrganizationId": owner_org, "owners": list(owners)}
    if created is not _ABSENT:
        out["createdDateTime"] = stamp(created)
    return out


def secret(key_id: str, *, start: Any, end: Any, name: str | None = "secret") -> dict[str, Any]:
    """A passwordCredential as Graph lists it (the secret itself is never returned)."""
    return {"customKeyIdentifier": None, "displayName": name, "endDateTime": stamp(end), "hint": "abc",
            "keyId": key_id, "secretText": None, "startDateTime": stamp(start)}


def certificate(key_id: str, *, start: Any, end: Any, name: str | None = "CN=cert") -> dict[str, Any]:
    """A keyCredential as Graph lists it (without `key`, which it returns only when selected alone)."""
    return {"customKeyIdentifier": "QUJD", "displayName": name, "endDateTime": stamp(end), "key": None,
            "keyId": key_id, "startDateTime": stamp(start), "type": "AsymmetricX509Cert", "usage": "Verify"}


def application(name: str, *, id: str | None = None, app_id: str | None = None, created: Any = None,
                secrets: tuple[dict[str, Any], ...] = (), certificates: tuple[dict[str, Any], ...] = (),
                owners: tuple[str, ...] = ()) -> dict[str, Any]:
    """One application (app registration) with its client secrets and certificates."""
    return {"id": id or _uid(f"application:{name}"), "appId": app_id or _uid(f"app:{name}"), "displayName": name,
            "createdDateTime": stamp(created), "signInAudience": "AzureADMyOrg",
            "passwordCredentials": list(secrets), "keyCredentials": list(certificates), "owners": list(owners)}


def sp_activity(app_id: str, **fields: Any) -> dict[str, Any]:
    """A `servicePrincipalSignInActivity` row: each of SP_FIELDS given (a datetime, or raw) becomes
    `{"lastSignInDateTime", "lastSignInRequestId"}`; `lastSignInActivity` is the newest unless given."""
    row: dict[str, Any] = {"id": base64_id(app_id), "appId": app_id}
    times = {k: v for k, v in fields.items() if k in SP_FIELDS}
    unknown = set(fields) - set(SP_FIELDS)
    if unknown:
        raise ValueError(f"not servicePrincipalSignInActivity fields: {sorted(unknown)}")
    dated = [v for v in times.values() if isinstance(v, datetime)]
    if "lastSignInActivity" not in times and dated:
        times["lastSignInActivity"] = max(dated)
    for key in SP_FIELDS:
        value = times.get(key)
        row[key] = {"lastSignInDateTime": stamp(value), "lastSignInRequestId": None if value is None
                    else str(uuid.uuid4())}
    return row


def credential_activity(key_id: str, app_id: str, app_object_id: str, last: Any, *, key_type: str = "clientSecret",
                        resource_id: str | None = None, origin: str = "application") -> dict[str, Any]:
    """An `appCredentialSignInActivity` row: one credential's last use against one resource."""
    return {"id": base64_id(f"{key_id}|{origin}|{resource_id}"), "appId": app_id, "appObjectId": app_object_id,
            "credentialOrigin": origin, "keyId": key_id, "keyType": key_type, "keyUsage": "sign",
            "resourceId": resource_id or _uid("resource:graph"), "servicePrincipalObjectId": _uid(f"sp:{app_id}"),
            "signInActivity": {"lastSignInDateTime": stamp(last), "lastSignInRequestId": str(uuid.uuid4())}}


def base64_id(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
