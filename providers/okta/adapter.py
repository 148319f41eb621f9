"""Okta users: list with their admin roles, refresh, suspend and unsuspend; deactivate as the opt-in removal.

Plain httpx (`providers.okta.client`) rather than Okta's Python SDK: the SDK is asyncio-only, builds a
model object per user, and leaves out what the sweeper needs to control itself: the rate-limit wait
bounded by our budget, no redirects, answers bounded in time and size, and a next-page link refused
when it leaves the org.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator, Sequence
from urllib.parse import quote

from providers.okta import mapping
from providers.okta.client import (PROVIDER, READ_SCOPES, SCOPE_ROLES_READ, SCOPE_USERS_MANAGE, SCOPE_USERS_READ,
                                   OktaClient, okta_error)
from providers.okta.settings import OktaSettings
from sweeper.errors import AuthError, BindingError, DataError, NotFound, PermissionDenied, ProviderError
from sweeper.model import Action, CheckResult, Credential, CredentialRef, Identity, Outcome, Principal

ADMINS_PAGE = 100  # GET /api/v1/iam/assignees/users: its largest page
IRREVERSIBLE = ("Okta cannot undo a deactivation (its apps were unassigned); activate the user by hand "
                "(POST /api/v1/users/{id}/lifecycle/activate) and assign its apps again if it must come back")


class OktaAdapter:
    """One Okta org. Suspension is the disable; unsuspension restores; deactivation is the removal."""

    name = PROVIDER
    listing_is_live = True  # each listing reads users as Okta has them now

    def __init__(self, settings: OktaSettings, *, write: bool) -> None:
        self.settings = settings
        self.write = write
        self.batch_size = settings.batch_size
        self.max_parallel = settings.max_parallel
        self.client = OktaClient(settings, write=write)
        self._scopes: list[str] | None = None
        self._own: str | None = None  # the API token's user id, read once
        self._own_read = False
        self._own_login = ""
        self._departures = False  # set by want_departures: suspended users carry their departure (#25)
        self._notes: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    # --- describe ------------------------------------------------------------------------------------

    def whoami(self) -> Principal:
        """The API token's user (GET /api/v1/users/me), or the service app by its client id."""
        s = self.settings
        if s.auth == "private_key":
            self.client.authorization()  # mints a token: a refused key fails here
            return Principal(PROVIDER, str(s.client_id), f"service app {s.client_id}", scope=s.host)
        me = self._me()
        return Principal(PROVIDER, str(me), f"API token of {self._own_login}", scope=s.host)

    def _me(self) -> str | None:
        """The id of the user the API token acts as (protected from the sweep); None for a service app."""
        with self._lock:
            if self._own_read:
                return self._own
        own = None
        if self.settings.auth == "api_token":
            operation = "read the token's user"
            raw = self.client.get("/api/v1/users/me", operation).body
            own = raw.get("id") if isinstance(raw, dict) else None
            if not isinstance(own, str) or not own:
                raise DataError(PROVIDER, operation, "GET /api/v1/users/me named no user id, so the sweeper "
                                "cannot keep its own account out of the sweep; nothing was listed")
            self._own_login = mapping.login_of(raw)
        with self._lock:
            self._own, self._own_read = own, True
        return own

    def scopes(self) -> list[str]:
        """The org, by its host. With `org_id` set, the org at `endpoint` must have that id (its public
        `/.well-known/okta-organization` says which), or BindingError before anything is listed."""
        if self._scopes is None:
            if self.settings.org_id:
                actual = self._org_id()
                if actual != self.settings.org_id:
                    raise BindingError(PROVIDER, "org", self.settings.org_id, actual,
                                       how=f"{self.settings.endpoint}/.well-known/okta-organization names it")
            self._scopes = [self.settings.host]
        return list(self._scopes)

    def _org_id(self) -> str:
        operation = "bind org"
        raw = self.client.get("/.well-known/okta-organization", operation).body
        found = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(found, str) or not found:
            raise DataError(PROVIDER, operation, "/.well-known/okta-organization named no org id; nothing was listed")
        return found

    # --- list and refresh -----------------------------------------------------------------------------

    def list_identities(self, scope: str) -> Iterator[Identity]:
        """Every user but the deactivated ones, page by page (`Link: rel="next"`); the admins are read
        first, the API token's own user too. A failing page raises, never truncates."""
        self._check_scope(scope)
        own = self._me()
        admins = self._admins()
        undated = 0
        for page in self.client.pages("/api/v1/users", "list users", {"limit": self.settings.page_size}):
            for raw in page:
                found = mapping.identity(raw, self.name, scope, admins=admins, skip_admins=self.settings.skip_admins,
                                         own=own, departures=self._departures)
                undated += found.departure is not None and found.departure.since is None
                yield found
        with self._lock:
            self._notes[scope] = [f"{undated} suspended user(s) without a readable statusChanged: since when they "
                                  "are suspended is not known"] if undated else []

    def scope_notes(self, scope: str) -> list[str]:
        """What the last listing of `scope` could not tell (suspended users it cannot date)."""
        with self._lock:
            return list(self._notes.get(scope, ()))

    def want_departures(self, since: Any) -> None:
        """As a people source (#25): suspended users carry `Departure("suspended", statusChanged)`. Okta
        records when each user's status last changed, so no audit log is read and `since` is not needed."""
        self._departures = True

    def list_deleted(self, scope: str) -> Iterator[Identity]:
        """As a people source (#25): the deactivated (DEPROVISIONED) users, which the listing leaves out,
        each with `Departure("deactivated", statusChanged)` (GET /api/v1/users?filter=status eq
        "DEPROVISIONED", paged like the listing). Read only."""
        self._check_scope(scope)
        params = {"limit": self.settings.page_size, "filter": 'status eq "DEPROVISIONED"'}
        for page in self.client.pages("/api/v1/users", "list deactivated users", params):
            for raw in page:
                found = mapping.deactivated(raw, self.name, scope)
                if found is None:
                    raise DataError(PROVIDER, "list deactivated users", "the filtered listing answered a user that "
                                    "is not DEPROVISIONED, or one without an id")
                yield found

    def _admins(self) -> frozenset[str]:
        """The ids of the users holding an admin role (GET /api/v1/iam/assignees/users, every page)."""
        found: set[str] = set()
        operation = "list admin role holders"
        for page in self._value_pages("/api/v1/iam/assignees/users", operation, {"limit": ADMINS_PAGE}):
            for raw in page:
                uid = raw.get("id") if isinstance(raw, dict) else None
                if not isinstance(uid, str) or not uid:
                    raise DataError(PROVIDER, operation, "a role holder without an id: who is an admin cannot be "
                                    "told, so nothing is listed")
                found.add(uid)
        return frozenset(found)

    def _value_pages(self, path: str, operation: str, params: dict[str, Any]) -> Iterator[list[Any]]:
        """Pages of the `{"value": [...], "_links": {"next": {"href": ...}}}` shape (the IAM APIs)."""
        listing = self.settings.listing(PROVIDER, operation)
        answer = self.client.get(path, operation, params=params, listing=listing, needs=SCOPE_ROLES_READ)
        while True:
            body: dict[str, Any] = answer.body if isinstance(answer.body, dict) else {}
            values = body.get("value")
            if not isinstance(values, list):
                raise DataError(PROVIDER, operation, "a page has no \"value\" list")
            yield values
            links: dict[str, Any] = body["_links"] if isinstance(body.get("_links"), dict) else {}
            nxt: dict[str, Any] = links["next"] if isinstance(links.get("next"), dict) else {}
            url = nxt.get("href") or answer.next_link()
            if not url:
                return
            if not isinstance(url, str):
                raise DataError(PROVIDER, operation, "a next-page link that is not a URL")
            self.client.same_org(url, operation)
            listing.page(url)
            answer = self.client.get(url, operation, listing=listing, needs=SCOPE_ROLES_READ)

    def _check_scope(self, scope: str) -> None:
        if scope not in self.scopes():
            raise ProviderError(PROVIDER, "list users", f"{scope!r} is not this adapter's org ({self.settings.host})")

    def _read(self, ref: CredentialRef) -> dict[str, Any] | None:
        """The user as Okta has it now; None when it does not exist (404)."""
        operation = f"read user {ref.login}"
        answer = self.client.get(f"/api/v1/users/{quote(ref.identity_id, safe='')}", operation, untranslated=(404,))
        if answer.status == 404:
            return None
        if not isinstance(answer.body, dict) or answer.body.get("id") != ref.identity_id:
            raise DataError(PROVIDER, operation, "the answer is not that user's record")
        return answer.body

    def refresh(self, ref: CredentialRef) -> Credential | None:
        """The user's credential now; None when it is gone: unknown to Okta, or deactivated."""
        raw = self._read(ref)
        if raw is None or raw.get("status") == mapping.GONE:
            return None
        return mapping.credential(raw)

    # --- act -----------------------------------------------------------------------------------------

    def apply(self, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
        """DISABLE suspends, ENABLE unsuspends, REMOVE deactivates (a suspended user only); one request per
        user. Raises only when the first request is refused for the credentials (nothing attempted)."""
        if not self.write:
            raise ProviderError(PROVIDER, f"{action} users", "opened read-only (plan, check): nothing was changed")
        out: list[Outcome] = []
        for ref in refs:
            if ref.scope != self.settings.host:
                out.append(Outcome(ref, False, error=f"{ref.scope} is not this adapter's org ({self.settings.host})"))
                continue
            if action is Action.UNDELETE:
                out.append(Outcome(ref, False, error=IRREVERSIBLE))
                continue
            try:
                out.append(self._one(action, ref))
            except (AuthError, PermissionDenied) as err:
                if not out:
                    raise
                out.append(Outcome(ref, False, error=err.detail))
            except ProviderError as err:
                out.append(Outcome(ref, False, error=err.detail))
        return out

    def _one(self, action: Action, ref: CredentialRef) -> Outcome:
        verb = {Action.DISABLE: "suspend", Action.ENABLE: "unsuspend", Action.REMOVE: "deactivate"}[action]
        if action is Action.REMOVE:
            before = self._read(ref)
            if before is None or before.get("status") == mapping.GONE:
                return Outcome(ref, True, note="already deactivated" if before else "already gone (HTTP 404)")
            if before.get("status") != "SUSPENDED":
                return Outcome(ref, False, error=f"it is {before.get('status')} now, not suspended: not deactivated")
        path = f"/api/v1/users/{quote(ref.identity_id, safe='')}/lifecycle/{verb}"
        try:
            answer = self.client.post(path, f"{verb} user {ref.login}", untranslated=(400, 404),
                                      params={"sendEmail": "false"} if action is Action.REMOVE else None)
        except (AuthError, PermissionDenied):
            raise
        except ProviderError as err:  # sent, but no answer could be read: what does Okta say now?
            return self._landed(action, ref, f"{verb}: {err.detail}")
        if answer.status == 404:
            return Outcome(ref, False, error="user not found (HTTP 404)")
        if answer.status < 300:
            return Outcome(ref, True, note={"suspend": "suspended", "unsuspend": "unsuspended",
                                            "deactivate": "deactivated (irreversible)"}[verb])
        # 400: Okta refuses a transition the user's status does not allow; it may be in the wanted state already
        said = okta_error(answer.body) or "HTTP 400"
        current = self._read(ref)
        status = None if current is None else current.get("status")
        if status == _WANTED[action] or action is Action.REMOVE and status == mapping.GONE:
            return Outcome(ref, True, note=f"already {status}")
        if status is None:
            return Outcome(ref, False, error="user not found (HTTP 404)")
        why = " (Okta suspends only ACTIVE users)" if action is Action.DISABLE else ""
        return Outcome(ref, False, error=f"Okta refused to {verb} it: {said}; its status is {status}{why}")

    def _landed(self, action: Action, ref: CredentialRef, failure: str) -> Outcome:
        try:
            current = self._read(ref)
        except ProviderError as err:
            return Outcome(ref, False, uncertain=True, error=f"not known whether it took effect ({failure}); reading "
                           f"the user failed too ({err.detail[:200]}): recorded as interrupted, restore checks it")
        status = None if current is None else current.get("status")
        if status == _WANTED[action]:
            return Outcome(ref, True, note=f"{status} ({failure}; read back)")
        return Outcome(ref, False, error=f"{failure}; the user is {status or 'gone'}")

    # --- check and permissions ------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        results = []
        try:
            scope = self.scopes()[0]
        except BindingError as err:
            return [CheckResult("org", False, err.detail)]
        except ProviderError as err:
            return [CheckResult("org", False, err.detail)]
        bound = f"org id {self.settings.org_id} confirmed" if self.settings.org_id else "org_id not set: not bound"
        results.append(CheckResult("org", True, f"{scope} ({bound})"))
        try:
            who = self.whoami()
            results.append(CheckResult("authenticate", True, who.display))
        except ProviderError as err:
            return [*results, CheckResult("authenticate", False, err.detail)]
        for name, path, needs in (("read users", "/api/v1/users", SCOPE_USERS_READ),
                                  ("read admin roles", "/api/v1/iam/assignees/users", SCOPE_ROLES_READ)):
            try:
                self.client.get(path, f"check {name}", params={"limit": 1}, needs=needs)
                results.append(CheckResult(name, True, f"GET {path} answered"))
            except ProviderError as err:
                results.append(CheckResult(name, False, err.detail))
        results.append(CheckResult(
            "suspend users", None, f"cannot be probed without changing a user: needs {SCOPE_USERS_MANAGE} and an "
            "admin role that may manage users (Organization Administrator, or a custom role)"))
        return results

    @classmethod
    def permissions(cls, mode: str = "apply", settings: Any = None) -> str:
        """The scopes and the admin role for `mode`: "plan" (plan, check, notify: read only) or "apply"."""
        env = getattr(settings, "token_env", None) or "SWEEPER_OKTA_TOKEN"
        if mode == "plan":
            return PLAN.format(read=SCOPE_USERS_READ, roles=SCOPE_ROLES_READ, env=env)
        if mode == "apply":
            return APPLY.format(manage=SCOPE_USERS_MANAGE, roles=SCOPE_ROLES_READ, env=env,
                                read=" ".join(READ_SCOPES))
        raise ValueError(f"Okta has no {mode!r} permissions (modes: plan, apply)")

    @classmethod
    def permission_pages(cls) -> list[tuple[str, str, str, Any]]:
        """docs/okta.md: (heading, what it is for, mode, settings) per section."""
        return [("Plan job (plan, check, notify)", "Read only: the reader app's scopes and role.", "plan", None),
                ("Apply job (apply, restore)", "What acting adds: the writer app's scopes and role.", "apply", None)]

    def close(self) -> None:
        self.client.close()


_WANTED = {Action.DISABLE: "SUSPENDED", Action.ENABLE: "ACTIVE", Action.REMOVE: mapping.GONE}


PLAN = """Okta: plan, check, notify (read only)

OAuth 2.0 service app (auth = "private_key"; recommended), the reader
  1. Admin Console > Applications > Create App Integration > API Services.
  2. Client authentication: "Public key / Private key"; add the public key (keep its KID for key_id).
     Leave "Require Demonstrating Proof of Possession (DPoP)" off: the sweeper sends no DPoP proof.
  3. Okta API Scopes: grant only
       {read}    GET /api/v1/users, GET /api/v1/users/{{id}}
       {roles}    GET /api/v1/iam/assignees/users (who holds an admin role: protected)
  4. Admin roles: assign the app the Read-Only Administrator role (it grants both; a custom role
     with "View users and their details" and "View roles, resources, and admin assignments" does too).
  The plan job asks the token endpoint for these two scopes alone.

API token (auth = "api_token"; simpler, broader)
  Create it (Security > API > Tokens) signed in as a dedicated Read-Only Administrator: a token acts
  with every right of its admin, has no scopes, and Okta revokes it after 30 days unused. Put it,
  masked, in ${env} (token_env). The token's own user is never swept.
"""

APPLY = """Okta: apply, restore

OAuth 2.0 service app (auth = "private_key"), the writer, separate from the plan job's reader
  Okta API Scopes: grant
    {manage}    POST /api/v1/users/{{id}}/lifecycle/suspend and /unsuspend (restore); it covers
                          reading users. With remove_after_days (acted on only with apply --allow-remove),
                          also POST /api/v1/users/{{id}}/lifecycle/deactivate, which Okta cannot undo.
    {roles}      who holds an admin role (protected), as in the plan job
  Admin roles: a role that may manage users: Organization Administrator, or a custom role with
  "Edit users' lifecycle states" (and "View roles, resources, and admin assignments") on all users.
  Admins are protected (skip_admins), so no admin's state is changed.
  The plan job's app keeps {read}.

API token (auth = "api_token")
  Signed in as an admin holding the role above, in ${env}, in the apply job only (a protected
  environment); never the plan job's token.
"""
