"""Google Workspace users through the Admin SDK Directory API: list, refresh, suspend/restore; activity
beyond lastLoginTime from the Reports API's user usage report (`activity_sources`); the members of the
groups `[[rules]]` match on (`want_groups`, `providers.google_workspace.groups`)."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Sequence

import httplib2
from googleapiclient.errors import BatchError, HttpError

from providers.google_workspace import departures, groups, lifecycle, mapping, usage
from providers.google_workspace.client import (PROVIDER, SCOPE_AUDIT, SCOPE_GROUPS, SCOPE_READ, SCOPE_REPORTS,
                                               SCOPE_WRITE, DirectoryClient, UnmatchedBatch, error_info, retryable)
from providers.google_workspace.settings import CUSTOMER_ID, GoogleSettings
from sweeper.errors import AuthError, BindingError, DataError, PermissionDenied, ProviderError
from sweeper.kit.bounds import Listing
from sweeper.kit.retry import chunks, retry_after, retry_items
from sweeper.kit.secrets import scrub
from sweeper.model import Action, CheckResult, Credential, CredentialRef, Identity, Outcome, Principal

PAGE = 500  # the API's maximum
REPORT_PAGE = 1000  # the Reports API's maximum
REPORT_TRIES = 7  # report dates tried, newest first, before the report is given up as not yet there
OLDER_TRIES = 3  # ... for each older report (activity_lookback_days)
MY_CUSTOMER = "my_customer"  # the API's alias for the caller's own customer
LOGIN_ONLY = ("activity is lastLoginTime alone, which misses mail clients (IMAP, POP), SSO sign-ins and "
              "Drive use")
UNMATCHED = "the batch answer could not be matched to its requests"
NOT_YET = re.compile(r"(?:Data for dates later than|Start date can not be later than) (\d{4}-\d{2}-\d{2})")


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
        self._notes: dict[str, list[str]] = {}
        self._notes_lock = threading.Lock()
        self._rule_groups: list[str] = []
        self._membership: groups.Membership | None = None  # read once, by the first listing that needs it
        self.org_units: dict[str, str] = {}  # by user id, as refresh() last read them (a removal names it)
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # the report's newest likely date
        self._departures_since: datetime | None = None  # want_departures (#25): the admin audit log back to this
        self._scans: dict[str, departures.Scan] = {}  # scope -> when its suspended users were suspended

    # --- describe ------------------------------------------------------------------------------------

    def whoami(self) -> Principal:
        """Who the sweeper acts as. The credentials load here (a key file, a token, application default
        credentials), so a missing one fails `check`'s access row, not later rows."""
        s = self.settings
        self.client.service()
        if s.admin_subject:
            who = s.admin_subject
        elif s.auth == "access_token":
            who = f"access token from ${s.token_env}"
        else:
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
        and a user of another customer than `scope` fails it. With `activity_sources`, the usage
        report is read first and each user's last use is the newest either source knows of. With groups
        the rules match on (`want_groups`), their members are read before that, and each user carries
        the groups it is in (`Identity.groups`)."""
        membership = self._groups()
        report = self._usage(scope)
        if membership is not None:
            self._note(scope, membership.note())
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
                identity = mapping.identity(raw, scope, self.rules, position, report, self.name)
                if membership is not None:
                    identity = replace(identity, groups=membership.of(identity))
                if self._departures_since is not None and isinstance(raw, dict):
                    identity = self._departed(scope, raw, identity)
                yield identity
                position += 1
            request = users.list_next(request, page) if token else None
        if report is not None and report.newer:
            self._note(scope, f"{report.newer} user(s) seen in use later than their lastLoginTime")

    def want_groups(self, names: Sequence[str]) -> None:
        """The groups the config's rules match on, by email address (or alias, or id), as the rules name
        them: the users in them (directly or through nested groups) carry those names in
        `Identity.groups`. Called before listing; members.list reads each once, with a token of
        SCOPE_GROUPS alone, minted only when rules name groups."""
        with self._notes_lock:
            self._rule_groups = list(dict.fromkeys(names))
            self._membership = None

    def _groups(self) -> groups.Membership | None:
        """The rules' groups' members, read on first use; None when no rule names a group."""
        with self._notes_lock:
            wanted, found = list(self._rule_groups), self._membership
        if not wanted or found is not None:
            return found
        found = groups.read(self.client, self.settings, wanted)
        with self._notes_lock:
            self._membership = found
        return found

    def scope_notes(self, scope: str) -> list[str]:
        """What the last listing of `scope` says about its activity data (the report used, or why none),
        and why leavers' dates are not known (#25)."""
        with self._notes_lock:
            scan = self._scans.get(scope)
            return list(self._notes.get(scope, ())) + (scan.notes() if scan is not None else [])

    # --- people source (#25) -----------------------------------------------------------------------

    def want_departures(self, since: datetime) -> None:
        """Google Workspace is a people source (#25): suspended and archived users listed from now on
        carry `Identity.departure`, dated from the Admin console's audit log read back to `since` (one
        paged scan per customer and event, with a token of SCOPE_AUDIT alone, minted only then). Read
        only; without this call nothing more is read or minted."""
        with self._notes_lock:
            self._departures_since = since
            self._scans.clear()

    def _departed(self, scope: str, raw: dict[str, Any], identity: Identity) -> Identity:
        state = "archived" if raw.get("archived") is True else "suspended" if raw.get("suspended") is True else None
        if state is None:
            return identity
        with self._notes_lock:
            scan = self._scans.get(scope)
            if scan is None:
                assert self._departures_since is not None
                scan = self._scans[scope] = departures.Scan(self.client, self.settings, scope, self._departures_since,
                                                            self.clock())
        return replace(identity, departure=scan.departure(state, identity.login, identity.emails))

    def list_deleted(self, scope: str) -> Iterator[Identity]:
        """The users Google keeps as deleted (20 days, restorable), read only with users.list(showDeleted=true):
        each disabled, without credentials, departed "deleted" at its deletionTime, with its aliases."""
        if scope not in self.scopes():
            raise ProviderError(PROVIDER, "list deleted users", f"scope {scope!r} is not this adapter's customer")
        for raw in lifecycle.deleted_users(self, {scope}).values():
            yield departures.deleted_identity(raw, scope, self.name)

    def _note(self, scope: str, text: str) -> None:
        with self._notes_lock:
            self._notes.setdefault(scope, []).append(text)

    # --- the usage report ---------------------------------------------------------------------------

    def _usage(self, scope: str) -> usage.Usage | None:
        """The usage reports for `scope`, or None (no activity_sources, or none readable: then a note
        says why and users are judged by lastLoginTime alone). A report that is readable but broken
        (not in the documented shape, a loop, the deadline) raises: the scope fails, nothing is judged."""
        with self._notes_lock:
            self._notes[scope] = []
        sources = self.settings.activity_sources
        if not sources:
            return None
        report = usage.Usage(list(sources), scope)
        listing = self.settings.listing(PROVIDER, "read usage report")
        start = usage.newest_likely(self.clock())
        try:
            newest = self._first_with_data(report, scope, start, REPORT_TRIES, listing)
            if newest is None:
                self._note(scope, f"no usage report with data from {start} back {REPORT_TRIES} dates: "
                           f"{LOGIN_ONLY}")
                return None
            lookback = self.settings.activity_lookback_days
            for k in range(1, -(-lookback // usage.GMAIL_WINDOW_DAYS)):
                older = newest - timedelta(days=usage.GMAIL_WINDOW_DAYS * k)
                if self._first_with_data(report, scope, older, OLDER_TRIES, listing) is None:
                    self._note(scope, f"no usage report with data from {older} back {OLDER_TRIES} dates: "
                               "uses only it would show are not seen")
        except (PermissionDenied, AuthError) as err:
            self._note(scope, f"usage reports not readable ({_refusal(err)}); {LOGIN_ONLY}; grant the scope "
                       f"{SCOPE_REPORTS} (to a service account: by domain-wide delegation) and the Reports "
                       "privilege to its admin, or set activity_sources = []")
            return None
        read = ", ".join(str(d) for d in report.days)
        self._note(scope, f"activity also from the usage report{'s' if len(report.days) > 1 else ''} of {read} "
                   f"({', '.join(sources)})")
        return report

    def _first_with_data(self, report: usage.Usage, scope: str, start: date, tries: int,
                         listing: Listing) -> date | None:
        """Read into `report` the newest report dated `start` or earlier that has full data for the
        selected applications; at most `tries` dates. A date the API says is not yet available jumps
        to the date it names; one with warnings steps back a day. None when no date had data."""
        day = start
        for _ in range(tries):
            earlier = self._read_report(report, scope, day, listing)
            if earlier is None:
                return day
            day = earlier
        return None

    def _read_report(self, report: usage.Usage, scope: str, day: date, listing: Listing) -> date | None:
        """Every page of the report dated `day` into `report`; or the date to try instead."""
        reports = self.client.reports().userUsageReport()
        customer = scope if re.fullmatch(r"C.+", scope) else MY_CUSTOMER  # the API's pattern for customerId
        reading = report.reading(day)
        token: str | None = None
        operation = f"read usage report of {day}"
        while True:
            listing.page(token)
            request = reports.get(userKey="all", date=day.isoformat(), customerId=customer,
                                  parameters=report.parameters, maxResults=REPORT_PAGE, fields=usage.FIELDS,
                                  **({"pageToken": token} if token else {}))
            try:
                page = self.client.execute(request, operation, until=listing.ends, reports=True, untranslated=(400,))
            except HttpError as err:
                named = NOT_YET.search(error_info(err)[2])
                if named is None:
                    raise self.client.translate(err, operation) from err
                said = date.fromisoformat(named.group(1))
                return said if said < day else day - timedelta(days=1)
            token = page.get("nextPageToken") if isinstance(page, dict) else None
            try:
                if not isinstance(page, dict) or token is not None and not isinstance(token, str):
                    raise usage.ReportShape("a page is not an object, or its nextPageToken is not text")
                if usage.warned_apps(page, report.apps):
                    return day - timedelta(days=1)
                reading.page(page)
            except usage.ReportShape as err:
                raise DataError(PROVIDER, operation, f"the usage report is not in the documented shape ({err}); "
                                "nothing is judged on a report that cannot be read") from err
            if not token:
                reading.done()
                return None

    def refresh(self, ref: CredentialRef) -> Credential | None:
        """The user as the API has it now; None when it is gone: unknown (404), or deleted and kept by
        Google for undelete (412 "User is deleted.")."""
        operation = f"read user {ref.login}"
        request = self.client.users().get(userKey=ref.identity_id, projection="basic", fields=mapping.USER_FIELDS)
        try:
            raw = self.client.execute(request, operation, missing_ok=True, untranslated=(412,))
        except HttpError as err:
            if lifecycle.is_deleted(err):
                return None
            raise self.client.translate(err, operation) from err
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise DataError(PROVIDER, operation, "users.get did not answer a user object")
        if ref.scope != MY_CUSTOMER:  # runs recorded before the binding have no customer id to compare
            _same_customer(raw, ref.scope, operation)
        if isinstance(raw.get("orgUnitPath"), str):
            self.org_units[ref.identity_id] = raw["orgUnitPath"]
        return mapping.credential(raw, self.rules)

    # --- apply ------------------------------------------------------------------------------------------

    def apply(self, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
        """Suspend (DISABLE) or unsuspend (ENABLE) in multipart batches. Throttled items are sent
        again in a later batch, within `retries` rounds and `retry_budget_seconds`. A batch whose
        answer cannot be matched to its requests is settled by reading each user's state
        (`_reread`): what took effect is done; what could not be read at all is uncertain. REMOVE
        and UNDELETE (users.delete, users.undelete) are `lifecycle.apply`'s."""
        if not self.write:  # opened for plan/check: refuse rather than change anything
            raise ProviderError(PROVIDER, f"{action} users", "this adapter was opened read-only")
        if action in (Action.REMOVE, Action.UNDELETE):
            return lifecycle.apply(self, action, refs)
        if len(refs) > self.batch_size:
            return [o for chunk in chunks(refs, self.batch_size) for o in self.apply(action, chunk)]
        want = action is Action.DISABLE
        outcomes: dict[int, Outcome] = {}
        last_error: dict[int, str] = {}
        unsure: set[int] = set()  # sent in a batch whose effect on them is not known

        def send(indexes: list[int]) -> dict[int, float | None]:
            return self._round(want, {i: refs[i] for i in indexes}, outcomes, last_error, unsure)

        left, tries = retry_items(range(len(refs)), send, self.client.budget(), self.client.sleep)
        for i in left:
            if i in unsure:
                outcomes[i] = Outcome(refs[i], False, uncertain=True, error=(
                    f"not known whether it took effect after {tries} attempts ({last_error.get(i, 'unknown')}); "
                    "recorded as interrupted: restore checks the user's state"))
            else:
                last = last_error.get(i, "rate limited")
                state = "not done" if last.startswith(UNMATCHED) else "still throttled"
                outcomes[i] = Outcome(refs[i], False, error=f"{state} after {tries} attempts ({last})")
        return [outcomes[i] for i in range(len(refs))]

    def _round(self, want: bool, pending: dict[int, CredentialRef], outcomes: dict[int, Outcome],
               last_error: dict[int, str], unsure: set[int]) -> dict[int, float | None]:
        """Send one batch; fill `outcomes`; return the indexes to retry, each with its Retry-After."""
        users = self.client.users()
        requests = {str(i): users.update(userKey=ref.identity_id, body={"suspended": want}, fields="id,suspended")
                    for i, ref in pending.items()}
        try:
            results = self.client.batch(requests)
        except UnmatchedBatch as unmatched:
            return self._reread(want, pending, outcomes, last_error, unsure, str(unmatched))
        except Exception as batch_err:  # the whole batch failed
            return self._batch_failed(batch_err, pending, outcomes, last_error, unsure)
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

    def _reread(self, want: bool, pending: dict[int, CredentialRef], outcomes: dict[int, Outcome],
                last_error: dict[int, str], unsure: set[int], why: str) -> dict[int, float | None]:
        """After an answer that cannot be matched: read each user's state, as reconciling an
        interrupted run would. In the wanted state: done. Not in it: sent again in the next round
        (suspending is idempotent). Not readable: sent again, and uncertain until an answer settles
        it; after the first user that cannot be read, the others are not tried (the API is not
        answering), so they are sent again the same way."""
        said = f"{UNMATCHED}: {why}"
        retry: dict[int, float | None] = {}
        failed: str | None = None  # why reading stopped
        for i, ref in pending.items():
            if failed is None:
                try:
                    suspended = self._suspended(ref)
                except ProviderError as err:
                    failed = f"reading the user failed: {err.detail[:200]}"
            if failed is not None:
                unsure.add(i)
                last_error[i] = f"{said}; {failed}"
                retry[i] = None
            elif suspended is None:
                outcomes[i] = Outcome(ref, False, error="user not found")
            elif suspended is want:
                word = "suspended" if want else "unsuspended"
                outcomes[i] = Outcome(ref, True, note=f"{word} ({said}; users.get shows it {word})")
            else:
                unsure.discard(i)  # read since: known not to have taken effect
                last_error[i] = f"{said}; users.get shows it not changed"
                retry[i] = None
        return retry

    def _suspended(self, ref: CredentialRef) -> bool | None:
        """Whether the user is suspended now (users.get); None when it no longer exists."""
        request = self.client.users().get(userKey=ref.identity_id, projection="basic",
                                          fields="id,suspended,customerId")
        raw = self.client.execute(request, f"read user {ref.login}", missing_ok=True)
        if raw is None:
            return None
        if ref.scope != MY_CUSTOMER:
            _same_customer(raw, ref.scope, f"read user {ref.login}")
        suspended = raw.get("suspended", False) if isinstance(raw, dict) else None
        if not isinstance(suspended, bool):
            raise DataError(PROVIDER, f"read user {ref.login}", "users.get did not say whether it is suspended")
        return suspended

    def _checked(self, ref: CredentialRef, answer: Any, want: bool) -> Outcome:
        if isinstance(answer, dict) and answer.get("suspended") is want:
            return Outcome(ref, True, note="suspended" if want else "unsuspended")
        return Outcome(ref, False, error=f"the API accepted the change but answered suspended="
                                         f"{answer.get('suspended') if isinstance(answer, dict) else '?'}")

    def _batch_failed(self, err: Exception, pending: dict[int, CredentialRef], outcomes: dict[int, Outcome],
                      last_error: dict[int, str], unsure: set[int]) -> dict[int, float | None]:
        """Transient whole-batch failures are retried (suspension is idempotent); others fail every
        item, or raise when nothing at all has been attempted yet (the contract's 'cannot attempt').
        An item an earlier round left uncertain stays uncertain: this failure says nothing of it."""
        if isinstance(err, HttpError) and not isinstance(err, BatchError) and retryable(*error_info(err)[:2]) \
                or isinstance(err, (BatchError, ValueError, OSError, httplib2.HttpLib2Error)):
            text = self.client.describe(err) if isinstance(err, HttpError) else \
                f"the batch failed ({type(err).__name__})"
            last_error.update((i, text) for i in pending)
            after = retry_after(err.resp) if isinstance(err, HttpError) else None
            return dict.fromkeys(pending, after)
        translated = self.client.translate(err, "apply batch")
        if not outcomes and not unsure and isinstance(translated, (AuthError, PermissionDenied)):
            raise translated from err
        for i, ref in pending.items():
            if i in unsure:
                outcomes[i] = Outcome(ref, False, uncertain=True, error=(
                    f"not known whether it took effect ({last_error.get(i, UNMATCHED)}); then {translated.detail}; "
                    "recorded as interrupted: restore checks the user's state"))
            else:
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
        results.append(self._check_reports(scope))
        results.append(CheckResult(
            "suspend users", None,
            f"cannot be probed without changing a user: needs scope {SCOPE_WRITE} and an admin role that may "
            "update users (a delegated admin cannot suspend super admins)"))
        return results

    def _check_reports(self, scope: str) -> CheckResult:
        """Read the usage report as a sweep would: which date, or why not. Reports are optional, so a
        refusal fails the check only when activity_sources was set in the config."""
        if not self.settings.activity_sources:
            return CheckResult("read usage reports", None, "activity_sources = []: judged by lastLoginTime alone")
        try:
            report = self._usage(scope)
        except ProviderError as err:
            return CheckResult("read usage reports", False, err.detail)
        notes = "; ".join(self.scope_notes(scope))
        if report is not None:
            return CheckResult("read usage reports", True, f"{notes} (scope {SCOPE_REPORTS})")
        asked = "activity_sources" in self.settings.model_fields_set
        return CheckResult("read usage reports", False if asked else None, notes)

    @classmethod
    def permissions(cls, mode: str = "apply", settings: Any = None) -> str:
        """The scopes, delegation and admin role for `mode`: "plan" (plan, check, notify: read only)
        or "apply" (apply, restore). Google has no member accounts: "org-member" raises ValueError.
        The reports scope is listed when `activity_sources` (default: all) asks for usage reports; the
        group scope always, as what `[[rules]]` that match on groups add (the settings do not know the rules)."""
        token_env = getattr(settings, "token_env", None) or "SWEEPER_GOOGLE_TOKEN"
        subject = getattr(settings, "admin_subject", None) or "<admin_subject>"
        sources = getattr(settings, "activity_sources", None)
        reports = sources is None or bool(sources)
        if mode == "plan":
            text = PLAN.format(scope=SCOPE_READ, token_env=token_env, subject=subject, groups=SCOPE_GROUPS,
                               audit=SCOPE_AUDIT, scopes=f"{SCOPE_READ},{SCOPE_REPORTS}" if reports else SCOPE_READ)
        elif mode == "apply":
            text = APPLY.format(scope=SCOPE_WRITE, read=SCOPE_READ, token_env=token_env, subject=subject,
                                groups=SCOPE_GROUPS, audit=SCOPE_AUDIT,
                                scopes=f"{SCOPE_WRITE},{SCOPE_REPORTS}" if reports else SCOPE_WRITE)
        else:
            raise ValueError(f"Google Workspace has no {mode!r} permissions (modes: plan, apply)")
        return _with_reports(text, reports)

    @classmethod
    def permission_pages(cls) -> list[tuple[str, str, str, Any]]:
        """docs/google_workspace.md: (heading, what it is for, mode, settings) per section."""
        return [("Plan job (plan, check, notify)", "Read only: the reader's delegation and role.", "plan", None),
                ("Apply job (apply, restore)", "What acting adds: the writer's delegation and role.", "apply", None)]

    def close(self) -> None:
        self.client.close()


def _refusal(err: ProviderError) -> str:
    """Why the reports were refused, from what the API or the token endpoint said."""
    cause = err.__cause__
    if isinstance(cause, HttpError):
        status, reason, message = error_info(cause)
        return scrub(f"HTTP {status} {reason}: {message}")[:200]
    if cause is not None:
        return scrub(f"{type(cause).__name__}: {cause}")[:200]
    return err.detail[:200]


def _with_reports(text: str, reports: bool) -> str:
    """The permission text with its usage-report lines, or without them (activity_sources = [])."""
    lines = []
    for line in text.splitlines(keepends=True):
        tagged = line.startswith("@")
        if tagged and reports:
            lines.append(line[1:])
        elif not tagged:
            lines.append(line)
    return "".join(lines)


def _same_customer(raw: object, scope: str, operation: str) -> None:
    """A user record that names another customer than `scope` means the answer cannot be trusted."""
    if isinstance(raw, dict) and "customerId" in raw and raw["customerId"] != scope:
        who = raw.get("primaryEmail") or raw.get("id") or "a user"
        raise DataError(PROVIDER, operation, f"{str(who)[:80]!r} belongs to customer {str(raw['customerId'])[:40]!r}, "
                        f"not {scope}: an answer with another customer's users is not trusted; nothing is judged")


# Lines starting with "@" are about the usage reports: kept (without the "@") while activity_sources
# asks for reports, left out with activity_sources = [].
PLAN = """Google Workspace (Admin SDK): plan, check, notify (read only)

OAuth scopes: the only ones the plan job mints
  {scope}
    users.list and users.get; it also resolves the customer the credentials belong to
    (users.list with customer=my_customer answers each user's customerId)
@  https://www.googleapis.com/auth/admin.reports.usage.readonly
@    the user usage report (userUsageReport.get, all users, one date, 1,000 a page): sign-ins,
@    SSO, Gmail over IMAP, POP and the web, Drive use, per activity_sources. Minted as a token
@    of its own; without it (HTTP 403) the sweep judges by lastLoginTime alone and says so.
@    activity_sources = [] stops asking for it.
  {groups}
    only when [[rules]] match on groups (match.groups, a group's email address or id): members.list
    of each such group with its nested groups' members (includeDerivedMembership, 200 a page),
    once per run. Minted as a token of its own, and only then: a delegation of the scopes above
    alone keeps serving configs without such rules. With them, add this scope to the delegation;
    without it (HTTP 403, or a refused token) the customer's sweep fails and names it.
  {audit}
    only when [people] sources name google_workspace (leavers): the Admin console's audit log
    (activities.list, applicationName=admin, events SUSPEND_USER and ARCHIVE_USER, 1,000 a page),
    once per customer, for when each suspended or archived user was; the deleted users come from
    users.list(showDeleted=true) under the user scope. Minted as a token of its own, and only
    then; without it (HTTP 403, or a refused token) those dates are unknown and the report says so.

Reader service account with domain-wide delegation (auth = "service_account" or "default")
  1. Enable the Admin SDK API in the service account's Google Cloud project.
  2. Admin console > Security > Access and data control > API controls > Domain-wide delegation:
     add the reader service account's client id (numeric) with only the scopes above (the
     group scope only when rules match on groups).
  3. Set admin_subject to an admin whose role grants Admin API privileges > Users > Read only
     (a custom role, not super admin); the service account acts as that admin.
@     The role also needs Admin console privileges > Reports, for the usage report.
     With rules that match on groups, the role also needs Admin API privileges > Groups > Read.
     With [people] sources naming google_workspace, it also needs the Admin console privilege that
     reads the admin audit log (in the role's reports privileges).

Keyless, from GitHub Actions (auth = "access_token")
  google-github-actions/auth with workload_identity_provider, service_account: <reader>,
  token_format: access_token, access_token_subject: {subject},
  access_token_scopes: {scopes}
  (with rules that match on groups: ,{groups} added; with [people] sources: ,{audit} added)
  then export the token, masked, as ${token_env} (token_env). The pool's principal for the
  repository needs Service Account Token Creator on the reader service account only.
"""

APPLY = """Google Workspace (Admin SDK): apply, restore

OAuth scopes: the only ones the apply job mints (they cover the fresh read before acting)
  {scope}
    users.update (suspend, unsuspend). The same scope covers removal (remove_after_days, acted
    on only with apply --allow-remove): users.delete, and for restore within Google's 20 days
    users.list(showDeleted=true) and users.undelete; no other scope is needed for them.
@  https://www.googleapis.com/auth/admin.reports.usage.readonly (read only: the usage report)
  {groups}
    (read only; only when [[rules]] match on groups: the groups' members, as in the plan job)
  {audit}
    (read only; only when [people] sources name google_workspace: as in the plan job)
  The plan job keeps the read-only scope {read}

Writer service account, separate from the plan job's reader
  1. Admin console > Security > Access and data control > API controls > Domain-wide delegation:
     add the writer's client id (numeric) with the scopes above. Leave the reader's entry at the
     read-only scopes, so that what can mint the reader's tokens can never write. The group
     scope belongs in both entries only when rules match on groups.
  2. Set admin_subject to an admin whose role grants Admin API privileges > Users > Read and
     Users > Update (suspend and unsuspend); a custom role, not super admin. A delegated admin
     cannot suspend super admins: the sweeper protects them by default (skip_admins), and a
     suspend of one fails with 403 rather than succeeding.
     With remove_after_days, the role also needs Users > Delete: the admin must be allowed to
     delete users (users.delete), and restore undeletes them (users.undelete). The Admin console
     recovers deleted users only as a super admin: if Google refuses an undelete to the role
     (HTTP 403, named in restore's output), restore that run as a super admin within the 20 days.
@     The role also needs Admin console privileges > Reports, for the usage report.
     With rules that match on groups, the role also needs Admin API privileges > Groups > Read.
     With [people] sources naming google_workspace, it also needs the Admin console privilege that
     reads the admin audit log (in the role's reports privileges).

Keyless, from GitHub Actions (auth = "access_token"), in the apply job only
  Run the job in a protected environment (required reviewers, default branch only), and give
  Service Account Token Creator on the writer only to that environment's subject:
  principal://iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/
  subject/repo:<owner>/<repo>:environment:<environment>
  google-github-actions/auth with workload_identity_provider, service_account: <writer>,
  token_format: access_token, access_token_subject: {subject},
  access_token_scopes: {scopes}
  (with rules that match on groups: ,{groups} added; with [people] sources: ,{audit} added)
  then export the token, masked, as ${token_env} (token_env).
"""
