"""What an organisation's members last did: one paged scan of the audit log, the SAML credential
authorizations and the Copilot seats, read once per organisation and looked up per member.

The audit log reaches back `audit_log_days` (GitHub keeps web events about 180 days, Git events 7), but
only as far as it holds events: an organisation that got its audit log (or was created) last month has
none older. So the scan covers from the later of the window's start and its oldest event, and a member
with no event in it has been active at most at that start, as far as the audit log can tell, and is
judged at that bound (SEEN at the bound, the reason saying so); with no event at all in the window the
audit log tells nothing, and such a member is UNKNOWN (kept). A member whose joining
(`org.add_member`) is in the window joined then: the bound falls before it, so the core judges them as
never active since joining, by that date (design rule 11). A time that cannot be read makes the member
UNKNOWN, never old.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sweeper.errors import NotFound, NotMeasured, PermissionDenied
from sweeper.kit.times import Unreadable, parse_utc
from sweeper.model import Activity

from providers.github.client import PROVIDER, GitHubClient

PER_PAGE = 100
AUDIT_NEEDS = ("GitHub Enterprise Cloud, and an organisation owner's token with read:audit_log (a GitHub App: "
               "organization permission Administration: read)")


def _day(when: datetime) -> str:
    return when.date().isoformat()


@dataclass
class Signal:
    when: datetime
    what: str  # names the signal in the reason


@dataclass
class Signals:
    """Newest activity per user (by lower-case login and by numeric id) in one organisation."""

    window_start: datetime
    newest: dict[str, Signal] = field(default_factory=dict)  # audit-log events, by actor
    joined: dict[str, datetime] = field(default_factory=dict)  # org.add_member, by the member added
    credentials: dict[str, Signal] = field(default_factory=dict)
    copilot: dict[str, Signal] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    events: int = 0
    oldest: datetime | None = None  # the oldest readable event: the audit log covers from here on

    @property
    def covered_from(self) -> datetime | None:
        """Where the scan's evidence starts: the window's start, or its oldest event if later."""
        return None if self.oldest is None else max(self.window_start, self.oldest)

    def judge(self, login: str, user_id: str) -> tuple[Activity, datetime | None, datetime | None, str]:
        """(activity, last_used, created, note) for one member."""
        keys = (login.lower(), f"#{user_id}")
        for key in keys:
            if key in self.unreadable:
                return Activity.UNKNOWN, None, None, self.unreadable[key]
        found = [s for table in (self.newest, self.credentials, self.copilot) for k in keys
                 if (s := table.get(k)) is not None]
        joined = next((self.joined[k] for k in keys if k in self.joined), None)
        if not any(k in self.newest for k in keys):
            start = self.covered_from
            if start is None and not found:
                return (Activity.UNKNOWN, None, joined, f"the audit log holds no event since "
                        f"{_day(self.window_start)}: it cannot tell when this member was last active")
            if start is not None:
                why = "the start of the scanned window" if start == self.window_start else "its oldest event"
                found.append(Signal(start, f"no audit-log event since {_day(start)} ({why}): last active at most "
                                           "then"))
        best = max(found, key=lambda s: s.when)
        note = best.what if joined is None else f"{best.what}; joined the organisation {_day(joined)}"
        return Activity.SEEN, best.when, joined, note


def _newer(table: dict[str, Signal], keys: tuple[str, ...], signal: Signal) -> None:
    for key in keys:
        held = table.get(key)
        if held is None or signal.when > held.when:
            table[key] = signal


def _epoch_ms(value: Any) -> datetime:
    if type(value) not in (int, float) or value != value:
        raise Unreadable(repr(value)[:40])
    try:
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise Unreadable(repr(value)[:40]) from None


def scan(client: GitHubClient, settings: Any, org: str, now: datetime) -> Signals:
    """Read the three sources for `org`. Raises NotMeasured when the audit log cannot be read."""
    start = now - timedelta(days=settings.audit_log_days)
    signals = Signals(start)
    _audit(client, settings, org, signals)
    if settings.credential_authorizations:
        _optional(signals, "SAML credential authorizations", lambda: _credentials(client, settings, org, signals))
    if settings.copilot_seats:
        _optional(signals, "Copilot seats", lambda: _copilot(client, settings, org, signals))
    return signals


def _optional(signals: Signals, what: str, read: Any) -> None:
    try:
        read()
    except (NotFound, PermissionDenied) as err:
        signals.notes.append(f"{what} not read (HTTP {err.status}: {err.detail}); activity from the other sources")


def _audit(client: GitHubClient, settings: Any, org: str, signals: Signals) -> None:
    enterprise = getattr(settings, "enterprise", None)
    phrase = f"created:>={_day(signals.window_start)}"
    path = f"/orgs/{org}/audit-log"
    if enterprise:
        path, phrase = f"/enterprises/{enterprise}/audit-log", f"org:{org} {phrase}"
    operation = f"read the audit log of {org}"
    params = {"phrase": phrase, "include": settings.audit_log_include, "order": "desc", "per_page": PER_PAGE}
    listing = settings.listing(PROVIDER, operation)
    try:
        first = client.call("GET", path, operation, org=org, params=params, deadline=listing)
    except (PermissionDenied, NotFound) as err:
        raise NotMeasured(PROVIDER, operation, f"the audit log of {org} cannot be read (HTTP {err.status}: it needs "
                          f"{AUDIT_NEEDS}); activity is never guessed from public events") from err
    for page in client.pages(path, operation, listing, org=org, params=params, first=first):
        for event in page:
            signals.events += 1
            _event(event, signals)


def _event(event: Any, signals: Signals) -> None:
    if not isinstance(event, dict):
        return
    actor, actor_id = event.get("actor"), event.get("actor_id")
    keys = tuple(k for k in ((actor.lower() if isinstance(actor, str) else None),
                             (f"#{actor_id}" if isinstance(actor_id, int) else None)) if k)
    action = str(event.get("action", "an event"))[:80]
    try:
        when = _epoch_ms(event.get("@timestamp", event.get("created_at")))
    except Unreadable as err:
        for key in keys:
            signals.unreadable[key] = f"an audit-log event ({action}) has a time that cannot be read ({err})"
        return
    if signals.oldest is None or when < signals.oldest:
        signals.oldest = when
    if keys:
        _newer(signals.newest, keys, Signal(when, f"audit-log event {action} on {_day(when)}"))
    user = event.get("user")
    if action == "org.add_member" and isinstance(user, str) and when >= signals.window_start:
        key = user.lower()
        if key not in signals.joined or when > signals.joined[key]:
            signals.joined[key] = when


def _credentials(client: GitHubClient, settings: Any, org: str, signals: Signals) -> None:
    operation = f"read the SAML credential authorizations of {org}"
    listing = settings.listing(PROVIDER, operation)
    for page in client.pages(f"/orgs/{org}/credential-authorizations", operation, listing, org=org,
                             params={"per_page": PER_PAGE}):
        for item in page:
            if not isinstance(item, dict) or not isinstance(item.get("login"), str):
                continue
            login, accessed = item["login"].lower(), item.get("credential_accessed_at")
            kind = str(item.get("credential_type", "credential"))[:40]
            try:
                when = parse_utc(accessed, (None, ""))
            except Unreadable as err:
                signals.unreadable[login] = (f"a SAML credential authorization's credential_accessed_at cannot be "
                                             f"read ({err})")
                continue
            if when is not None:
                _newer(signals.credentials, (login,), Signal(when, f"SAML-authorized {kind} used on {_day(when)} "
                                                                   "(credential_accessed_at)"))


def _copilot(client: GitHubClient, settings: Any, org: str, signals: Signals) -> None:
    operation = f"read the Copilot seats of {org}"
    listing = settings.listing(PROVIDER, operation)
    for page in client.pages(f"/orgs/{org}/copilot/billing/seats", operation, listing, org=org,
                             params={"per_page": PER_PAGE}, key="seats"):
        for seat in page:
            assignee = seat.get("assignee") if isinstance(seat, dict) else None
            if not isinstance(assignee, dict) or not isinstance(assignee.get("login"), str):
                continue
            login = assignee["login"].lower()
            try:
                when = parse_utc(seat.get("last_activity_at"), (None, ""))
            except Unreadable as err:
                signals.unreadable[login] = f"a Copilot seat's last_activity_at cannot be read ({err})"
                continue
            if when is not None:
                editor = seat.get("last_activity_editor")
                where = f" in {str(editor)[:60]}" if editor else ""
                _newer(signals.copilot, (login,), Signal(when, f"Copilot used{where} on {_day(when)} "
                                                               "(last_activity_at)"))

