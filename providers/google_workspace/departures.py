"""Leavers in Google Workspace, read only (#25, people across clouds): when each suspended or archived user
was suspended or archived, and the users Google keeps as deleted.

When: the Admin console's audit activities (Reports API `activities.list`, userKey=all,
applicationName=admin, `eventName` SUSPEND_USER or ARCHIVE_USER, `startTime` the window's start, 1,000 a
page, paged by nextPageToken), one paged scan per customer and event, made only when a listing meets
its first suspended (or archived) user. Each event names its user by primary address in the parameter
USER_EMAIL, matched case-insensitively; a user suspended twice counts from the newest. A suspended user
with no event since `since` was suspended before it; the Reports API answers 180 days back, so the
bound is never put earlier than that, and the scan asks for no more. The scan has a
token of its own, for SCOPE_AUDIT alone, minted only here: a delegation without that scope (HTTP 403,
or a refused token) leaves the dates unknown, with a note naming the scope, and nothing else fails.

Deleted: `users.list(showDeleted=true)`, the same listing restore reads (`lifecycle.deleted_users`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from providers.google_workspace.client import PROVIDER, SCOPE_AUDIT
from providers.google_workspace.mapping import addresses, parse_time
from sweeper.errors import DataError, ProviderError
from sweeper.model import Departure, Identity, IdentityKind

if TYPE_CHECKING:
    from providers.google_workspace.client import DirectoryClient
    from providers.google_workspace.settings import GoogleSettings

EVENTS = {"suspended": "SUSPEND_USER", "archived": "ARCHIVE_USER"}  # admin-user-settings event names
PAGE = 1000  # activities.list's maximum
FIELDS = "nextPageToken,items(id/time,events(name,parameters(name,value)))"
PARAMETER = "USER_EMAIL"
RETENTION_DAYS = 180  # how far back the Reports API answers admin activities


def rfc3339(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def needs(settings: GoogleSettings) -> str:
    """What a refused audit scan means is missing, for the note."""
    who = settings.admin_subject or "the signed-in admin"
    grant = ("to the token's scopes (access_token_scopes) and to the domain-wide delegation it is minted under"
             if settings.auth == "access_token" else "to the domain-wide delegation of the service account's "
             "client id, beside the user scopes")
    return (f"the OAuth scope {SCOPE_AUDIT}, which [people] sources need for when leavers were suspended: add it "
            f"{grant}; and for {who} an admin role with Admin console privileges > Reports (the audit log)")


class Scan:
    """When this customer's suspended and archived users entered that state, read on first need."""

    def __init__(self, client: DirectoryClient, settings: GoogleSettings, scope: str, since: datetime,
                 now: datetime) -> None:
        self.client = client
        self.settings = settings
        self.scope = scope
        self.since = since  # the window asked for
        self.reach = max(since, now - timedelta(days=RETENTION_DAYS))  # and how far back the log answers it
        self.times: dict[str, dict[str, datetime]] = {}  # event name -> casefolded email -> newest time
        self.why: dict[str, str] = {}  # event name -> why its events could not be read

    def departure(self, state: str, email: str, aliases: tuple[str, ...] = ()) -> Departure:
        """`state` dated by the newest event naming the user's primary address or one of its aliases
        (a user renamed since keeps its old address as an alias; the event names the old one)."""
        event = EVENTS[state]
        if event not in self.times and event not in self.why:
            self._read(event)
        if event in self.why:
            return Departure(state, None, note=f"when is not known: {self.why[event]}")
        times = [t for a in (email, *aliases) if (t := self.times[event].get(a.casefold())) is not None]
        when = max(times) if times else None
        if when is not None:
            return Departure(state, when, note=f"{event} in the Admin console's audit log")
        return Departure(state, self.reach, before=True,
                         note=f"no {event} in the Admin console's audit log since {self.reach.date().isoformat()} "
                              f"(it keeps {RETENTION_DAYS} days): {state} before")

    def notes(self) -> list[str]:
        return [f"leavers: when {state} users were {state} is not known: {self.why[event]}"
                for state, event in EVENTS.items() if event in self.why]

    def _read(self, event: str) -> None:
        operation = f"read the admin audit log ({event})"
        try:
            self.times[event] = self._scan(event, operation)
        except ProviderError as err:
            self.why[event] = (f"the admin audit log could not be read ({err.detail[:300]})"
                               if SCOPE_AUDIT in err.detail else
                               f"the admin audit log could not be read ({err.detail[:200]}); it needs "
                               f"{needs(self.settings)}")

    def _scan(self, event: str, operation: str) -> dict[str, datetime]:
        listing = self.settings.listing(PROVIDER, operation)
        activities = self.client.audit().activities()
        customer = {"customerId": self.scope} if re.fullmatch(r"C.+", self.scope) else {}
        request = activities.list(userKey="all", applicationName="admin", eventName=event,
                                  startTime=rfc3339(self.reach), maxResults=PAGE, fields=FIELDS, **customer)
        found: dict[str, datetime] = {}
        token: str | None = None
        while request is not None:
            listing.page(token)
            page = self.client.execute(request, operation, until=listing.ends, audit=True,
                                       needs=needs(self.settings))
            items = page.get("items", []) if isinstance(page, dict) else None
            token = page.get("nextPageToken") if isinstance(page, dict) else None
            if not isinstance(items, list) or token is not None and not isinstance(token, str):
                raise DataError(PROVIDER, operation, "an activities.list page is not in the documented shape")
            for item in items:
                _add(item, event, found)
            request = activities.list_next(request, page) if token else None
        return found


def _add(item: Any, event: str, found: dict[str, datetime]) -> None:
    """One activity: each `event` in it names a user (USER_EMAIL); its time is the activity's."""
    ident = item.get("id") if isinstance(item, dict) else None
    when = parse_time(ident.get("time")) if isinstance(ident, dict) else None
    events = item.get("events") if isinstance(item, dict) else None
    if when is None or not isinstance(events, list):
        return
    for one in events:
        if not isinstance(one, dict) or one.get("name") != event or not isinstance(one.get("parameters"), list):
            continue
        for p in one["parameters"]:
            if isinstance(p, dict) and p.get("name") == PARAMETER and isinstance(p.get("value"), str):
                key = p["value"].strip().casefold()
                if key not in found or when > found[key]:
                    found[key] = when


def deleted_identity(raw: dict[str, Any], scope: str, provider: str) -> Identity:
    """A user Google keeps as deleted: disabled, no credentials, departed "deleted" at its deletionTime."""
    uid = str(raw["id"])
    email = raw.get("primaryEmail")
    login = email if isinstance(email, str) and email else uid
    when = parse_time(raw.get("deletionTime"))
    note = "deletionTime of the deleted user" if when is not None else \
        f"deletionTime is missing or not a time: {str(raw.get('deletionTime'))[:40]!r}"
    name = raw.get("name")
    display = name.get("fullName") if isinstance(name, dict) and isinstance(name.get("fullName"), str) else None
    return Identity(provider, scope, uid, login, IdentityKind.MEMBER, False, (), parse_time(raw.get("creationTime")),
                    display, org_unit=raw.get("orgUnitPath") if isinstance(raw.get("orgUnitPath"), str) else None,
                    owner=login if "@" in login else None, emails=addresses(raw, login),
                    departure=Departure("deleted", when, note=note))
