"""Group membership for `[[rules]]` that match on groups (#26): members.list of each group the rules
name, with nested groups' members (`includeDerivedMembership`), read once before the users are listed.

A group is named as the rules name it: its email address (or an alias), or its id. A user is in it when
a member record names the user's id, or its primary email (case-insensitively). A group that cannot be
read fails the listing: a rule that silently matches nobody would leave its members to a later, looser
rule, which could disable the very people the rule was written to judge otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from providers.google_workspace.client import PROVIDER, SCOPE_GROUPS
from sweeper.errors import DataError, NotFound, ProviderError
from sweeper.model import Identity

if TYPE_CHECKING:
    from providers.google_workspace.client import DirectoryClient
    from providers.google_workspace.settings import GoogleSettings

PAGE = 200  # members.list's maximum
FIELDS = "nextPageToken,members(id,email,type,status)"
WHY = "[[rules]] match.groups"


@dataclass
class Membership:
    """The members of the rules' groups: user ids and casefolded emails, by group as the rules name it."""

    groups: list[str]
    ids: dict[str, set[str]] = field(default_factory=dict)
    emails: dict[str, set[str]] = field(default_factory=dict)
    everyone: set[str] = field(default_factory=set)  # groups with a CUSTOMER member: every user of the customer
    counts: dict[str, int] = field(default_factory=dict)  # user members read, by group

    def of(self, identity: Identity) -> tuple[str, ...]:
        """The rules' groups `identity` is in, in the rules' order."""
        login = identity.login.casefold()
        return tuple(g for g in self.groups if g in self.everyone or identity.id in self.ids.get(g, ())
                     or login in self.emails.get(g, ()))

    def note(self) -> str:
        """What the report says about the groups read."""
        said = []
        for g in self.groups:
            if g in self.everyone:
                said.append(f"{g}: every user of the customer (a CUSTOMER member)")
            else:
                n = self.counts.get(g, 0)
                said.append(f"{g}: {n} member(s)" + ("; rules naming only it match nobody" if not n else ""))
        return f"groups for {WHY}, with nested groups' members: " + ", ".join(said)


def needs(settings: GoogleSettings) -> str:
    """What a refused members.list means is missing, for the error."""
    who = settings.admin_subject or "the signed-in admin"
    grant = ("to the token's scopes (access_token_scopes) and to the domain-wide delegation it is minted under"
             if settings.auth == "access_token" else
             "to the domain-wide delegation of the service account's client id (Admin console > Security > API "
             "controls), beside the user scopes")
    return (f"the OAuth scope {SCOPE_GROUPS}, which {WHY} need: add it {grant}; and for {who} an admin role "
            "with Admin API privileges > Groups > Read")


def read(client: DirectoryClient, settings: GoogleSettings, groups: Sequence[str]) -> Membership:
    """Every member of each group, paged and bounded like the users listing (one listing per group).
    Raises ProviderError naming the group and the rules when a group does not exist (404) or cannot be
    read (403 and token refusals name SCOPE_GROUPS); DataError when a page is not in the documented shape."""
    found = Membership(list(dict.fromkeys(groups)))
    first: dict[str, str] = {}  # group keys are case-insensitive: each group is read once
    for group in found.groups:
        same = first.setdefault(group.casefold(), group)
        if same == group:
            _read_group(client, settings, group, found)
        else:
            found.ids[group], found.emails[group] = found.ids[same], found.emails[same]
            found.counts[group] = found.counts[same]
            if same in found.everyone:
                found.everyone.add(group)
    return found


def _read_group(client: DirectoryClient, settings: GoogleSettings, group: str, found: Membership) -> None:
    operation = f"read members of group {group} ({WHY})"
    listing = settings.listing(PROVIDER, operation)
    members = client.groups().members()
    request = members.list(groupKey=group, includeDerivedMembership=True, maxResults=PAGE, fields=FIELDS)
    ids, emails = found.ids.setdefault(group, set()), found.emails.setdefault(group, set())
    seen: set[str] = set()  # user members, once each (derived membership can name a user twice)
    token: str | None = None
    while request is not None:
        listing.page(token)
        try:
            page = client.execute(request, operation, until=listing.ends, groups=True, needs=needs(settings))
        except NotFound as err:
            raise ProviderError(PROVIDER, operation, f"group {group!r} does not exist (HTTP 404): a rule that "
                                "matches nobody could leave its members to a later, looser rule; name the group by "
                                "its email address or id") from err
        records = page.get("members", []) if isinstance(page, dict) else None
        token = page.get("nextPageToken") if isinstance(page, dict) else None
        if not isinstance(records, list) or token is not None and not isinstance(token, str):
            raise DataError(PROVIDER, operation, "a members.list page is not in the documented shape")
        for member in records:
            seen.add(_add(member, group, ids, emails, found, operation))
        request = members.list_next(request, page) if token else None
    seen.discard("")
    found.counts[group] = len(seen)


def _add(member: Any, group: str, ids: set[str], emails: set[str], found: Membership, operation: str) -> str:
    """One member record: a user (by id and email), a nested group (its users come derived), or the
    whole customer. The user's key ("" for the others)."""
    kind = member.get("type") if isinstance(member, dict) else None
    if kind == "GROUP":
        return ""
    if kind == "CUSTOMER":
        found.everyone.add(group)
        return ""
    uid = member.get("id") if isinstance(member, dict) else None
    email = member.get("email") if isinstance(member, dict) else None
    if not isinstance(uid, str) and not isinstance(email, str):
        raise DataError(PROVIDER, operation, "a member record names neither an id nor an email address, so who "
                        "is in the group is unknown; nothing is judged")
    if isinstance(uid, str):
        ids.add(uid)
    if isinstance(email, str):
        emails.add(email.casefold())
    return f"id:{uid}" if isinstance(uid, str) else f"email:{str(email).casefold()}"
