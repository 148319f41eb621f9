"""Entra machine identities (#17) mapped into the neutral model: service principals and application credentials.

Sources, each read whole and paged (no per-object call):
- `GET /servicePrincipals` and `GET /applications` (v1.0) with `$expand=owners`;
- `GET /beta/reports/servicePrincipalSignInActivities`: one row per appId with five sign-in records
  (`SP_FIELDS`), each `{"lastSignInDateTime", "lastSignInRequestId"}`. A service principal's last use is
  the newest of them, and the reason names which record it came from. Graph does not say whether a
  failed sign-in counts there; the sweeper reads any recorded sign-in as use, which can only keep more.
- `GET /beta/reports/appCredentialSignInActivities`: rows per credential (keyId) and resource; a
  credential's last use is the newest of its rows.

A service principal or credential the report has no row for has never been used since the report began
(Activity.NEVER, judged by creation), but only when the report itself was read: without it nothing is
judged (the adapter says so in a scope note). A value that does not parse is UNKNOWN, never "never".
Graph's own report examples write offsets as "-8:00"; such a one-digit hour is read as "-08:00".

Never touched, so not listed at all (the adapter counts them in a note): Microsoft's first-party service
principals (`appOwnerOrganizationId` = FIRST_PARTY) and managed identities (`servicePrincipalType`
ManagedIdentity), which Azure manages. Protected (listed, never acted on): the sweeper's own service
principal, and directory role holders when `skip_role_holders`.

A service principal's login is its displayName (its appId when it has none): reports and `exclude` globs
use it; `[policy] never_disable` also matches its object id. An application's login is its displayName
too; its credentials are labelled by keyId.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from providers.entra.users import parse_time
from sweeper.kit.times import BadTime
from sweeper.model import Activity, Credential, CredentialKind, Identity, IdentityKind

FIRST_PARTY = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"  # Microsoft's own tenant: owner of its first-party apps
MANAGED_IDENTITY = "ManagedIdentity"
SP_SELECT = "id,appId,displayName,accountEnabled,servicePrincipalType,appOwnerOrganizationId,createdDateTime"
APP_SELECT = "id,appId,displayName,createdDateTime,passwordCredentials,keyCredentials"
OWNERS = "owners($select=id,mail,userPrincipalName)"
PAGE = 999  # $top for the listings and both reports: the most Graph gives a page
SP_REPORT = "servicePrincipalSignInActivities"
APP_REPORT = "appCredentialSignInActivities"
# the report's sign-in records, newest of which is the last use, with what each means
# (the specific records first: on a tie the reason names the flow, not the summary record)
SP_FIELDS = {
    "delegatedClientSignInActivity": "delegated flow, as a client",
    "delegatedResourceSignInActivity": "delegated flow, as a resource",
    "applicationAuthenticationClientSignInActivity": "app-only flow, as a client",
    "applicationAuthenticationResourceSignInActivity": "app-only flow, as a resource",
    "lastSignInActivity": "the most recent of all flows",
}
TIME_KEYS = ("lastSignInDateTime", "lastSuccessfulSignInDateTime")
SP_REPORT_ONLY = 'service_principal_action = "report"'
APP_REPORT_ONLY = "removing a secret or certificate cannot be undone (Graph keeps no copy of it)"
_SHORT_OFFSET = re.compile(r"([+-])(\d):(\d\d)$")


@dataclass(frozen=True, slots=True)
class Use:
    """The newest use found in a report for one app or key: when, from which record, or why unreadable."""

    when: datetime | None = None
    source: str | None = None
    bad: str | None = None  # a value that does not parse: the use cannot be told


def _time(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = _SHORT_OFFSET.sub(lambda m: f"{m[1]}0{m[2]}:{m[3]}", value)
    return parse_time(value)


def _merge(found: dict[str, Use], key: str, when: datetime | None, source: str | None, bad: str | None) -> None:
    old = found.get(key, Use())
    newest = old if old.when and (when is None or old.when >= when) else Use(when, source)
    found[key] = Use(newest.when, newest.source, old.bad or bad)


def _newest(record: Any, where: str) -> tuple[datetime | None, str | None]:
    """The newest time in one signInActivity record; (None, why) when a value does not parse."""
    if record is None:
        return None, None
    if not isinstance(record, dict):
        return None, f"{where} is not an object"
    times = []
    for key in TIME_KEYS:
        try:
            when = _time(record.get(key))
        except BadTime as err:
            return None, f"{where}.{key} does not parse: {err}"
        if when is not None:
            times.append(when)
    return (max(times) if times else None), None


def sp_uses(rows: Iterable[Any]) -> dict[str, Use]:
    """servicePrincipalSignInActivities rows → the newest use by appId (lower case)."""
    found: dict[str, Use] = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("appId"), str):
            continue  # a row that names no app can be about none of ours
        app = row["appId"].lower()
        for field in SP_FIELDS:
            when, bad = _newest(row.get(field), field)
            _merge(found, app, when, field if when else None, bad)
    return found


def credential_uses(rows: Iterable[Any]) -> dict[str, Use]:
    """appCredentialSignInActivities rows → the newest use by keyId (lower case), over every resource."""
    found: dict[str, Use] = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("keyId"), str):
            continue
        when, bad = _newest(row.get("signInActivity"), "signInActivity")
        resource = row.get("resourceId")
        _merge(found, row["keyId"].lower(), when, f"resource {resource}" if when and resource else None, bad)
    return found


def owner_of(obj: dict[str, Any]) -> str | None:
    """The first owner with a deliverable address (mail, else a UPN that is not a guest's #EXT# one)."""
    owners = obj.get("owners")
    for owner in owners if isinstance(owners, list) else ():
        if not isinstance(owner, dict):
            continue
        for value in (owner.get("mail"), owner.get("userPrincipalName")):
            if isinstance(value, str) and "@" in value and "#EXT#" not in value.upper():
                return value
    return None


def _text(obj: dict[str, Any], key: str) -> str:
    """A string property, "" when it is absent, empty or not a string."""
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _created(obj: dict[str, Any]) -> tuple[datetime | None, str | None]:
    raw = obj.get("createdDateTime")
    try:
        return parse_time(raw), None
    except BadTime:
        return None, f"createdDateTime does not parse: {raw!r:.40}"


def skipped(sp: dict[str, Any]) -> str | None:
    """Why a service principal is never listed: "first-party" or "managed identity"; None otherwise."""
    if str(sp.get("appOwnerOrganizationId") or "").lower() == FIRST_PARTY:
        return "first-party"
    if sp.get("servicePrincipalType") == MANAGED_IDENTITY:
        return "managed identity"
    return None


def _day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d")


def sp_activity(use: Use | None) -> tuple[Activity, datetime | None, str]:
    """(activity, last use, note) of a service principal from its report row (None: no row)."""
    if use is not None and use.bad:
        return Activity.UNKNOWN, None, f"{SP_REPORT} (beta): {use.bad}"
    if use is not None and use.when is not None:
        return Activity.SEEN, use.when, (f"newest record of the beta {SP_REPORT} report: {use.source}, "
                                         f"{SP_FIELDS[use.source or '']}")
    said = "no row" if use is None else "a row with no sign-in"
    return Activity.NEVER, None, f"no sign-in on record: the beta {SP_REPORT} report has {said} for its appId"


def to_sp(sp: dict[str, Any], scope: str, use: Use | None, *, protect: dict[str, str], exclude: dict[str, str],
          own: set[str], report_only: bool, fallback_owner: str | None = None, position: str = "",
          provider: str = "entra") -> Identity:
    """One service principal → an Identity of kind SERVICE with one `service_principal` credential."""
    notes = []
    sid = _text(sp, "id")
    if not sid:
        notes.append("service principal without an id")
    sid = sid or f"missing-sp-id{position}"
    app_id = _text(sp, "appId")
    name = _text(sp, "displayName") or None
    created, bad_created = _created(sp)
    enabled = sp.get("accountEnabled")
    if not isinstance(enabled, bool):
        notes.append(f"accountEnabled is {enabled!r:.40}")
    if not app_id:
        notes.append("service principal without an appId: its sign-in activity cannot be found")
    activity, last, note = sp_activity(use)
    if activity is Activity.NEVER and created is None:
        why = "does not parse" if bad_created else "is missing"
        activity, note = Activity.UNKNOWN, f"{note}, and createdDateTime {why}"
    if notes:
        activity, last, note = Activity.UNKNOWN, None, "; ".join([*notes, note])
    mine = "the sweeper's own service principal" if own & {sid.lower(), app_id.lower()} else None
    protected = mine or protect.get(sid)
    cred = Credential(CredentialKind.SERVICE_PRINCIPAL, sid, enabled is not False, activity, created, last, note,
                      protected_by=mine, report_only=SP_REPORT_ONLY if report_only else None)
    return Identity(provider, scope, sid, name or app_id or sid, IdentityKind.SERVICE, enabled is not False, (cred,),
                    created, name, tags={"appId": app_id, "servicePrincipalType": str(sp.get("servicePrincipalType"))},
                    excluded_by=exclude.get(sid), protected_by=protected, owner=owner_of(sp) or fallback_owner,
                    privileged=protect.get(sid))


def _credential(raw: Any, kind: str, uses: dict[str, Use] | None, n: int) -> Credential:
    """One passwordCredential ("secret") or keyCredential ("certificate") → an `app_credential` Credential."""
    raw = raw if isinstance(raw, dict) else {}
    key = raw.get("keyId") if isinstance(raw.get("keyId"), str) and raw.get("keyId") else f"missing-key-id-{n}"
    notes = [] if not key.startswith("missing-") else [f"{kind} without a keyId"]
    times = {}
    for field in ("startDateTime", "endDateTime"):
        try:
            times[field] = parse_time(raw.get(field))
        except BadTime:
            times[field] = None
            notes.append(f"{kind} {field} does not parse: {raw.get(field)!r:.40}")
    start, end = times["startDateTime"], times["endDateTime"]
    label = f"{kind} {raw.get('displayName')!r}" if isinstance(raw.get("displayName"), str) else kind
    use = None if uses is None else uses.get(key.lower())
    if uses is None:
        activity, last, note = Activity.UNKNOWN, None, f"{APP_REPORT} (beta) could not be read"
    elif use is not None and use.bad:
        activity, last, note = Activity.UNKNOWN, None, f"{APP_REPORT} (beta): {use.bad}"
    elif use is not None and use.when is not None:
        activity, last = Activity.SEEN, use.when
        note = f"{label}; newest record of the beta {APP_REPORT} report" + (f", {use.source}" if use.source else "")
    else:
        activity, last = Activity.NEVER, None
        note = f"{label}; no use on record: the beta {APP_REPORT} report has no row for it"
    if activity is Activity.NEVER and start is None:
        activity = Activity.UNKNOWN
        note += ", and its startDateTime is missing"
    if notes:
        activity, last, note = Activity.UNKNOWN, None, "; ".join([*notes, note])
    return Credential(CredentialKind.APP_CREDENTIAL, key, True, activity, start, last, note,
                      report_only=APP_REPORT_ONLY, expires=end)


def _listed(app: dict[str, Any], key: str) -> list[Any]:
    value = app.get(key)
    return value if isinstance(value, list) else []


def to_app(app: dict[str, Any], scope: str, uses: dict[str, Use] | None, *, exclude: dict[str, str],
           position: str = "", keep_unmeasured: bool = False,
           now: datetime | None = None, provider: str = "entra") -> tuple[Identity | None, int]:
    """One application → (an Identity of kind SERVICE with one `app_credential` per secret and certificate,
    or None when it has none to judge; how many credentials were left out unmeasured).

    Without the report (`uses` None) only credentials expired by `now` are kept, unless `keep_unmeasured`
    (a refresh): expiry needs no activity data, and the others cannot be judged (the adapter's note
    counts them)."""
    aid = _text(app, "id") or f"missing-app-id{position}"
    app_id = _text(app, "appId")
    name = _text(app, "displayName") or None
    created, _ = _created(app)
    raws = [("secret", c) for c in _listed(app, "passwordCredentials")] \
        + [("certificate", c) for c in _listed(app, "keyCredentials")]
    creds = [_credential(raw, kind, uses, n) for n, (kind, raw) in enumerate(raws)]
    left_out = 0
    if uses is None and not keep_unmeasured:
        kept = [c for c in creds if c.expires is not None and now is not None and c.expires <= now]
        left_out, creds = len(creds) - len(kept), kept
    if not creds:
        return None, left_out
    ident = Identity(provider, scope, aid, name or app_id or aid, IdentityKind.SERVICE, True, tuple(creds), created,
                     name, tags={"appId": app_id, "object": "application"}, excluded_by=exclude.get(aid),
                     owner=owner_of(app))
    return ident, left_out
