"""Removal and its undo (#13, opt-in): delete a user this sweeper disabled, restore it from deleted items.

REMOVE is `DELETE /users/{id}`: Entra keeps the user in deleted items for 30 days, so the removal is
reversible within that window; the deleted item is read back (`GET /directory/deletedItems/{id}`) to
say until when. UNDELETE is `POST /directory/deletedItems/{id}/restore`, then the user is read again
(`GET /users/{id}`): it comes back as it was deleted, disabled. Whether the window is still open is
asked of Graph, never assumed: a 404 from deleted items means it is past the window (or was purged).

Plain requests, one per user, side by side on the adapter's event loop: removals are few (max_remove,
10 per scope by default), and the SDK's retry handler waits out 429/503/504 for each. Both requests
are safe to send again: a repeated DELETE answers 404 (the user is gone: done), a repeated restore
answers 404 while the user is back (read again: done).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Sequence
from urllib.parse import quote

from providers.entra.graph import Graph, parse, translate
from providers.entra.permissions import DELETE_RESTORE, READ_USERS
from sweeper.errors import AuthError, NotFound, ProviderError
from sweeper.model import Action, CredentialRef, Outcome

WINDOW_DAYS = 30  # how long Entra keeps a deleted user in deleted items
PAST_WINDOW = f"not in deleted items: past the {WINDOW_DAYS}-day deleted-items window (or purged); it cannot be restored"


def apply(graph: Graph, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
    """REMOVE or UNDELETE each ref (accounts; their tenant already checked); one Outcome per ref. Raises
    only when every request was refused for the credentials (nothing could be attempted)."""
    one = _remove if action is Action.REMOVE else _undelete

    async def each() -> list[Outcome | BaseException]:
        return list(await asyncio.gather(*(one(graph, ref) for ref in refs), return_exceptions=True))

    answers = graph.run(each(), f"{action.value} users", DELETE_RESTORE)
    failures = [a for a in answers if isinstance(a, BaseException)]
    if failures and len(failures) == len(answers) and all(isinstance(f, AuthError) for f in failures):
        raise failures[0]
    out = []
    for ref, answer in zip(refs, answers):
        if isinstance(answer, BaseException):
            why = answer if isinstance(answer, ProviderError) else translate(answer, f"{action.value} {ref.login}",
                                                                             DELETE_RESTORE)
            answer = Outcome(ref, False, why.detail)
        out.append(answer)
    return out


def _user_url(graph: Graph, ref: CredentialRef) -> str:
    return f"{graph.endpoint}/users/{quote(ref.identity_id, safe='')}"


def _item_url(graph: Graph, ref: CredentialRef) -> str:
    return f"{graph.endpoint}/directory/deletedItems/{quote(ref.identity_id, safe='')}"


async def _request(graph: Graph, method: str, url: str, operation: str, permission: str) -> dict[str, Any] | None:
    """One request, parsed; None when Graph answers 404. Failures raise as the core's errors."""
    try:
        raw = await graph.send(method, url)
    except Exception as err:  # noqa: BLE001 - translated here, per request
        failed = translate(err, operation, permission)
        if isinstance(failed, NotFound):
            return None
        raise failed from err
    return parse(raw, operation)


async def _remove(graph: Graph, ref: CredentialRef) -> Outcome:
    gone = await _request(graph, "DELETE", _user_url(graph, ref), f"delete user {ref.login}", DELETE_RESTORE)
    if gone is None:
        return Outcome(ref, True, note="already gone (Graph answered 404)")
    try:  # where it went, and until when it can come back
        item = await _request(graph, "GET", f"{_item_url(graph, ref)}?$select=id,deletedDateTime",
                              f"read deleted user {ref.login}", READ_USERS)
    except ProviderError as err:
        return Outcome(ref, True, note=f"deleted; its deleted item could not be read ({err.detail})")
    until = _until(item)
    return Outcome(ref, True, note="deleted into deleted items" + (f", restorable until {until}" if until else ""))


def _until(item: dict[str, Any] | None) -> str | None:
    when = (item or {}).get("deletedDateTime")
    try:
        at = datetime.fromisoformat(str(when).replace("Z", "+00:00")) if when else None
    except ValueError:
        return None
    return None if at is None else (at + timedelta(days=WINDOW_DAYS)).date().isoformat()


async def _undelete(graph: Graph, ref: CredentialRef) -> Outcome:
    restored = await _request(graph, "POST", f"{_item_url(graph, ref)}/restore", f"restore user {ref.login}",
                              DELETE_RESTORE)
    # read it again: whether it is back (a repeated restore answers 404 once it is), and as what
    user = await _request(graph, "GET", f"{_user_url(graph, ref)}?$select=id,userPrincipalName,accountEnabled",
                          f"read user {ref.login}", READ_USERS)
    if user is None:
        return Outcome(ref, False, PAST_WINDOW if restored is None else
                       "restored from deleted items, but the user cannot be read back (404)")
    if user.get("accountEnabled") is True:
        return Outcome(ref, True, note="restored from deleted items; it is enabled (changed since?)")
    return Outcome(ref, True, note="restored from deleted items; still disabled")
