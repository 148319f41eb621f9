"""Hypothesis strategies: small random populations in each emulator's scenario format, with a config.

Every world is a dict {"config": the policy part of sweeper.toml as a dict, "scenario": what the
emulator serves, ...}. Times cluster where the policy's answer changes: at each threshold and warn
boundary in play (to the microsecond and the second, on both sides), at Entra's 2023-12-01, at a
credential's own creation (same second, adjacent seconds), and anywhere over the last four years.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

UTC = timezone.utc
AS_OF = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)  # Entra's 2023-12-01 is 105.5 days before
SUCCESS_TRACKED_SINCE = datetime(2023, 12, 1, tzinfo=UTC)
GRAPH_RECORDED_SINCE = datetime(2020, 5, 1, tzinfo=UTC)  # Graph's sign-in record begins (reference.py)
US = 1_000_000  # microseconds in a second
DAY_US = 86_400 * US

ACCOUNT = "123456789012"
TENANT = "5e2f7c1a-0b9d-4c3e-8a61-2f4d6b8c0e11"
CUSTOMER = "C0model01"
GRAPH_NO_SIGN_IN = "0001-01-01T00:00:00Z"
GOOGLE_NEVER = "1970-01-01T00:00:00.000Z"

GLOBS = ("svc-*", "BREAKGLASS-*", "*bot?", "ci-[0-4]*", "*#ext#*")
PREFIXES = ("", "", "svc-", "SVC-", "breakglass-", "ci-", "Ops.")
STEMS = ("alice", "bob", "Deploy", "robot", "x")
GARBAGE = ("not-a-date", "2023-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "2024-05-01T10:00:00",
           "yesterday", "2024-05-01")
ROLE = "62e90394-69f5-4237-9190-012177145e10"

_days = st.one_of(st.sampled_from([90, 30, 45, 105, 106, 180, 365, 1, 7]), st.integers(1, 400))
_warn = st.one_of(st.sampled_from([14, 0, 7, 30]), st.integers(0, 60))
# offsets around an anchor, in microseconds: exactly on it, one microsecond, within and across the
# second, half a day, one day, anything within two days
_offset = st.one_of(st.sampled_from([0, -1, 1, -US // 2, US // 2, -US, US, -US - 1, US + 1, -DAY_US // 2,
                                     DAY_US // 2, -DAY_US, DAY_US]),
                    st.integers(-2 * DAY_US, 2 * DAY_US))


def _span(max_days: int) -> st.SearchStrategy[timedelta]:
    """A duration up to `max_days`, spread over the whole range (hypothesis draws huge integer ranges
    mostly near zero, so days, seconds and microseconds are drawn apart)."""
    return st.builds(lambda d, s, us: timedelta(days=d, seconds=s, microseconds=us), st.integers(0, max_days - 1),
                     st.integers(0, 86_399), st.sampled_from([0, 0, 999_999]) | st.integers(0, 999_999))


def _maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


def _rarely(value: Any, other: Any, one_in: int = 5) -> st.SearchStrategy:
    """`value` once in `one_in` draws, else `other` (which is what shrinking goes to). Hypothesis
    favours the ends of a list, so the rare value sits in the middle."""
    half = (one_in - 1) // 2
    return st.sampled_from([other] * half + [value] + [other] * (one_in - 1 - half))


# -- configuration --------------------------------------------------------------------------------

@st.composite
def config(draw: st.DrawFn, provider: str) -> dict[str, Any]:
    """[policy] and the provider's section: thresholds at both levels, kind overrides, exclusions."""
    policy: dict[str, Any] = {"inactive_days": draw(_days), "warn_days": draw(_warn),
                              "max_disable": 1_000_000, "max_disable_percent": 100,
                              "exclude": draw(st.lists(st.sampled_from(GLOBS), max_size=2, unique=True))}
    if draw(st.booleans()):
        policy["never_used_days"] = draw(_days)
    section: dict[str, Any] = {}
    for key, strategy in (("inactive_days", _days), ("warn_days", _warn), ("never_used_days", _days)):
        if draw(_rarely(True, False, 3)):
            section[key] = draw(strategy)
    if draw(_rarely(True, False, 4)):
        section["exclude"] = draw(st.lists(st.sampled_from(GLOBS), min_size=1, max_size=2, unique=True))
    if provider == "aws":
        for key in ("access_key_inactive_days", "console_inactive_days"):
            if draw(st.booleans()):
                section[key] = draw(_days)
        section["exclude_tags"] = draw(st.sampled_from([{"sweeper:exempt": "true"}, {}, {"team": "*"}]))
    elif provider == "entra":
        if draw(st.booleans()):
            section["guest_inactive_days"] = draw(_days)
        section["skip_role_holders"] = draw(_rarely(False, True))
        section["skip_synced"] = draw(_rarely(False, True))
        section["exclude_groups"] = draw(st.lists(st.sampled_from(["g-exclude", "g-nested"]), max_size=2,
                                                  unique=True))
    elif provider == "google_workspace":
        section["skip_admins"] = draw(_rarely(False, True))
        section["exclude_org_units"] = draw(st.lists(
            st.sampled_from(["/Service Accounts", "/Contractors/Temp", "/Contractors/"]), max_size=2, unique=True))
    return {"policy": policy, "providers": {provider: section}}


def anchors(cfg: dict[str, Any]) -> list[int]:
    """Ages in days at which a decision changes under `cfg`: every threshold, and its warn start."""
    policy, section = cfg["policy"], next(iter(cfg["providers"].values()))
    windows = {policy["inactive_days"]}
    windows |= {v for k, v in (*policy.items(), *section.items()) if k.endswith("_days") and k != "warn_days"}
    warns = {policy["warn_days"], section.get("warn_days", policy["warn_days"])}
    return sorted(windows | {w - d for w in windows for d in warns if w > d})


def instants(ages: list[int], *, resolution_us: int = 1) -> st.SearchStrategy[datetime]:
    """A moment: near a decision boundary, near 2023-12-01, anywhere in four years, or just after now."""
    near = st.builds(lambda d, us: AS_OF - timedelta(days=d, microseconds=-us), st.sampled_from(ages), _offset)
    tracked = st.builds(lambda us: SUCCESS_TRACKED_SINCE + timedelta(microseconds=us), _offset)
    anywhere = _span(1500).map(lambda age: AS_OF - age)
    future = _span(3).map(lambda ahead: AS_OF + ahead + timedelta(microseconds=1))
    moment = st.one_of(near, near, near, anywhere, anywhere, tracked, future)
    if resolution_us == 1:
        return moment
    return moment.map(lambda t: t - timedelta(microseconds=t.microsecond % resolution_us))


@st.composite
def after(draw: st.DrawFn, start: datetime, moments: st.SearchStrategy[datetime]) -> datetime:
    """A later moment (a last use after creation); rarely one before it (contradictory data)."""
    how = draw(st.sampled_from(["moment", "moment", "same-second", "soon", "before"]))
    if how == "same-second":
        return start.replace(microsecond=draw(st.integers(start.microsecond, 999_999)))
    if how == "soon":
        return start + timedelta(microseconds=draw(st.integers(0, 3 * US)))
    t = draw(moments)
    if t >= start or how == "before":
        return t
    room = max((AS_OF - start).days, 0) + 1
    return min(start + draw(_span(room)), max(AS_OF, start))


_stem = st.builds(lambda prefix, stem: prefix + stem, st.sampled_from(PREFIXES), st.sampled_from(STEMS))


# -- AWS --------------------------------------------------------------------------------------------

def _iso(t: datetime) -> str:
    return t.isoformat()


@st.composite
def _password(draw: st.DrawFn, moments: st.SearchStrategy[datetime]) -> dict[str, Any]:
    set_at = draw(moments)
    how = draw(st.sampled_from(["used", "never", "reset", "same-second"]))
    if how == "used":
        last = draw(after(set_at, moments))
    elif how == "reset":  # reset by an admin after the last sign-in
        last = set_at - draw(st.one_of(st.integers(1, 2 * US).map(lambda us: timedelta(microseconds=us)), _span(900)))
    elif how == "same-second":
        last = set_at.replace(microsecond=draw(st.integers(0, 999_999)))
    else:
        last = None
    return {"created": _iso(set_at), "last_used": _iso(last) if last else None}


@st.composite
def _keys(draw: st.DrawFn, moments: st.SearchStrategy[datetime]) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 2))
    made = [draw(moments)]
    if count == 2:
        how = draw(st.sampled_from(["same-second", "adjacent-seconds", "apart"]))
        first = made[0]
        if how == "same-second":
            made.append(first.replace(microsecond=draw(st.integers(0, 999_999))))
        elif how == "adjacent-seconds":
            step = timedelta(seconds=draw(st.sampled_from([1, -1])))
            made.append((first + step).replace(microsecond=draw(st.integers(0, 999_999))))
        else:
            made.append(draw(moments))
    keys: list[dict[str, Any]] = []
    for created in made[:count]:
        how = draw(st.sampled_from(["used", "never", "twin"] if keys else ["used", "never"]))
        if how == "twin":  # last used in the same second as the other key's last use
            other = keys[0]["last_used"]
            last = datetime.fromisoformat(other).replace(microsecond=draw(st.integers(0, 999_999))) if other else None
        elif how == "used":
            last = draw(after(created, moments))
        else:
            last = None
        keys.append({"created": _iso(created), "last_used": _iso(last) if last else None,
                     "status": draw(_rarely("Inactive", "Active", 4))})
    return keys


@st.composite
def _iam_user(draw: st.DrawFn, moments: st.SearchStrategy[datetime]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": draw(_stem), "created": _iso(draw(moments) - timedelta(days=400))}
    tags = draw(st.sampled_from([{}, {}, {"sweeper:exempt": "true"}, {"sweeper:exempt": "false"}, {"team": "ops"}]))
    if tags:
        spec["tags"] = tags
    if draw(_rarely(False, True, 3)):
        spec["password"] = draw(_password(moments))
    spec["keys"] = draw(_keys(moments))
    return spec


@st.composite
def aws_world(draw: st.DrawFn, min_users: int = 2, max_users: int = 12) -> dict[str, Any]:
    """One account: a root row, users with 0-2 keys and maybe a console password, one of them the
    sweeper's own (its `caller` key, Active, is what the sweep runs with)."""
    cfg = draw(config("aws"))
    moments = instants(anchors(cfg))
    users = draw(st.lists(_iam_user(moments), min_size=min_users, max_size=max_users))
    for i, user in enumerate(users):  # unique names; a list lets shrinking drop any user
        user["name"] = f"{user['name']}{i}"
    me = users[draw(st.integers(0, len(users) - 1))]
    caller = {"created": _iso(draw(moments)), "last_used": None, "status": "Active", "caller": True}
    keys = me["keys"]
    if len(keys) == 2:  # IAM allows two keys: the caller takes one of them
        keys[draw(st.integers(0, 1))] = caller
    else:
        keys.insert(draw(st.integers(0, len(keys))), caller)
    root_used = draw(_maybe(moments))
    root = {"created": "2015-01-01T00:00:00+00:00",
            "password_last_used": root_used.strftime("%Y-%m-%dT%H:%M:%S+00:00") if root_used else None}
    return {"config": cfg, "scenario": {"accounts": {ACCOUNT: {"root": root, "users": users}}}}


# -- Entra ------------------------------------------------------------------------------------------

def _graph_stamp(t: datetime, fraction: str = "") -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


_ABSENT = object()  # a signInActivity field left out


def _token(oid: str | None) -> str:
    """The bearer token the emulator accepts; with an oid it is a JWT naming who the sweeper runs as."""
    if oid is None:
        return "model-graph-token"
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'oid': oid, 'tid': TENANT})}.c2ln"


@st.composite
def _graph_value(draw: st.DrawFn, moments: st.SearchStrategy[datetime], created: datetime | None) -> Any:
    """One signInActivity field: a time, Graph's three "no such sign-in" forms, absent, or garbage."""
    how = draw(st.sampled_from(["time"] * 3 + ["absent", "null", "empty", "sentinel", "garbage", "absent"]
                               + ["time"] * 3 + ["absent"]))
    if how == "time":
        t = draw(after(created, moments)) if created and draw(st.booleans()) else draw(moments)
        return _graph_stamp(t, draw(_rarely(".1234567", "", 8)))
    return {"absent": _ABSENT, "null": None, "empty": "", "sentinel": GRAPH_NO_SIGN_IN,
            "garbage": draw(st.sampled_from(GARBAGE))}[how]


@st.composite
def _graph_user(draw: st.DrawFn, moments: st.SearchStrategy[datetime]) -> dict[str, Any]:
    """A user object as `GET /users?$select=...,signInActivity` shows it (id and UPN set by the caller)."""
    guest = draw(_rarely(True, False, 4))
    name = draw(_stem)
    made = draw(st.sampled_from(["time"] * 4 + ["tracking-day", "recording-day", "null", "garbage"] + ["time"] * 4))
    recording = GRAPH_RECORDED_SINCE + timedelta(seconds=draw(st.sampled_from([-86_400, -1, 0, 1, 86_400])))
    created = {"time": draw(moments).replace(microsecond=0), "tracking-day": SUCCESS_TRACKED_SINCE,
               "recording-day": recording}.get(made)
    user: dict[str, Any] = {
        "id": None, "userPrincipalName": None, "displayName": name,
        "accountEnabled": draw(_rarely(False, True)), "userType": "Guest" if guest else "Member",
        "createdDateTime": (_graph_stamp(created) if created else
                            draw(st.sampled_from(GARBAGE)) if made == "garbage" else None),
        "onPremisesSyncEnabled": draw(st.sampled_from([None, None, None, False, True, False, False, False])),
        "externalUserState": draw(st.sampled_from(["Accepted", "Accepted", "PendingAcceptance", None]))
        if guest else None,
    }
    form = draw(st.sampled_from(["object", "object", "object", "absent", "null"]))
    if form == "null":
        user["signInActivity"] = None
    elif form == "object":
        activity = {}
        for key in ("lastSignInDateTime", "lastNonInteractiveSignInDateTime", "lastSuccessfulSignInDateTime"):
            value = draw(_graph_value(moments, created))
            if value is not _ABSENT:
                activity[key] = value
        user["signInActivity"] = activity
    return user


@st.composite
def entra_world(draw: st.DrawFn, min_users: int = 4, max_users: int = 25) -> dict[str, Any]:
    """A tenant: members and guests, role holders (direct and through a role-assignable group),
    synced users, nested exclusion groups, and maybe a user the sweeper runs as (its token's oid)."""
    cfg = draw(config("entra"))
    moments = instants(anchors(cfg), resolution_us=US)
    users = draw(st.lists(_graph_user(moments), min_size=min_users, max_size=max_users))
    for i, user in enumerate(users):
        name = f"{user['displayName']}{i}"
        user["id"] = f"00000000-0000-4000-8000-{i:012d}"
        user["userPrincipalName"] = (f"{name.lower()}_fabrikam.test#EXT#@contoso.test"
                                     if user["userType"] == "Guest" else f"{name}@contoso.test")
    if draw(_rarely(True, False, 15)):  # a tenant where nothing can be read is not measured (rule 8)
        for user in users:
            user["signInActivity"] = {"lastSuccessfulSignInDateTime": draw(st.sampled_from(GARBAGE))}
    ids = [u["id"] for u in users]
    subset = st.lists(st.sampled_from(ids), max_size=2, unique=True)
    holders, role_group, excluded, nested = draw(subset), draw(subset), draw(subset), draw(subset)
    me = draw(_maybe(st.sampled_from(ids)))
    scenario = {"tenant_id": TENANT, "token": _token(me), "licensed": True, "users": users,
                "role_assignments": [{"principalId": p, "roleDefinitionId": ROLE} for p in [*holders, "g-role"]],
                "groups": {"g-role": role_group, "g-exclude": [*excluded, "g-nested"], "g-nested": nested}}
    return {"config": cfg, "scenario": scenario, "self_id": me}


# -- Google Workspace --------------------------------------------------------------------------------

def _google_stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


ORG_UNITS = ("/", "/Sales", "/Service Accounts", "/Service Accounts/bots", "/Service Accounts Legacy",
             "/Contractors", "/Contractors/Temp", "/Contractors/Temp/2024")


@st.composite
def _directory_user(draw: st.DrawFn, moments: st.SearchStrategy[datetime]) -> dict[str, Any]:
    """A user object as users.list returns it (id and primaryEmail set by the caller)."""
    name = draw(_stem)
    created = draw(moments)
    login = draw(st.sampled_from(["time"] * 4 + ["never", "garbage", "never"] + ["time"] * 4 + ["never"]))
    last = {"time": lambda: _google_stamp(draw(after(created, moments))), "never": lambda: GOOGLE_NEVER,
            "garbage": lambda: draw(st.sampled_from(GARBAGE))}[login]()
    return {"id": None, "primaryEmail": name,
            "name": {"givenName": name, "familyName": "User", "fullName": f"{name} User"},
            "isAdmin": draw(_rarely(True, False, 8)), "isDelegatedAdmin": draw(_rarely(True, False, 8)),
            "lastLoginTime": last,
            "creationTime": _google_stamp(created) if draw(_rarely(False, True, 12)) else "2023-02-30T00:00:00.000Z",
            "suspended": draw(_rarely(True, False)), "archived": draw(_rarely(True, False, 12)),
            "orgUnitPath": draw(st.sampled_from(ORG_UNITS)), "customerId": CUSTOMER}


@st.composite
def google_world(draw: st.DrawFn, min_users: int = 4, max_users: int = 25) -> dict[str, Any]:
    """A customer: users with the 1970 "never" sentinel, suspended and archived ones, super and
    delegated admins, org units, and maybe one of them named as the sweeper's admin_subject."""
    cfg = draw(config("google_workspace"))
    moments = instants(anchors(cfg), resolution_us=1000)
    users = draw(st.lists(_directory_user(moments), min_size=min_users, max_size=max_users))
    for i, user in enumerate(users):
        user["id"] = f"1{i:020d}"
        user["primaryEmail"] = f"{user['primaryEmail']}{i}@example.test"
    if draw(_rarely(True, False, 15)):  # nothing readable: not measured (rule 8)
        for user in users:
            user["lastLoginTime"] = draw(st.sampled_from(GARBAGE))
    me = draw(_maybe(st.sampled_from([u["primaryEmail"] for u in users])))
    if me:
        cfg["providers"]["google_workspace"]["admin_subject"] = me.upper() if draw(st.booleans()) else me
    return {"config": cfg, "scenario": {"customer_id": CUSTOMER, "domain": "example.test",
                                        "token": "model-directory-token", "delegated_admin": False,
                                        "users": users}}
