"""Graph user objects (raw JSON dicts) mapped into the neutral model.

Activity is the last SUCCESSFUL sign-in. Graph records `lastSuccessfulSignInDateTime` only since
2023-12-01; before that `lastSignInDateTime` held attempts, successful or not. So:

- a parsed success time is SEEN at that time, whatever the (possibly failed) attempts say;
- success field absent, attempts present, account created before 2023-12-01: the last success is at
  most min(latest attempt, 2023-12-01); for a newer account an absent field is like an empty one;
- success field empty (null, "", 0001-01-01) while attempts exist: attempts after 2023-12-01 failed
  (sprayed, dormant account) and are not activity; an attempt before then may have succeeded;
- no sign-in on record at all: see below; an unparseable value is UNKNOWN, never NEVER.

Graph records sign-ins only since April 2020 (non-interactive ones since May 2020): it leaves
`signInActivity` out, or blank, for a user with none since. And `createdDateTime` is null for some
users created before June 2018. Those are upper bounds, judged like the 2023-12-01 one:

- nothing on record, account created after 2020-05-01: NEVER, judged by createdDateTime;
- nothing on record, account created by 2020-05-01 or createdDateTime null: SEEN at most 2020-05-01;
- another "never" reading (an invitation never redeemed, only failed attempts) with createdDateTime
  null: created, and so last active, at most 2018-06-01 (SEEN at that bound, the reason says so);
- createdDateTime absent or unparseable where the judgement needs it: UNKNOWN.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sweeper.kit.times import BadTime, parse_utc
from sweeper.model import Activity, Credential, CredentialKind, Identity, IdentityKind

SELECT = ("id,userPrincipalName,mail,proxyAddresses,displayName,accountEnabled,userType,createdDateTime,"
          "onPremisesSyncEnabled,externalUserState,signInActivity")
SUCCESS_SINCE = datetime(2023, 12, 1, tzinfo=timezone.utc)
SUCCESS = "lastSuccessfulSignInDateTime"
ATTEMPTS = ("lastSignInDateTime", "lastNonInteractiveSignInDateTime")
NO_SIGN_IN = frozenset((None, "", "0001-01-01T00:00:00Z"))  # Graph's "no such sign-in" forms
# Where Graph's sign-in record begins. msgraph-sdk's generated models carry the v1.0 reference text:
# User.signInActivity "isn't returned for a user who never signed in or last signed in before April 2020";
# SignInActivity: Entra ID "maintains interactive sign-ins going back to April 2020" and "non-interactive
# sign-ins going back to May 2020". Entra's "How to detect and investigate inactive user accounts"
# (MicrosoftDocs/entra-docs, docs/identity/monitoring-health/howto-manage-inactive-user-accounts.md):
# lastSignInDateTime "might be blank if the last attempted sign-in of a user took place before April 2020"
# or the account "was never used for a sign-in attempt". A last sign-in that was non-interactive in April
# 2020 is not on record either, so "nothing on record" bounds the last sign-in by the later month.
RECORDED_SINCE = datetime(2020, 5, 1, tzinfo=timezone.utc)
# User.createdDateTime (same source): "Property is null for some users created before June 2018 and
# on-premises users that were synced to Microsoft Entra ID before June 2018." Only JSON null says that.
CREATED_NULL_BEFORE = datetime(2018, 6, 1, tzinfo=timezone.utc)
YEAR_TWO = date(2, 1, 1)  # any time Graph writes in year 1 is its "no such sign-in" too
_MISSING = object()


def parse_time(value: Any) -> datetime | None:
    """A Graph timestamp as aware UTC; None for Graph's "no such sign-in" forms; BadTime otherwise."""
    return _utc(value) or parse_utc(value, NO_SIGN_IN, floor=YEAR_TWO)


def _utc(value: Any) -> datetime | None:
    """The common case of parse_time, cheaply: a time Graph wrote in UTC ("...Z"), which fromisoformat
    reads with timezone.utc itself, so it is what parse_utc returns (for a year past the floor). None
    for anything else, which then takes parse_utc's full path."""
    if type(value) is not str or value in NO_SIGN_IN:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is timezone.utc and when.year >= YEAR_TWO.year else None


def _day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Seen:
    activity: Activity
    last_used: datetime | None = None
    note: str | None = None


NOTHING = Seen(Activity.NEVER)  # no sign-in on record at all: what it proves depends on the account's age


def sign_in(raw: Any, created: datetime | None = None) -> Seen:
    """Judge a `signInActivity` value (or _MISSING when the property is absent); NOTHING when it holds
    no sign-in at all (`credential_activity` bounds that by the account's age).

    An absent success field means "at most 2023-12-01" only for accounts that existed then; for a
    newer account it is read like the other "no such sign-in" forms (null, "", 0001-01-01).
    """
    if raw is _MISSING or raw is None:
        return NOTHING
    if not isinstance(raw, dict):
        return Seen(Activity.UNKNOWN, note=f"signInActivity is not an object: {raw!r:.60}")
    try:
        success = parse_time(raw[SUCCESS]) if SUCCESS in raw else _MISSING
    except BadTime as err:
        return Seen(Activity.UNKNOWN, note=f"{SUCCESS} does not parse: {err}")
    if isinstance(success, datetime):
        return Seen(Activity.SEEN, success)
    try:
        attempts = [t for t in (parse_time(raw.get(k)) for k in ATTEMPTS) if t is not None]
    except BadTime as err:
        return Seen(Activity.UNKNOWN, note=f"a sign-in attempt time does not parse: {err}")
    if not attempts:
        return NOTHING
    latest = max(attempts)
    if success is _MISSING and (created is None or created <= SUCCESS_SINCE):
        last = min(latest, SUCCESS_SINCE)
        return Seen(Activity.SEEN, last, f"Graph gave no {SUCCESS} (recorded since {_day(SUCCESS_SINCE)}); "
                    f"last sign-in attempt {_day(latest)}, so the last success is at most {_day(last)}")
    before = [t for t in attempts if t < SUCCESS_SINCE]
    if before:
        return Seen(Activity.SEEN, max(before), f"no successful sign-in since {_day(SUCCESS_SINCE)}; the attempt "
                    f"on {_day(max(before))} predates success tracking and may have succeeded")
    return Seen(Activity.NEVER, note=f"no successful sign-in; failed attempts (latest {_day(latest)}) "
                "are not activity")


def to_identity(user: dict[str, Any], scope: str, *, protect: dict[str, str], exclude: dict[str, str],
                skip_synced: bool, self_id: str | None = None, position: str = "",
                provider: str = "entra") -> Identity:
    """One user dict → Identity with one `account` credential. Never raises on a malformed record.

    `protect` / `exclude` map user ids to reasons (role holders; group members). `self_id` is the
    user the sweeper runs as, if it runs as a user: its account is protected. `provider` is the
    adapter's name (`entra:contoso` for a named instance).
    """
    uid = user.get("id")
    uid = uid if isinstance(uid, str) and uid else None
    notes: list[str] = [] if uid else ["user without an id"]
    uid = uid or f"missing-id{position}"
    login = user.get("userPrincipalName") if isinstance(user.get("userPrincipalName"), str) else None
    if not login:
        notes.append("user without a userPrincipalName")
    try:
        created = parse_time(user.get("createdDateTime"))
    except BadTime:
        created = None
    enabled = user.get("accountEnabled")
    if not isinstance(enabled, bool):
        notes.append(f"accountEnabled is {enabled!r:.40}")
    success = None if notes else _plain_success(user)
    last_used: datetime | None
    if success is not None:  # nearly every user: what credential_activity says, without its checks
        activity, last_used, note = Activity.SEEN, success, None
    else:
        seen = credential_activity(user, created)
        if notes:
            seen = Seen(Activity.UNKNOWN, seen.last_used, "; ".join(notes + [seen.note] if seen.note else notes))
        activity, last_used, note = seen.activity, seen.last_used, seen.note
    own = "the sweeper's own identity" if self_id and uid == self_id else None
    protected = own or protect.get(uid)
    if not protected and skip_synced and user.get("onPremisesSyncEnabled") is True:
        protected = "synced from on-premises AD (Entra Connect would re-enable it)"
    cred = Credential(CredentialKind.ACCOUNT, uid, enabled is not False, activity, created, last_used, note,
                      protected_by=own)
    name = user.get("displayName")
    kind = IdentityKind.GUEST if user.get("userType") == "Guest" else IdentityKind.MEMBER
    return Identity(provider, scope, uid, login or uid, kind, enabled is not False, (cred,), created,
                    name if isinstance(name, str) else None, excluded_by=exclude.get(uid), protected_by=protected,
                    owner=owner_address(user), privileged=protect.get(uid), emails=addresses(user, login))


def _plain_success(user: dict[str, Any]) -> datetime | None:
    """The last successful sign-in when Graph gave it as a UTC time, for a user who is not a pending
    guest: SEEN at that time, whatever else the record says (see `sign_in`). None: ask
    `credential_activity`."""
    raw = user.get("signInActivity")
    if type(raw) is not dict or user.get("userType") == "Guest" and user.get("externalUserState") == "PendingAcceptance":
        return None
    return _utc(raw.get(SUCCESS))


def addresses(user: dict[str, Any], login: str | None) -> tuple[str, ...]:
    """Every address the user is known by besides its login (#25, linking people): `mail`, then the SMTP
    addresses of `proxyAddresses` ("SMTP:" the primary, "smtp:" the secondary ones; other kinds, such as
    "SIP:" or "X500:", are not mail), each once whatever its case, as Graph gives them."""
    found: dict[str, str] = {}
    if login:
        found[login.casefold()] = ""
    mail = user.get("mail")
    candidates = [mail] if isinstance(mail, str) else []
    proxies = user.get("proxyAddresses")
    if isinstance(proxies, list):
        candidates += [p[5:] for p in proxies if isinstance(p, str) and p[:5].lower() == "smtp:"]
    for value in candidates:
        value = value.strip()
        if "@" in value:
            found.setdefault(value.casefold(), value)
    return tuple(v for v in found.values() if v)


def owner_address(user: dict[str, Any]) -> str | None:
    """Where the user's notices go: `mail`, else the UPN when it is a deliverable address (a guest's
    UPN, alias#EXT#@tenant, is not)."""
    for value in (user.get("mail"), user.get("userPrincipalName")):
        if isinstance(value, str) and "@" in value and "#EXT#" not in value.upper():
            return value
    return None


def credential_activity(user: dict[str, Any], created: datetime | None) -> Seen:
    """Activity of a user's account, with the guest-invitation, sign-in record and createdDateTime rules
    applied. `created` is the parsed createdDateTime (None when null, absent or unparseable)."""
    raw_created = user.get("createdDateTime", _MISSING)
    created_null = created is None and raw_created is None  # documented: created before June 2018
    if user.get("userType") == "Guest" and user.get("externalUserState") == "PendingAcceptance":
        seen = Seen(Activity.NEVER, note="guest invitation never redeemed")
    else:
        seen = sign_in(user.get("signInActivity", _MISSING), created)
    if seen.activity is not Activity.NEVER or (created is not None and created > RECORDED_SINCE):
        return seen
    if seen is NOTHING and (created is not None or created_null):
        existed = _CREATED_NULL if created is None else f"the account was created {_day(created)}"
        return Seen(Activity.SEEN, RECORDED_SINCE, f"no sign-in on record, and {_RECORDED}; {existed}, so the last "
                    f"sign-in, if any, is at most {_day(RECORDED_SINCE)}")
    if created is not None:
        return seen
    if created_null:
        return Seen(Activity.SEEN, CREATED_NULL_BEFORE, f"{seen.note or 'never signed in'}, and {_CREATED_NULL}, "
                    "so it has not been used since then")
    why = "is missing" if raw_created is _MISSING else f"does not parse: {raw_created!r:.40}"
    said = "no sign-in on record" if seen is NOTHING else seen.note or "never signed in"
    return Seen(Activity.UNKNOWN, None, f"{said}, and createdDateTime {why}")


_CREATED_NULL = ("createdDateTime is null, which Graph documents for some users created before "
                 f"{_day(CREATED_NULL_BEFORE)}")
_RECORDED = "Graph keeps sign-ins only since April 2020, non-interactive ones since May 2020"
