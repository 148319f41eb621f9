"""Raw Directory user objects → neutral `Identity`/`Credential`. Pure functions, no I/O.

A malformed record never raises: it becomes an identity whose one credential is UNKNOWN with a note,
so the core reports it and never disables it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sweeper.kit.times import BadTime, parse_utc
from sweeper.model import Activity, Credential, CredentialKind, Identity, IdentityKind

if TYPE_CHECKING:
    from providers.google_workspace.usage import Usage

PROVIDER = "google_workspace"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
NEVER_SIGNED_IN = frozenset((None, "", EPOCH))  # the forms lastLoginTime takes for a user who never signed in
SELF = "the sweeper's own identity"
USER_FIELDS = ("id,primaryEmail,name/fullName,isAdmin,isDelegatedAdmin,lastLoginTime,creationTime,"
               "suspended,archived,orgUnitPath,customerId,aliases,nonEditableAliases")
LIST_FIELDS = f"nextPageToken,users({USER_FIELDS})"


@dataclass(frozen=True, slots=True)
class Rules:
    """What the mapping needs from settings: org-unit exclusions, admin protection, who we are."""

    exclude_org_units: tuple[str, ...] = ()
    skip_admins: bool = True
    self_email: str | None = None

    @classmethod
    def of(cls, exclude_org_units: list[str], skip_admins: bool, self_email: str | None) -> Rules:
        units = tuple(u.rstrip("/") or "/" for u in exclude_org_units)
        return cls(units, skip_admins, self_email.lower() if self_email else None)

    def excluded_by(self, path: str) -> str | None:
        """Match by path segment: /Service Accounts covers /Service Accounts/bots, not /Service Accounts Legacy.

        Case-insensitive: a near-miss should exclude (safe) rather than disable."""
        low = path.casefold()
        for unit in self.exclude_org_units:
            u = unit.casefold()
            if u == "/" or low == u or low.startswith(u + "/"):
                return f"org unit {unit}"
        return None


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as aware UTC; None when it is not one (naive values included)."""
    try:
        return parse_utc(value)
    except BadTime:
        return None


def _activity(raw: dict[str, Any], created: datetime | None) -> tuple[Activity, datetime | None, str | None]:
    value = raw.get("lastLoginTime")
    try:
        last = parse_utc(value, NEVER_SIGNED_IN)
    except BadTime:
        return Activity.UNKNOWN, None, f"lastLoginTime {str(value)[:40]!r} is not a timestamp"
    if last is not None:
        return Activity.SEEN, last, None
    if created is None:
        return Activity.UNKNOWN, None, "never signed in, but creationTime is missing or unreadable"
    return Activity.NEVER, None, "never signed in"


def _problems(raw: dict[str, Any], rules: Rules) -> list[str]:
    """Fields missing or of the wrong type: each would make a judgement unsafe."""
    bad = ["isAdmin"] if rules.skip_admins and "isAdmin" not in raw else []  # the API always sends it
    bad += [name for name in ("isAdmin", "isDelegatedAdmin", "suspended", "archived")
           if name in raw and not isinstance(raw[name], bool)]
    if "orgUnitPath" in raw and not isinstance(raw["orgUnitPath"], str):
        bad.append("orgUnitPath")
    if not isinstance(raw.get("primaryEmail"), str) or not raw["primaryEmail"]:
        bad.append("primaryEmail")
    return bad


def _privilege(raw: dict[str, Any]) -> str | None:
    """Why the user is privileged (for rules, #26): a super admin or a delegated admin."""
    if raw.get("isAdmin") is True:
        return "super admin"
    if raw.get("isDelegatedAdmin") is True:
        return "delegated admin"
    return None


def _protection(raw: dict[str, Any], login: str, rules: Rules) -> str | None:
    if rules.self_email and login.lower() == rules.self_email:
        return SELF
    return _privilege(raw) if rules.skip_admins else None


def credential(raw: dict[str, Any], rules: Rules) -> Credential:
    """The one `account` credential of a user object (also what `refresh` returns)."""
    return identity(raw, "", rules).credentials[0]


def identity(raw: object, scope: str, rules: Rules, position: int = 0, usage: Usage | None = None,
             provider: str = PROVIDER) -> Identity:
    """Map one raw user; `position` names records that have nothing else to name them by. With `usage`
    (the usage reports read), the last use is the newest of lastLoginTime and the reports'. `provider`
    is the adapter's name (`google_workspace:acme` for a named instance)."""
    if not isinstance(raw, dict):
        rid = f"unreadable-record-{position}"
        cred = Credential(CredentialKind.ACCOUNT, rid, True, Activity.UNKNOWN,
                          activity_note=f"the API returned a {type(raw).__name__} instead of a user object")
        return Identity(provider, scope, rid, rid, IdentityKind.MEMBER, True, (cred,))
    uid, email = raw.get("id"), raw.get("primaryEmail")
    login = email if isinstance(email, str) and email else (uid if isinstance(uid, str) and uid else None)
    problems = _problems(raw, rules)
    if not isinstance(uid, str) or not uid:
        # Never an id that could address a real user: this record cannot be acted upon.
        uid = f"missing-id:{login or position}"
        problems.insert(0, "id")
    login = login or uid
    created = parse_time(raw.get("creationTime"))
    activity, last_used, note = _activity(raw, created)
    if problems:
        activity, last_used = Activity.UNKNOWN, None
        note = f"malformed user record: {', '.join(problems)} missing or of the wrong type"
    if usage is not None:
        activity, last_used, note = usage.judge(uid, login, activity, last_used, note)
    enabled = not (raw.get("suspended") is True or raw.get("archived") is True)
    ou = raw.get("orgUnitPath") if isinstance(raw.get("orgUnitPath"), str) else None
    protected = _protection(raw, login, rules)
    name = raw.get("name")
    display = name.get("fullName") if isinstance(name, dict) and isinstance(name.get("fullName"), str) else None
    cred = Credential(CredentialKind.ACCOUNT, uid, enabled, activity, created, last_used, note,
                      protected_by=protected)
    return Identity(provider, scope, uid, login, IdentityKind.MEMBER, enabled, (cred,), created, display,
                    org_unit=ou, excluded_by=rules.excluded_by(ou) if ou else None, protected_by=protected,
                    privileged=_privilege(raw),
                    exclusion_unknown=None if ou or not rules.exclude_org_units else
                    "the user record has no orgUnitPath, so exclude_org_units cannot be checked",
                    owner=login if "@" in login else None,  # primaryEmail: where the user's notices go
                    emails=addresses(raw, login))


def addresses(raw: dict[str, Any], login: str) -> tuple[str, ...]:
    """The user's other addresses (#25, linking people): `aliases`, then `nonEditableAliases` (the
    domain aliases Google adds, e.g. alice@acme.test-alias.com), each once whatever its case, never
    the primary address again."""
    found: dict[str, str] = {login.casefold(): ""}
    for key in ("aliases", "nonEditableAliases"):
        values = raw.get(key)
        for value in values if isinstance(values, list) else ():
            if isinstance(value, str) and "@" in value:
                found.setdefault(value.strip().casefold(), value.strip())
    return tuple(v for v in found.values() if v)
