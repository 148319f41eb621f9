"""Removal (#13) for Google Workspace: `users.delete`, undone by `users.undelete` while Google keeps the user.

Google keeps a deleted user for 20 days. Meanwhile `users.get` answers 412 conditionNotMet "User is
deleted." (so `refresh` says it is gone), `users.list(showDeleted=true)` lists it with its
`deletionTime`, and `users.undelete(userKey=<id>, body={"orgUnitPath": ...})` brings it back as it was
deleted (a suspended user stays suspended) into the org unit the body names. The window is checked
live, by that listing, never assumed from dates: a user it no longer lists has been purged, and
nothing is attempted for it. Both calls travel in multipart batches like the suspensions, each item
judged by its own answer, throttled items sent again in a later round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from googleapiclient.errors import HttpError

from providers.google_workspace.client import PROVIDER, SCOPE_WRITE, error_info, retryable
from sweeper.errors import DataError
from sweeper.kit.retry import chunks, retry_after, retry_items
from sweeper.kit.secrets import scrub
from sweeper.model import Action, CredentialRef, Outcome

if TYPE_CHECKING:
    from providers.google_workspace.adapter import GoogleWorkspaceAdapter

PAGE = 500
WINDOW_DAYS = 20  # how long Google keeps a deleted user (Admin console: "Recently deleted users")
# aliases, names and creationTime for [people] sources (#25: a deleted user is a leaver, linked by its addresses)
DELETED_FIELDS = ("nextPageToken,users(id,primaryEmail,orgUnitPath,deletionTime,customerId,aliases,nonEditableAliases,"
                  "name/fullName,creationTime)")
PAST_WINDOW = (f"past the {WINDOW_DAYS}-day undelete window (or purged): Google no longer lists it among "
               "deleted users")
PRIVILEGE = (f"needs the scope {SCOPE_WRITE} and an admin role that may delete users (Admin API privileges > "
             "Users > Delete)")


def is_deleted(err: HttpError) -> bool:
    """The API's answer about a user it keeps as deleted: 412 conditionNotMet "User is deleted."."""
    status, reason, message = error_info(err)
    return status == 412 and reason == "conditionNotMet" and "deleted" in message.lower()


def apply(adapter: GoogleWorkspaceAdapter, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
    """REMOVE: users.delete each user. UNDELETE: users.undelete each user that the deleted-users
    listing still holds, into the org unit it lists. One Outcome per ref, in order."""
    outcomes: dict[int, Outcome] = {}
    units: dict[int, str] = {}
    todo = list(range(len(refs)))
    if action is Action.UNDELETE:
        kept = deleted_users(adapter, {ref.scope for ref in refs})
        todo = []
        for i, ref in enumerate(refs):
            raw = kept.get(ref.identity_id)
            if raw is None:
                outcomes[i] = Outcome(ref, False, error=PAST_WINDOW)
            else:
                unit = raw.get("orgUnitPath")
                units[i] = unit if isinstance(unit, str) and unit.startswith("/") else "/"
                todo.append(i)
    unsure: list[int] = []  # undeletes answered "not deleted": an earlier attempt may have landed
    for chunk in chunks(todo, adapter.batch_size):
        last_error: dict[int, str] = {}

        def send(indexes: list[int]) -> dict[int, float | None]:
            return _round(adapter, action, {i: refs[i] for i in indexes}, units, outcomes, last_error, unsure)

        left, tries = retry_items(chunk, send, adapter.client.budget(), adapter.client.sleep)
        for i in left:
            outcomes[i] = Outcome(refs[i], False, error=f"still throttled after {tries} attempts "
                                                        f"({last_error.get(i, 'rate limited')})")
    for i in unsure:
        outcomes[i] = _landed(adapter, refs[i], units[i], outcomes[i])
    return [outcomes[i] for i in range(len(refs))]


def deleted_users(adapter: GoogleWorkspaceAdapter, scopes: set[str]) -> dict[str, dict[str, Any]]:
    """The users Google still keeps as deleted, by id: users.list(showDeleted=true), every page,
    bounded like any listing. Raises ProviderError when it cannot be read whole."""
    from providers.google_workspace.adapter import MY_CUSTOMER, _same_customer

    found: dict[str, dict[str, Any]] = {}
    operation = "list deleted users"
    for scope in sorted(scopes):
        listing = adapter.settings.listing(PROVIDER, operation)
        users = adapter.client.users()
        request = users.list(customer=scope, showDeleted="true", maxResults=PAGE, projection="basic",
                             fields=DELETED_FIELDS)
        token: str | None = None
        while request is not None:
            listing.page(token)
            page = adapter.client.execute(request, operation, until=listing.ends)
            records = page.get("users", []) if isinstance(page, dict) else None
            token = page.get("nextPageToken") if isinstance(page, dict) else None
            if not isinstance(records, list) or token is not None and not isinstance(token, str):
                raise DataError(PROVIDER, operation, "a users.list(showDeleted=true) page is not in the documented "
                                "shape")
            for raw in records:
                if scope != MY_CUSTOMER:
                    _same_customer(raw, scope, operation)
                if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                    found[raw["id"]] = raw
            request = users.list_next(request, page) if token else None
    return found


def _round(adapter: GoogleWorkspaceAdapter, action: Action, pending: dict[int, CredentialRef], units: dict[int, str],
           outcomes: dict[int, Outcome], last_error: dict[int, str], unsure: list[int]) -> dict[int, float | None]:
    """Send one batch; fill `outcomes`; return the indexes to retry, each with its Retry-After."""
    users = adapter.client.users()
    requests = {str(i): users.delete(userKey=ref.identity_id) if action is Action.REMOVE else
                users.undelete(userKey=ref.identity_id, body={"orgUnitPath": units[i]})
                for i, ref in pending.items()}
    try:
        results = adapter.client.batch(requests)
    except Exception as batch_err:  # the whole batch failed: the suspensions' rules apply
        return adapter._batch_failed(batch_err, pending, outcomes, last_error, set(unsure))
    retry: dict[int, float | None] = {}
    for i, ref in pending.items():
        if str(i) not in results:
            outcomes[i] = Outcome(ref, False, error="the batch answer has no part for this user; its state is "
                                                    "unknown until refreshed")
            continue
        _, err = results[str(i)]
        if err is not None and retryable(*error_info(err)[:2]):
            retry[i] = retry_after(err.resp)
            last_error[i] = adapter.client.describe(err)
        elif action is Action.REMOVE:
            outcomes[i] = _removed(adapter, ref, err)
        else:
            outcomes[i] = _undeleted(ref, units[i], err)
            if err is not None and _not_deleted(err):
                unsure.append(i)
    return retry


def _removed(adapter: GoogleWorkspaceAdapter, ref: CredentialRef, err: HttpError | None) -> Outcome:
    if err is None:
        unit = adapter.org_units.get(ref.identity_id)
        return Outcome(ref, True, note=f"deleted{f' from org unit {unit}' if unit else ''}; Google keeps it "
                                       f"{WINDOW_DAYS} days, in which `sweeper restore` undeletes it")
    if error_info(err)[0] == 404 or is_deleted(err):
        return Outcome(ref, True, note="already deleted")
    return Outcome(ref, False, error=_failure(adapter, err, "delete"))


def _undeleted(ref: CredentialRef, unit: str, err: HttpError | None) -> Outcome:
    if err is None:
        return Outcome(ref, True, note=f"undeleted into org unit {unit}")
    status, reason, message = error_info(err)
    if _not_deleted(err):
        return Outcome(ref, False, error=PAST_WINDOW)
    if status == 400:
        return Outcome(ref, False, error=scrub(f"cannot undelete into org unit {unit} (HTTP 400 {reason}: {message}): "
                                               "if it no longer exists, undelete the user by hand into another"))
    if status == 409:
        return Outcome(ref, False, error=scrub(f"its address {ref.login} now belongs to another user, alias or group "
                                               f"(HTTP 409 {reason}: {message}): free it, then restore again"))
    return Outcome(ref, False, error=scrub(f"HTTP {status} {reason}: {message}"
                                           + (f"; {PRIVILEGE}" if status == 403 else "")))


def _not_deleted(err: HttpError) -> bool:
    """users.undelete's answer for a user it does not keep as deleted."""
    status, reason, _ = error_info(err)
    return status == 404 or status == 412 and reason == "conditionNotMet"


def _failure(adapter: GoogleWorkspaceAdapter, err: HttpError, verb: str) -> str:
    status, reason, message = error_info(err)
    if status == 403:
        return scrub(f"HTTP 403 {reason}: {message}; to {verb} users {PRIVILEGE}, and a delegated admin cannot "
                     "delete super admins")
    if status == 412:
        return scrub(f"HTTP 412 {reason}: {message} (Google refuses to delete a user on a Vault hold)")
    return adapter.client.describe(err)


def _landed(adapter: GoogleWorkspaceAdapter, ref: CredentialRef, unit: str, said: Outcome) -> Outcome:
    """An undelete answered "not deleted" after the listing held the user: if the user exists now, an
    earlier attempt of ours landed (its answer was lost); otherwise it was purged in between."""
    try:
        current = adapter.refresh(ref)
    except Exception:  # noqa: BLE001 - what the undelete said stands
        return said
    if current is None:
        return said
    return Outcome(ref, True, note=f"undeleted into org unit {unit} (an earlier attempt had landed)")
