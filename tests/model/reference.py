"""A reference model of the policy (design.md §2 and §3), for the model-based test.

Written from the design text, not from `sweeper/policy.py` or the adapters: it imports neither. Given
what an emulator will serve (a scenario in raw provider terms: IAM users with their keys and password,
Graph user objects, Directory user objects), the configuration (the same dict the test writes as
sweeper.toml) and `now` (`--as-of`), it says for EVERY credential what the report must show: the
decision, the threshold in days, the whole days inactive and the `credential` column.

The rules, as the design states them:

- Threshold T: kind override (`access_key_inactive_days`, `console_inactive_days`,
  `guest_inactive_days` for Entra guests) > the provider's `inactive_days` > `[policy] inactive_days`.
  A never-used credential is judged by age, over `never_used_days` when that is set.
- "Inactive" is strict: more than T days (exactly T days is still a warning). Warn: more than
  T - warn_days (never less than 0) but not more than T. Days inactive are whole days elapsed.
- SEEN (last use known), NEVER (provably never used: judged from creation), UNKNOWN (never disabled).
- Rule 11: a bound on activity ("used at most at D") that falls before the credential's creation means
  it has not been used since it was created (NEVER). Applied to every recorded last use.
- Protection wins over exclusion; both only replace a disable or a warn (an active protected account is
  not a finding). Disabled credentials are counted, not reported.
- AWS: a report (times cut to the second) lists the credentials; each candidate (disable or warn) is
  re-read live, at full precision, before it is reported, and is then reported under its AccessKeyId.
  Findings that are not candidates keep the report's slot name (README "Known limits").
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

UTC = timezone.utc
DAY = timedelta(days=1)

# decisions
DISABLE, WARN, EXCLUDED, PROTECTED, UNKNOWN = "disable", "warn", "excluded", "protected", "unknown"
ACTIVE, ALREADY_DISABLED = "active", "already_disabled"
FINDINGS = (DISABLE, WARN, EXCLUDED, PROTECTED, UNKNOWN)

# activity states
SEEN, NEVER = "seen", "never"

# Entra: lastSuccessfulSignInDateTime exists only since this day (design.md §3, Entra)
SUCCESS_TRACKED_SINCE = datetime(2023, 12, 1, tzinfo=UTC)
GRAPH_NO_SIGN_IN = (None, "", "0001-01-01T00:00:00Z")  # Graph's forms of "no such sign-in"
# Entra: Graph's sign-in record begins in April 2020 (non-interactive sign-ins: May 2020), and
# createdDateTime is null for some users created before June 2018 (Graph's user and signInActivity
# reference). So "no sign-in on record" for an account that existed then is a last use at most
# 2020-05-01, and a null createdDateTime is a creation at most 2018-06-01.
GRAPH_RECORDED_SINCE = datetime(2020, 5, 1, tzinfo=UTC)
GRAPH_CREATED_NULL_BEFORE = datetime(2018, 6, 1, tzinfo=UTC)
GRAPH_SUCCESS = "lastSuccessfulSignInDateTime"
GRAPH_ATTEMPTS = ("lastSignInDateTime", "lastNonInteractiveSignInDateTime")
# Google: lastLoginTime of a user who never signed in
GOOGLE_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# AWS: the credential report's root row, and what the emulator serves when a scenario gives no root
AWS_ROOT = "<root_account>"
AWS_ROOT_DEFAULT = {"created": "2015-01-01T00:00:00+00:00", "password_last_used": None}


# -- activity -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Activity:
    state: str  # SEEN | NEVER | UNKNOWN
    since: datetime | None = None  # SEEN: the last use; NEVER: the creation


def used(at: datetime, created: datetime | None) -> Activity:
    """Last use `at` (or at most `at`); rule 11 when that is before the credential existed."""
    if created is not None and at < created:
        return never(created)
    return Activity(SEEN, at)


def never(created: datetime | None) -> Activity:
    """Never used: judged by its age, which needs its creation date; without one it is UNKNOWN."""
    return Activity(NEVER, created) if created is not None else Activity(UNKNOWN)


UNREADABLE = Activity(UNKNOWN)


# -- thresholds and the judgement -----------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    """The policy in force for one provider, read from the config dict by the design's key names."""

    inactive_days: int
    warn_days: int
    never_used_days: int | None
    exclude: tuple[str, ...]
    overrides: dict[str, int]  # access_key | console_password | guest -> days

    @classmethod
    def of(cls, config: dict[str, Any], provider: str) -> Rules:
        policy, section = config.get("policy", {}), config["providers"][provider]

        def pick(key: str, default: Any) -> Any:
            return section[key] if section.get(key) is not None else policy.get(key, default)

        overrides = {"access_key": section.get("access_key_inactive_days"),
                     "console_password": section.get("console_inactive_days"),
                     "guest": section.get("guest_inactive_days")}
        return cls(pick("inactive_days", 90), pick("warn_days", 14), pick("never_used_days", None),
                   tuple(policy.get("exclude", ())) + tuple(section.get("exclude", ())),
                   {k: v for k, v in overrides.items() if v})

    def threshold(self, kind: str, guest: bool = False) -> int:
        if kind in self.overrides:
            return self.overrides[kind]
        if guest and "guest" in self.overrides:
            return self.overrides["guest"]
        return self.inactive_days

    def excluded_login(self, login: str) -> bool:
        return any(fnmatch.fnmatchcase(login.lower(), glob.lower()) for glob in self.exclude)


@dataclass(frozen=True, order=True)
class Outcome:
    """One credential as the report must show it (active and already disabled ones are not shown)."""

    identity: str  # the login
    credential: str  # the report's `credential` column
    decision: str
    threshold_days: int
    days_inactive: int | None

    @property
    def row(self) -> tuple[str, str, str, int, int | None]:
        return (self.identity, self.credential, self.decision, self.threshold_days, self.days_inactive)


def judge(activity: Activity, now: datetime, rules: Rules, threshold: int, *, enabled: bool = True,
          shield: str | None = None, excluded: bool = False) -> tuple[str, int, int | None]:
    """(decision, threshold_days, days_inactive) for one credential."""
    if not enabled:
        return ALREADY_DISABLED, threshold, None
    if activity.state == UNKNOWN:
        return UNKNOWN, threshold, None
    window = rules.never_used_days if activity.state == NEVER and rules.never_used_days else threshold
    idle = now - activity.since
    days = max(idle // DAY, 0)
    if idle > window * DAY:
        verdict = DISABLE
    elif rules.warn_days and idle > max(window - rules.warn_days, 0) * DAY:
        verdict = WARN
    else:
        return ACTIVE, window, days
    if shield:
        return PROTECTED, window, days
    if excluded:
        return EXCLUDED, window, days
    return verdict, window, days


@dataclass
class Scope:
    """What the report must say about one provider scope."""

    provider: str
    scope: str
    identities: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    measured: bool = False  # some credential has activity data (rule 8)

    @property
    def credentials(self) -> int:
        return len(self.outcomes)

    @property
    def status(self) -> str:
        return "ok" if self.measured or not self.outcomes else "not_measured"

    @property
    def findings(self) -> list[Outcome]:
        if self.status != "ok":
            return []
        return [o for o in self.outcomes if o.decision in FINDINGS]

    def count(self, decision: str) -> int:
        return Counter(o.decision for o in self.outcomes)[decision]


def _add(scope: Scope, login: str, label: str, activity: Activity, verdict: tuple[str, int, int | None]) -> None:
    scope.measured |= activity.state != UNKNOWN
    scope.outcomes.append(Outcome(login, label, *verdict))


# -- time values --------------------------------------------------------------------------------

_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


class Unreadable(ValueError):
    pass


def rfc3339(value: Any) -> datetime:
    """An RFC 3339 timestamp with its zone; Unreadable for anything else (naive times included)."""
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise Unreadable(repr(value))
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    offset = timedelta(0) if zone == "Z" else \
        (1 if zone[0] == "+" else -1) * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
    except ValueError:
        raise Unreadable(repr(value)) from None
    return (local - offset).replace(tzinfo=UTC)


def _readable(value: Any) -> datetime | None:
    try:
        return rfc3339(value)
    except Unreadable:
        return None


def _iso(value: str | None) -> datetime | None:
    """A scenario time of the AWS emulator (ISO 8601 as written by the population, always with a zone)."""
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


def _second(when: datetime) -> datetime:
    """The credential report writes times cut down to the whole second."""
    return when.replace(microsecond=0)


def _exact(when: datetime) -> datetime:
    return when


# -- AWS ----------------------------------------------------------------------------------------

def aws(scenario: dict[str, Any], config: dict[str, Any], now: datetime, *,
        key_id: Callable[[str, str, int], str], caller_used: datetime) -> list[Scope]:
    """One scope per account. `key_id(account, user, n)` is the AccessKeyId of the user's n-th key
    (moto makes the ids); `caller_used` is when the sweeper's own key was last used: the sweep itself
    uses it, so it is the real time of the run."""
    rules = Rules.of(config, "aws")
    section = config["providers"]["aws"]
    tags_wanted: dict[str, str] = section.get("exclude_tags", {})
    scopes = []
    for account_id, account in scenario["accounts"].items():
        scope = Scope("aws", account_id)
        callers = [u["name"] for u in account.get("users", []) for k in u.get("keys", []) if k.get("caller")]

        root = {**AWS_ROOT_DEFAULT, **(account.get("root") or {})}
        created = _iso(root["created"])
        last = _iso(root.get("password_last_used"))
        act = used(last, created) if last else never(created)
        scope.identities += 1
        _add(scope, AWS_ROOT, "console_password", act,
             judge(act, now, rules, rules.threshold("console_password"), shield="the AWS root account"))

        for user in account.get("users", []):
            login = user["name"]
            scope.identities += 1
            shield = "the sweeper runs as this user" if login in callers else None
            tags = user.get("tags") or {}
            excluded = rules.excluded_login(login) or any(
                k in tags and (v == "*" or tags[k] == v) for k, v in tags_wanted.items())

            def confirmed(label_listed: str, label_live: str, activity: Callable[[Callable], Activity],
                          threshold: int, enabled: bool = True) -> None:
                listed = activity(_second)
                verdict = judge(listed, now, rules, threshold, enabled=enabled, shield=shield, excluded=excluded)
                label = label_listed
                if verdict[0] in (DISABLE, WARN):  # a candidate: confirmed live before it is reported
                    verdict = judge(activity(_exact), now, rules, threshold, enabled=enabled)
                    label = label_live
                _add(scope, login, label, listed, verdict)

            # the console password: no login profile means already disabled
            password = user.get("password")
            console = rules.threshold("console_password")
            if not password:
                _add(scope, login, "console_password", Activity(NEVER), (ALREADY_DISABLED, console, None))
            else:
                set_at = _iso(password.get("created")) or _iso(user["created"])
                last_sign_in = _iso(password.get("last_used"))
                # a password set (reset) after the last sign-in has not been used since it was set
                confirmed("console_password", "console_password",
                          lambda cut, s=set_at, u=last_sign_in: used(cut(u), cut(s)) if u else never(cut(s)),
                          console)

            # each access key on its own; a key never used is judged from its creation
            for n, key in enumerate(user.get("keys", []), start=1):
                made = _iso(key["created"])
                last_use = caller_used if key.get("caller") else _iso(key.get("last_used"))
                confirmed(f"access_key:access_key_{n}", f"access_key:{key_id(account_id, login, n)}",
                          lambda cut, m=made, u=last_use: used(cut(u), cut(m)) if u else never(cut(m)),
                          rules.threshold("access_key"), enabled=key.get("status", "Active") == "Active")
        scopes.append(scope)
    return scopes


# -- Entra ----------------------------------------------------------------------------------------

_ABSENT = object()


def _graph_time(value: Any) -> datetime | None:
    """None for Graph's "no such sign-in" forms; Unreadable for a value that does not parse."""
    if value in GRAPH_NO_SIGN_IN:
        return None
    return rfc3339(value)


def entra_activity(user: dict[str, Any], created: datetime | None) -> Activity:
    """The last SUCCESSFUL sign-in of a Graph user object (design.md §3, Entra)."""
    created_null = "createdDateTime" in user and user["createdDateTime"] is None

    def never_used() -> Activity:  # judged by creation; a null createdDateTime is a creation bound
        return Activity(SEEN, GRAPH_CREATED_NULL_BEFORE) if created is None and created_null else never(created)

    def nothing_on_record() -> Activity:  # no sign-in since the record began: at most that day
        return UNREADABLE if created is None and not created_null else used(GRAPH_RECORDED_SINCE, created)

    if user.get("userType") == "Guest" and user.get("externalUserState") == "PendingAcceptance":
        return never_used()  # an invitation never redeemed
    sign_ins = user.get("signInActivity")
    if sign_ins is None:  # the property absent or null
        return nothing_on_record()
    try:
        success = _graph_time(sign_ins[GRAPH_SUCCESS]) if GRAPH_SUCCESS in sign_ins else _ABSENT
        if isinstance(success, datetime):
            return used(success, created)
        attempts = [t for t in (_graph_time(sign_ins.get(k)) for k in GRAPH_ATTEMPTS) if t is not None]
    except Unreadable:
        return UNREADABLE
    if not attempts:
        return nothing_on_record()
    if success is _ABSENT:
        if created is not None and created > SUCCESS_TRACKED_SINCE:
            return never(created)  # success would have been recorded: there was none
        # The last success is at most min(latest attempt, 2023-12-01). With no creation date this is
        # still a true bound: an account made after that day never signed in successfully at all.
        return used(min(max(attempts), SUCCESS_TRACKED_SINCE), created)
    # Success recorded as "no such sign-in": attempts since tracking began failed and are not
    # activity; an attempt before then may have succeeded, so the last success is at most that.
    before = [t for t in attempts if t < SUCCESS_TRACKED_SINCE]
    return used(max(before), created) if before else never_used()


def _members(groups: dict[str, list[str]], group: str) -> set[str]:
    """Transitive members of a group (nested groups followed)."""
    out: set[str] = set()
    todo = list(groups.get(group, []))
    while todo:
        m = todo.pop()
        if m not in out:
            out.add(m)
            todo.extend(groups.get(m, []))
    return out


def entra(scenario: dict[str, Any], config: dict[str, Any], now: datetime, *,
          self_id: str | None = None) -> Scope:
    """`self_id`: the object id the sweeper runs as (its token's oid), if any."""
    rules = Rules.of(config, "entra")
    section = config["providers"]["entra"]
    groups = scenario.get("groups", {})
    holders: set[str] = set()
    if section.get("skip_role_holders", True):
        for assignment in scenario.get("role_assignments", []):
            holders.add(assignment["principalId"])
            holders |= _members(groups, assignment["principalId"])  # a role-assignable group's members
    excluded_ids = set().union(*(_members(groups, g) for g in section.get("exclude_groups", [])))
    scope = Scope("entra", scenario["tenant_id"])
    for user in scenario["users"]:
        uid, login = user["id"], user["userPrincipalName"]
        scope.identities += 1
        created = _readable(user.get("createdDateTime"))
        act = entra_activity(user, created)
        shield = ("the sweeper's own identity" if uid == self_id else
                  "holds a directory role" if uid in holders else
                  "synced from on-premises" if section.get("skip_synced", True)
                  and user.get("onPremisesSyncEnabled") is True else None)
        excluded = uid in excluded_ids or rules.excluded_login(login)
        threshold = rules.threshold("account", guest=user.get("userType") == "Guest")
        _add(scope, login, "account", act, judge(act, now, rules, threshold, enabled=user["accountEnabled"],
                                                 shield=shield, excluded=excluded))
    return scope


# -- Google Workspace -------------------------------------------------------------------------------

def google_activity(user: dict[str, Any], created: datetime | None) -> Activity:
    last = _readable(user.get("lastLoginTime"))
    if last is None:
        return UNREADABLE
    if last == GOOGLE_NEVER:
        return never(created)
    return used(last, created)


def _in_unit(path: str, unit: str) -> bool:
    """Org units match by path: `/Service Accounts` covers `/Service Accounts/bots`, not
    `/Service Accounts Legacy` (README, config.example.toml)."""
    unit = unit.rstrip("/") or "/"
    return unit == "/" or path == unit or path.startswith(unit + "/")


def google(scenario: dict[str, Any], config: dict[str, Any], now: datetime) -> Scope:
    rules = Rules.of(config, "google_workspace")
    section = config["providers"]["google_workspace"]
    me = (section.get("admin_subject") or "").lower()
    scope = Scope("google_workspace", scenario["customer_id"])
    for user in scenario["users"]:
        login = user["primaryEmail"]
        scope.identities += 1
        created = _readable(user.get("creationTime"))
        act = google_activity(user, created)
        admins = section.get("skip_admins", True)
        shield = ("the sweeper's own identity" if me and login.lower() == me else
                  "super admin" if admins and user.get("isAdmin") else
                  "delegated admin" if admins and user.get("isDelegatedAdmin") else None)
        excluded = rules.excluded_login(login) or any(
            _in_unit(user.get("orgUnitPath", "/"), unit) for unit in section.get("exclude_org_units", []))
        enabled = not (user.get("suspended") or user.get("archived"))
        _add(scope, login, "account", act, judge(act, now, rules, rules.threshold("account"), enabled=enabled,
                                                 shield=shield, excluded=excluded))
    return scope
