"""Google Workspace users through the Admin SDK Directory API: list, refresh, suspend/restore."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import httplib2
from googleapiclient.errors import BatchError, HttpError

from providers.google_workspace import mapping
from providers.google_workspace.client import (PROVIDER, SCOPE_READ, SCOPE_WRITE, DirectoryClient,
                                               error_info, retryable)
from providers.google_workspace.settings import CUSTOMER_ID, GoogleSettings
from sweeper.errors import AuthError, BindingError, DataError, PermissionDenied, ProviderError
from sweeper.kit.retry import chunks, retry_after, retry_items
from sweeper.model import Action, CheckResult, Credential, CredentialRef, Identity, Outcome, Principal

PAGE = 500  # the API's maximum
MY_CUSTOMER = "my_customer"  # the API's alias for the caller's own customer


class GoogleWorkspaceAdapter:
    """One Google Workspace customer. Suspension is the disable; unsuspension restores."""

    name = PROVIDER
    listing_is_live = True  # each listing reads users as the Directory API has them now

    def __init__(self, settings: GoogleSettings, *, write: bool) -> None:
        self.settings = settings
        self.write = write
        self.batch_size = settings.batch_size
        self.max_parallel = settings.max_parallel
        self.client = DirectoryClient(settings, write=write)
        self.rules = mapping.Rules.of(settings.exclude_org_units, settings.skip_admins, settings.admin_subject)
        self._scopes: list[str] | None = None

    # --- describe ------------------------------------------------------------------------------------

    def whoami(self) -> Principal:
        s = self.settings
        if s.admin_subject:
            who = s.admin_subject
        elif s.auth == "access_token":
            who = f"access token from ${s.token_env}"
        else:
            if s.auth == "service_account":
                try:  # reading the key file is local; application default credentials may probe the network
                    self.client.service()
                except ProviderError:
                    pass
            who = self.client.service_account_email or (
                f"service account in {s.credentials_file}" if s.auth == "service_account"
                else "application default credentials")
        return Principal(PROVIDER, who, who, scope=self._scopes[0] if self._scopes else s.customer)

    def scopes(self) -> list[str]:
        """The customer id the credentials belong to, bound to the configured one before anything is listed.

        users.list(customer=my_customer) answers users of the caller's own customer, each with its
        customerId: one small request, under the read-only scope a plan job has (customers.get would
        need another). A configured id that differs raises BindingError naming both; with my_customer
        the resolved id is the scope, and every listing is pinned to it (`customer=<id>`)."""
        if self._scopes is None:
            actual = self._resolve()
            configured = self.settings.customer
            if configured != MY_CUSTOMER and configured != actual:
                raise BindingError(PROVIDER, "customer", configured, actual,
                                   how="users.list(customer=my_customer) answers that customer's users")
            self._scopes = [actual]
        return list(self._scopes)

    def _resolve(self) -> str:
        page = self.client.execute(self.client.users().list(
            customer=MY_CUSTOMER, maxResults=1, projection="basic", fields="users(customerId)"), "bind customer")
        users = page.get("users") if isinstance(page, dict) else None
        found = users[0].get("customerId") if isinstance(users, list) and users and isinstance(users[0], dict) else None
        if not isinstance(found, str) or not CUSTOMER_ID.fullmatch(found):
            raise DataError(PROVIDER, "bind customer", "users.list(customer=my_customer) named no customer id "
                            f"({str(found)[:40]!r}), so which customer these credentials belong to is unknown; "
                            "nothing was listed")
        return found

    # --- list and refresh -----------------------------------------------------------------------------

    def list_identities(self, scope: str) -> Iterator[Identity]:
        """Every user of the customer, page by page; a failing page raises, never truncates. The
        listing is bounded (`listing_deadline_seconds`, a page token seen twice, `max_response_mb`),
        and a user of another customer than `scope` fails it."""
        listing = self.settings.listing(PROVIDER, "list users")
        users = self.client.users()
        request = users.list(customer=scope, maxResults=PAGE, projection="basic", fields=mapping.LIST_FIELDS)
        position = 0
        token: str | None = None
        while request is not None:
            listing.page(token)
            page = self.client.execute(request, "list users", until=listing.ends)
            records = page.get("users", []) if isinstance(page, dict) else None
            token = page.get("nextPageToken") if isinstance(page, dict) else None
            if not isinstance(records, list) or token is not None and not isinstance(token, str):
                raise DataError(PROVIDER, "list users", "a users.list page is not in the documented shape")
            for raw in records:
                _same_customer(raw, scope, "list users")
                yield mapping.identity(raw, scope, self.rules, position)
                position += 1
            request = users.list_next(request, page) if token else None

    def refresh(self, ref: CredentialRef) -> Credential | None:
        request = self.client.users().get(userKey=ref.identity_id, projection="basic", fields=mapping.USER_FIELDS)
        raw = self.client.execute(request, f"read user {ref.login}", missing_ok=True)
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise DataError(PROVIDER, f"read user {ref.login}", "users.get did not answer a user object")
        if ref.scope != MY_CUSTOMER:  # runs recorded before the binding have no customer id to compare
            _same_customer(raw, ref.scope, f"read user {ref.login}")
        return mapping.credential(raw, self.rules)

    # --- apply ------------------------------------------------------------------------------------------

    def apply(self, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
        """Suspend (DISABLE) or unsuspend (ENABLE) in multipart batches. Throttled items are sent
        again in a later batch, within `retries` rounds and `retry_budget_seconds`."""
        if not self.write:  # opened for plan/check: refuse rather than change anything
            raise ProviderError(PROVIDER, f"{action} users", "this adapter was opened read-only")
        if len(refs) > self.batch_size:
            return [o for chunk in chunks(refs, self.batch_size) for o in self.apply(action, chunk)]
        want = action is Action.DISABLE
        outcomes: dict[int, Outcome] = {}
        last_error: dict[int, str] = {}

        def send(indexes: list[int]) -> dict[int, float | None]:
            return self._round(want, {i: refs[i] for i in indexes}, outcomes, last_error)

        left, tries = retry_items(range(len(refs)), send, self.client.budget(), self.client.sleep)
        for i in left:
            outcomes[i] = Outcome(refs[i], False, error=f"still throttled after {tries} attempts "
                                                        f"({last_error.get(i, 'rate limited')})")
        return [outcomes[i] for i in range(len(refs))]

    def _round(self, want: bool, pending: dict[int, CredentialRef], outcomes: dict[int, Outcome],
               last_error: dict[int, str]) -> dict[int, float | None]:
        """Send one batch; fill `outcomes`; return the indexes to retry, each with its Retry-After."""
        users = self.client.users()
        requests = {str(i): users.update(userKey=ref.identity_id, body={"suspended": want}, fields="id,suspended")
                    for i, ref in pending.items()}
        try:
            results = self.client.batch(requests)
        except Exception as batch_err:  # the whole batch failed
            return self._batch_failed(batch_err, pending, outcomes, last_error)
        retry: dict[int, float | None] = {}
        for i, ref in pending.items():
            answer, err = results.get(str(i), (None, None))
            if str(i) not in results:
                outcomes[i] = Outcome(ref, False, error="the batch answer has no part for this user; "
                                                        "its state is unknown until refreshed")
            elif err is None:
                outcomes[i] = self._checked(ref, answer, want)
            else:
                status, reason, _ = error_info(err)
                if retryable(status, reason):
                    retry[i] = retry_after(err.resp)
                    last_error[i] = self.client.describe(err)
                else:
                    outcomes[i] = Outcome(ref, False, error=self.client.describe(err))
        return retry

    def _checked(self, ref: CredentialRef, answer: Any, want: bool) -> Outcome:
        if isinstance(answer, dict) and answer.get("suspended") is want:
            return Outcome(ref, True, note="suspended" if want else "unsuspended")
        return Outcome(ref, False, error=f"the API accepted the change but answered suspended="
                                         f"{answer.get('suspended') if isinstance(answer, dict) else '?'}")

    def _batch_failed(self, err: Exception, pending: dict[int, CredentialRef], outcomes: dict[int, Outcome],
                      last_error: dict[int, str]) -> dict[int, float | None]:
        """Transient whole-batch failures are retried (suspension is idempotent); others fail every
        item, or raise when nothing at all has been attempted yet (the contract's 'cannot attempt')."""
        if isinstance(err, HttpError) and retryable(*error_info(err)[:2]) or isinstance(
                err, (BatchError, ValueError, OSError, httplib2.HttpLib2Error)):
            text = self.client.describe(err) if isinstance(err, HttpError) else \
                f"the batch failed ({type(err).__name__})"
            last_error.update((i, text) for i in pending)
            after = retry_after(err.resp) if isinstance(err, HttpError) else None
            return dict.fromkeys(pending, after)
        translated = self.client.translate(err, "apply batch")
        if not outcomes and isinstance(translated, (AuthError, PermissionDenied)):
            raise translated from err
        for i, ref in pending.items():
            outcomes[i] = Outcome(ref, False, error=translated.detail)
        return {}

    # --- check and permissions --------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        results = []
        try:
            scope = self.scopes()[0]
        except BindingError as err:
            return [CheckResult("customer", False, err.detail)]
        except ProviderError as err:
            return [CheckResult("read users", False, err.detail)]
        how = ("resolved from my_customer" if self.settings.customer == MY_CUSTOMER
               else "the configured customer")
        results.append(CheckResult("customer", True, f"the credentials belong to {scope} ({how}); listings are "
                                                     "pinned to it"))
        try:
            self.client.execute(self.client.users().list(
                customer=scope, maxResults=1, projection="basic", fields="users(id)"), "check read access")
            results.append(CheckResult("read users", True, f"users.list answered (scope {self.client.scope})"))
        except ProviderError as err:
            results.append(CheckResult("read users", False, err.detail))
        results.append(CheckResult(
            "suspend users", None,
            f"cannot be probed without changing a user: needs scope {SCOPE_WRITE} and an admin role that may "
            "update users (a delegated admin cannot suspend super admins)"))
        return results

    @classmethod
    def permissions(cls, mode: str = "apply", settings: Any = None) -> str:
        """The scope, delegation and admin role for `mode`: "plan" (plan, check, notify: read only)
        or "apply" (apply, restore). Google has no member accounts: "org-member" raises ValueError."""
        token_env = getattr(settings, "token_env", None) or "SWEEPER_GOOGLE_TOKEN"
        subject = getattr(settings, "admin_subject", None) or "<admin_subject>"
        if mode == "plan":
            return PLAN.format(scope=SCOPE_READ, token_env=token_env, subject=subject)
        if mode == "apply":
            return APPLY.format(scope=SCOPE_WRITE, read=SCOPE_READ, token_env=token_env, subject=subject)
        raise ValueError(f"Google Workspace has no {mode!r} permissions (modes: plan, apply)")

    def close(self) -> None:
        self.client.close()


def _same_customer(raw: object, scope: str, operation: str) -> None:
    """A user record that names another customer than `scope` means the answer cannot be trusted."""
    if isinstance(raw, dict) and "customerId" in raw and raw["customerId"] != scope:
        who = raw.get("primaryEmail") or raw.get("id") or "a user"
        raise DataError(PROVIDER, operation, f"{str(who)[:80]!r} belongs to customer {str(raw['customerId'])[:40]!r}, "
                        f"not {scope}: an answer with another customer's users is not trusted; nothing is judged")


PLAN = """Google Workspace (Admin SDK Directory API): plan, check, notify (read only)

OAuth scope: the only one the plan job mints
  {scope}
  It is all the sweeper needs to read users and to resolve the customer the credentials belong
  to (users.list with customer=my_customer answers each user's customerId).

Reader service account with domain-wide delegation (auth = "service_account" or "default")
  1. Enable the Admin SDK API in the service account's Google Cloud project.
  2. Admin console > Security > Access and data control > API controls > Domain-wide delegation:
     add the reader service account's client id (numeric) with only the scope above.
  3. Set admin_subject to an admin whose role grants Admin API privileges > Users > Read only
     (a custom role, not super admin); the service account acts as that admin.

Keyless, from GitHub Actions (auth = "access_token")
  google-github-actions/auth with workload_identity_provider, service_account: <reader>,
  token_format: access_token, access_token_subject: {subject},
  access_token_scopes: {scope}
  then export the token, masked, as ${token_env} (token_env). The pool's principal for the
  repository needs Service Account Token Creator on the reader service account only.
"""

APPLY = """Google Workspace (Admin SDK Directory API): apply, restore

OAuth scope: the only one the apply job mints (it covers the fresh read before acting)
  {scope}
  The plan job keeps the read-only scope {read}

Writer service account, separate from the plan job's reader
  1. Admin console > Security > Access and data control > API controls > Domain-wide delegation:
     add the writer's client id (numeric) with the scope above. Leave the reader's entry at the
     read-only scope, so that what can mint the reader's tokens can never write.
  2. Set admin_subject to an admin whose role grants Admin API privileges > Users > Read and
     Users > Update (suspend and unsuspend); a custom role, not super admin. A delegated admin
     cannot suspend super admins: the sweeper protects them by default (skip_admins), and a
     suspend of one fails with 403 rather than succeeding.

Keyless, from GitHub Actions (auth = "access_token"), in the apply job only
  Run the job in a protected environment (required reviewers, default branch only), and give
  Service Account Token Creator on the writer only to that environment's subject:
  principal://iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/
  subject/repo:<owner>/<repo>:environment:<environment>
  google-github-actions/auth with workload_identity_provider, service_account: <writer>,
  token_format: access_token, access_token_subject: {subject},
  access_token_scopes: {scope}
  then export the token, masked, as ${token_env} (token_env).
"""
