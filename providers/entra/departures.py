"""Leavers in Entra, read only (#25, people across clouds): when each disabled user was disabled, and the
users in deleted items.

When: the directory audit log's "Disable account" events, and "Update user" events that set AccountEnabled
to false (`GET /auditLogs/directoryAudits`, filtered on activityDisplayName and activityDateTime, followed
by @odata.nextLink), read in one paged scan per tenant
and only when a listing meets its first disabled user. An event's `targetResources[].id` is the user's
object id; a user disabled, enabled and disabled again counts from the newest successful event. A
disabled user with no event since `since` was disabled before it; Entra keeps audit records 30 days
with Entra ID P1 or P2 (which the users listing needs), so the bound is never put earlier than 30 days
ago, whatever `since` the core asks for. A log that cannot
be read (403: the app lacks AuditLog.Read.All) leaves each date unknown, with a note saying why.

Deleted items: `GET /directory/deletedItems/microsoft.graph.user`, paged. Graph renames a deleted user's
userPrincipalName to its object id without dashes followed by the original name
(`0d1f...c4alice@contoso.com`); the prefix is taken off to give the login the user had.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterator
from urllib.parse import quote

from providers.entra.graph import Graph
from providers.entra.permissions import READ_AUDIT, READ_DELETED
from providers.entra.users import addresses, parse_time
from sweeper.errors import ProviderError
from sweeper.kit.bounds import Listing
from sweeper.kit.times import BadTime
from sweeper.model import Departure, Identity, IdentityKind

AUDIT_PATH = "/auditLogs/directoryAudits"
DELETED_PATH = "/directory/deletedItems/microsoft.graph.user"
DISABLE = "Disable account"  # the audit activity (category UserManagement, service Core Directory)
# A disable through Graph or a sync can be logged as "Update user" with AccountEnabled [true] -> [false]
# instead: counted too, or such a user would look disabled long ago (a leaver's grace over too soon).
UPDATE = "Update user"
DELETED_SELECT = ("id,userPrincipalName,mail,proxyAddresses,displayName,userType,createdDateTime,"
                  "deletedDateTime")
AUDIT_OPERATION = "read the directory audit log (Disable account)"
RETENTION_DAYS = 30  # how long Entra keeps audit records with Entra ID P1/P2 (a listing needs P1: signInActivity)
DELETED_OPERATION = "list deleted users (deleted items)"


def stamp(when: datetime) -> str:
    """A time as Graph's $filter takes a DateTimeOffset: UTC, unquoted."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_url(endpoint: str, since: datetime) -> str:
    clause = (f"(activityDisplayName eq '{DISABLE}' or activityDisplayName eq '{UPDATE}') and "
              f"activityDateTime ge {stamp(since)}")
    return f"{endpoint}{AUDIT_PATH}?$filter={quote(clause, safe='')}"


class Disabled:
    """When each user was disabled, by object id, from one scan of the audit log; or why it is not known."""

    def __init__(self, since: datetime, times: dict[str, tuple[datetime, str]] | None, why: str | None = None) -> None:
        self.since = since  # how far back the log's answer reaches: a user with no event was disabled before
        self.times = times or {}  # user id -> (when, the activity that says so)
        self.why = why  # the log could not be read: every date is unknown

    @classmethod
    def read(cls, graph: Graph, since: datetime, listing: Listing, now: datetime) -> Disabled:
        """Every successful "Disable account" event since `since`, newest per user. The log keeps
        RETENTION_DAYS before `now` (the real clock: what the log holds), so a window that starts
        earlier is asked and answered only back to then: "disabled before" is never claimed beyond what
        the log holds. A refusal or a broken log leaves every date unknown (never a partial answer), with the reason."""
        reach = max(since, now - timedelta(days=RETENTION_DAYS))
        try:
            return cls(reach, _newest(graph.pages(audit_url(graph.endpoint, reach), AUDIT_OPERATION, READ_AUDIT,
                                                  listing=listing)))
        except ProviderError as err:
            return cls(reach, None, f"the directory audit log could not be read ({err.detail[:200]}); "
                       f"reading it needs {READ_AUDIT}")

    def departure(self, uid: str) -> Departure:
        if self.why is not None:
            return Departure("disabled", None, note=f"when is not known: {self.why}")
        found = self.times.get(uid)
        if found is not None:
            return Departure("disabled", found[0], note=f"'{found[1]}' in the directory audit log"
                             + (" (AccountEnabled set to false)" if found[1] == UPDATE else ""))
        return Departure("disabled", self.since, before=True,
                         note=f"no '{DISABLE}' (nor '{UPDATE}' to AccountEnabled false) in the directory audit "
                              f"log since {self.since.date().isoformat()} (it keeps {RETENTION_DAYS} days): "
                              "disabled before")

    def note(self) -> str | None:
        """What the scope's message says: why disabled users' dates are not known."""
        if self.why is None:
            return None
        return f"leavers: when disabled users were disabled is not known: {self.why}"


def _newest(pages: Iterator[list[Any]]) -> dict[str, tuple[datetime, str]]:
    found: dict[str, tuple[datetime, str]] = {}
    for page in pages:
        for event in page:
            if not isinstance(event, dict) or event.get("activityDisplayName") not in (DISABLE, UPDATE) \
                    or str(event.get("result", "success")).lower() != "success":
                continue
            try:
                when = parse_time(event.get("activityDateTime"))
            except BadTime:
                when = None
            targets = event.get("targetResources")
            if when is None or not isinstance(targets, list):
                continue
            for target in targets:
                uid = target.get("id") if isinstance(target, dict) else None
                kind = str(target.get("type") or "User").lower() if isinstance(target, dict) else ""
                if event["activityDisplayName"] == UPDATE and not _disables(target):
                    continue
                if isinstance(uid, str) and uid and kind == "user" and (uid not in found or when > found[uid][0]):
                    found[uid] = (when, event["activityDisplayName"])
    return found


def _disables(target: Any) -> bool:
    """Whether an "Update user" target's modifiedProperties turn AccountEnabled to false ("[false]")."""
    changes = target.get("modifiedProperties") if isinstance(target, dict) else None
    return isinstance(changes, list) and any(
        isinstance(c, dict) and str(c.get("displayName", "")).lower() == "accountenabled"
        and "false" in str(c.get("newValue", "")).lower() for c in changes)


def original_login(uid: str, upn: str) -> str:
    """A deleted user's userPrincipalName without the object-id prefix Graph gives it on deletion."""
    prefix = uid.replace("-", "").lower()
    return upn[len(prefix):] if prefix and upn.lower().startswith(prefix) and len(upn) > len(prefix) else upn


def deleted_users(graph: Graph, scope: str, provider: str, listing: Listing) -> Iterator[Identity]:
    """The users in deleted items as identities: disabled, no credentials, departed "deleted" at their
    deletedDateTime (None, with a note, when it does not parse). Any failed page raises."""
    url = f"{graph.endpoint}{DELETED_PATH}?$select={DELETED_SELECT}&$top=999"
    n = 0
    for page in graph.pages(url, DELETED_OPERATION, READ_DELETED, listing=listing):
        for raw in page:
            n += 1
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
                raise ProviderError("entra", DELETED_OPERATION, f"deleted item #{n} has no id")
            yield deleted_identity(raw, scope, provider)


def deleted_identity(raw: dict[str, Any], scope: str, provider: str) -> Identity:
    uid = raw["id"]
    upn = raw.get("userPrincipalName")
    login = original_login(uid, upn) if isinstance(upn, str) and upn else uid
    try:
        when, note = parse_time(raw.get("deletedDateTime")), "deletedDateTime of the deleted item"
    except BadTime:
        when, note = None, f"deletedDateTime does not parse: {str(raw.get('deletedDateTime'))[:40]!r}"
    if when is None and note.startswith("deletedDateTime of"):
        note = "the deleted item has no deletedDateTime"
    try:
        created = parse_time(raw.get("createdDateTime"))
    except BadTime:
        created = None
    name = raw.get("displayName")
    kind = IdentityKind.GUEST if raw.get("userType") == "Guest" else IdentityKind.MEMBER
    mail = raw.get("mail")
    owner = mail if isinstance(mail, str) and "@" in mail else login if "@" in login and "#EXT#" not in \
        login.upper() else None
    return Identity(provider, scope, uid, login, kind, False, (), created, name if isinstance(name, str) else None,
                    owner=owner, emails=addresses(raw, login), departure=Departure("deleted", when, note=note))
