"""An Okta user record into the neutral model: one identity, one ACCOUNT credential.

Statuses (Okta's UserStatus):

- ACTIVE: enabled, judged and acted on (suspend).
- PASSWORD_EXPIRED, LOCKED_OUT, RECOVERY: enabled (the user can still get back in: a new password, an
  unlock, a recovery link), judged, but only reported: Okta suspends only ACTIVE users.
- PROVISIONED: activation pending; the activation link still lets the user in: enabled, reported only.
- STAGED: created, not yet activated (a new hire before the start date, usually): pending like PROVISIONED,
  so enabled and reported only, never counted as disabled: as a people source (#25) it is no leaver.
- SUSPENDED: disabled (already disabled: not a candidate); as a people source it carries its departure,
  dated by `statusChanged` (the last change of status: the suspension).
- DEPROVISIONED: deactivated; never listed (Okta's listing leaves them out) and `refresh` answers None;
  a people source lists them apart (`list_deleted`), dated by `statusChanged` too.

Activity: `lastLogin` when set. Null `lastLogin` is "never signed in", judged by the creation date, or the
activation date when later (a user created long ago but activated last week has had a week, not years).
A date that does not parse is UNKNOWN, never NEVER.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sweeper.kit.times import BadTime, parse_utc
from sweeper.model import Activity, Credential, CredentialKind, Departure, Identity, IdentityKind

ENABLED = frozenset({"ACTIVE", "PASSWORD_EXPIRED", "LOCKED_OUT", "RECOVERY", "PROVISIONED", "STAGED"})
DISABLED = frozenset({"SUSPENDED"})
PENDING = {"PROVISIONED": "through its pending activation", "STAGED": "once it is activated"}
GONE = "DEPROVISIONED"
SUSPENDABLE = "ACTIVE"
OWN = "the sweeper's own identity"


def _time(raw: dict[str, Any], key: str) -> tuple[datetime | None, str | None]:
    """(the time, None), (None, None) when null or absent, or (None, why) when it does not parse."""
    try:
        return parse_utc(raw.get(key), (None, "")), None
    except BadTime as err:
        return None, f"{key} {str(err)[:60]!r} is not a time"


def login_of(raw: dict[str, Any]) -> str:
    profile = raw.get("profile")
    login = profile.get("login") if isinstance(profile, dict) else None
    return login if isinstance(login, str) and login else f"missing-login:{raw.get('id', '?')}"


def credential(raw: dict[str, Any]) -> Credential:
    """The user's one ACCOUNT credential as the record says."""
    status = raw.get("status")
    uid = str(raw.get("id"))
    created, bad_created = _time(raw, "created")
    activated, bad_activated = _time(raw, "activated")
    last, bad_last = _time(raw, "lastLogin")
    enabled = status in ENABLED
    report_only = None
    if enabled and status != SUSPENDABLE:
        report_only = (f"its status is {status}: Okta suspends only ACTIVE users (it can still get in "
                       + PENDING.get(str(status), "once its password is reset or it is unlocked")
                       + "); deactivate it by hand if it should go")
    since = max((t for t in (created, activated) if t is not None), default=None)
    if status not in ENABLED and status not in DISABLED:
        return Credential(CredentialKind.ACCOUNT, uid, True, Activity.UNKNOWN, created,
                          activity_note=f"unknown status {str(status)[:40]!r}: not judged, never acted on")
    if bad_last:
        return Credential(CredentialKind.ACCOUNT, uid, enabled, Activity.UNKNOWN, created, activity_note=bad_last,
                          report_only=report_only)
    if last is not None:
        return Credential(CredentialKind.ACCOUNT, uid, enabled, Activity.SEEN, created, last,
                          activity_note="lastLogin", report_only=report_only)
    if bad_created or bad_activated or created is None:
        why = bad_created or bad_activated or "no creation date"
        return Credential(CredentialKind.ACCOUNT, uid, enabled, Activity.UNKNOWN, created, report_only=report_only,
                          activity_note=f"never signed in (lastLogin null), but {why}: cannot tell for how long")
    note = "never signed in (lastLogin null); judged by " + (
        f"its activation on {since.date()}, later than its creation" if since and since != created else "its creation")
    return Credential(CredentialKind.ACCOUNT, uid, enabled, Activity.NEVER, since, activity_note=note,
                      report_only=report_only)


def departure(raw: dict[str, Any], state: str) -> Departure:
    """Since when the user is `state`: its `statusChanged`, the last change of its status (#25)."""
    since, bad = _time(raw, "statusChanged")
    if since is None:
        return Departure(state, None, note=f"{bad or 'no statusChanged'}: since a date not known")
    return Departure(state, since, note="Okta's statusChanged")


def identity(raw: Any, provider: str, scope: str, *, admins: frozenset[str], skip_admins: bool,
             own: str | None, departures: bool = False) -> Identity:
    """One listed user. A record without an id still becomes an identity, UNKNOWN, so nothing is acted on."""
    if not isinstance(raw, dict):
        raw = {"profile": {"login": f"unreadable record {str(raw)[:40]!r}"}}
    profile: dict[str, Any] = raw["profile"] if isinstance(raw.get("profile"), dict) else {}
    login = login_of(raw)
    uid = raw.get("id")
    created, _ = _time(raw, "created")
    if not isinstance(uid, str) or not uid:
        cred = Credential(CredentialKind.ACCOUNT, f"missing-id:{login}", True, Activity.UNKNOWN,
                          activity_note="the record has no id: it cannot be acted on")
        return Identity(provider, scope, f"missing-id:{login}", login, IdentityKind.MEMBER, True, (cred,),
                        created=created)
    cred = credential(raw)
    privileged = "holds an Okta admin role" if uid in admins else None
    protected = OWN if own is not None and uid == own else (privileged if skip_admins else None)
    names = " ".join(str(profile[k]) for k in ("firstName", "lastName") if isinstance(profile.get(k), str)).strip()
    email = profile.get("email") if isinstance(profile.get("email"), str) else None
    others = tuple(dict.fromkeys(e for e in (email, profile.get("secondEmail"))
                                 if isinstance(e, str) and e and e.lower() != login.lower()))
    left = departure(raw, "suspended") if departures and raw.get("status") == "SUSPENDED" else None
    return Identity(provider, scope, uid, login, IdentityKind.MEMBER, cred.enabled, (cred,), created=created,
                    display_name=names or None, protected_by=protected, owner=email or None,
                    privileged=privileged, emails=others, departure=left)


def deactivated(raw: Any, provider: str, scope: str) -> Identity | None:
    """A DEPROVISIONED user as a people source's deleted account: no credentials, dated by statusChanged."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or raw.get("status") != GONE:
        return None
    profile: dict[str, Any] = raw["profile"] if isinstance(raw.get("profile"), dict) else {}
    email = profile.get("email") if isinstance(profile.get("email"), str) else None
    created, _ = _time(raw, "created")
    return Identity(provider, scope, raw["id"], login_of(raw), IdentityKind.MEMBER, False, (), created=created,
                    owner=email, departure=departure(raw, "deactivated"))
