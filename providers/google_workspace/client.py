"""The one place where google-api-python-client and google-auth are called: credentials, the
Directory and Reports services, per-thread HTTP, retries, batches, and translation of their errors.

httplib2 is not thread-safe, so each thread gets its own AuthorizedHttp and every request is
executed with `http=` (the library's documented way); the service object is shared. Underneath is a
`transport.BoundedHttp`: no redirect is followed, and each answer is bounded in time and size.
With `client_options={"api_endpoint": ...}`, discovery.build() replaces the static document's
rootUrl + servicePath ("https://admin.googleapis.com/" + "") by the endpoint, so method paths
("admin/directory/v1/users", "admin/reports/v1/usage/...") resolve against it; the trailing slash
keeps a path prefix intact.

The usage reports have credentials of their own, minted for the reports scope alone and only when
`activity_sources` asks for reports: the Directory token never carries it, and a delegation that
does not grant it fails only the report (which then falls back), not the listing. Group membership
for `[[rules]]` that match on groups (#26) has its own too, for SCOPE_GROUPS alone and only when the
rules name groups: a delegation of the user scopes alone keeps serving every other config, and one
that lacks the group scope fails only the token for it, with an error that names it. The admin audit
activities (#25: when leavers were suspended) have their own too, for SCOPE_AUDIT alone and only when
the adapter is a people source (`want_departures`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable

import google.auth
import google_auth_httplib2
import httplib2
from google.auth import exceptions as auth_exceptions
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account
from googleapiclient import discovery
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from providers.google_workspace.settings import GoogleSettings
from providers.google_workspace.transport import (AnswerDeadline, AnswerTooLarge, BoundedHttp, ListingDeadline,
                                                  Redirected)
from sweeper.errors import AuthError, DataError, NotFound, PermissionDenied, ProviderError
from sweeper.kit.bounds import MB
from sweeper.kit.retry import Budget, retry_after
from sweeper.kit.secrets import remember, scrub
from sweeper.kit.status import error_for_status

PROVIDER = "google_workspace"
SCOPE_READ = "https://www.googleapis.com/auth/admin.directory.user.readonly"
SCOPE_WRITE = "https://www.googleapis.com/auth/admin.directory.user"
SCOPE_REPORTS = "https://www.googleapis.com/auth/admin.reports.usage.readonly"
SCOPE_GROUPS = "https://www.googleapis.com/auth/admin.directory.group.member.readonly"
SCOPE_AUDIT = "https://www.googleapis.com/auth/admin.reports.audit.readonly"  # admin activities (#25, leavers)
RATE_REASONS = {"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
MAX_BACKOFF = 32.0  # seconds, one wait


class UnmatchedBatch(Exception):
    """A batch was answered, but the answer's parts could not be matched to its requests or read
    (google-api-python-client #536: the Directory API has sent malformed part ids). Each request
    may or may not have taken effect; the message says what was wrong, in one line."""


def error_info(err: HttpError) -> tuple[int, str, str]:
    """(status, reason, message) from a Google error body; tolerant of bodies that are not JSON and
    of errors without a response (BatchError: status 0)."""
    status = int(getattr(err.resp, "status", 0) or 0)
    reason, message = "", str(getattr(err.resp, "reason", "") or "")
    try:
        body = json.loads(err.content)["error"]
        message = str(body.get("message") or message)
        errors = body.get("errors") or []
        reason = str(errors[0].get("reason") if errors else body.get("status") or "")
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        pass
    return status, reason, message[:300]


def retryable(status: int, reason: str) -> bool:
    """Throttling or a transient server error: worth another try later."""
    return status in (429, 500, 502, 503, 504) or status == 403 and reason in RATE_REASONS


class DirectoryClient:
    """Directory API access for one adapter. `sleep` is the backoff wait (tests replace it)."""

    def __init__(self, settings: GoogleSettings, *, write: bool) -> None:
        self.settings = settings
        self.scope = SCOPE_WRITE if write else SCOPE_READ
        self.endpoint = settings.endpoint.rstrip("/")
        self.batch_uri = self.endpoint + "/batch"  # new_batch_http_request() would ignore our endpoint
        self.sleep: Callable[[float], None] = time.sleep
        self._lock = threading.Lock()
        self._local = threading.local()
        self._https: list[BoundedHttp] = []
        self._credentials: Any = None
        self._service: Any = None
        self._reports_credentials: Any = None
        self._reports: Any = None
        self._groups_credentials: Any = None
        self._groups: Any = None
        self._audit_credentials: Any = None
        self._audit: Any = None

    # --- credentials and service --------------------------------------------------------------

    def _make_credentials(self, scope: str) -> Any:
        s = self.settings
        if s.auth == "access_token":
            token = os.environ.get(s.token_env, "").strip()
            if not token:
                raise AuthError(PROVIDER, "authenticate", f"auth = access_token but ${s.token_env} is not set "
                                "or empty: put a Directory API access token in it")
            remember(token)
            return oauth2_credentials.Credentials(token)
        if s.auth == "service_account":
            try:
                return service_account.Credentials.from_service_account_file(
                    s.credentials_file, scopes=[scope], subject=s.admin_subject)
            except FileNotFoundError as err:
                raise AuthError(PROVIDER, "authenticate", f"credentials_file {s.credentials_file} not found") from err
            except (ValueError, KeyError, OSError) as err:
                raise AuthError(PROVIDER, "authenticate", f"credentials_file {s.credentials_file} is not a "
                                f"usable service account key ({type(err).__name__})") from err
        try:
            creds, _ = google.auth.default(scopes=[scope])
        except auth_exceptions.DefaultCredentialsError as err:
            raise AuthError(PROVIDER, "authenticate", "no application default credentials found (set "
                            "GOOGLE_APPLICATION_CREDENTIALS, use workload identity, or auth = access_token)") from err
        if s.admin_subject and hasattr(creds, "with_subject"):
            creds = creds.with_subject(s.admin_subject)  # domain-wide delegation
        return creds

    def service(self) -> Any:
        with self._lock:
            if self._service is None:
                self._credentials = self._make_credentials(self.scope)
                self._service = self._build("directory_v1", self._credentials)
            return self._service

    def reports(self) -> Any:
        """The Reports API service, with credentials for SCOPE_REPORTS alone."""
        return self._minted("reports", SCOPE_REPORTS, "reports_v1")

    def groups(self) -> Any:
        """The Directory service with credentials for SCOPE_GROUPS alone (members.list for rules)."""
        return self._minted("groups", SCOPE_GROUPS, "directory_v1")

    def audit(self) -> Any:
        """The Reports API service with credentials for SCOPE_AUDIT alone (admin activities, #25)."""
        return self._minted("audit", SCOPE_AUDIT, "reports_v1")

    def _minted(self, name: str, scope: str, version: str) -> Any:
        """The service `name` with credentials of its own for `scope` alone, made on first use; the
        Directory credentials first, so that whoami and errors name them."""
        self.service()
        with self._lock:
            if getattr(self, f"_{name}") is None:
                credentials = self._make_credentials(scope)
                setattr(self, f"_{name}_credentials", credentials)
                setattr(self, f"_{name}", self._build(version, credentials))
            return getattr(self, f"_{name}")

    def _build(self, version: str, credentials: Any) -> Any:
        return discovery.build("admin", version, credentials=credentials, static_discovery=True,
                               cache_discovery=False, client_options={"api_endpoint": self.endpoint + "/"})

    def users(self) -> Any:
        return self.service().users()

    def http(self, *, reports: bool = False, groups: bool = False,
             audit: bool = False) -> google_auth_httplib2.AuthorizedHttp:
        """This thread's own authorized http (httplib2 connections must not be shared); `reports`,
        `groups`: with the reports or the groups credentials, over the same bounded transport."""
        raw = getattr(self._local, "raw", None)
        if raw is None:
            self.service()
            raw = BoundedHttp(timeout=self.settings.timeout_seconds,
                              max_bytes=int(self.settings.max_response_mb * MB))
            self._local.raw = raw
            with self._lock:
                self._https.append(raw)
        key = "reports_http" if reports else "groups_http" if groups else "audit_http" if audit else "http"
        authed = getattr(self._local, key, None)
        if authed is None:
            credentials = (self._reports_credentials if reports else self._groups_credentials if groups
                           else self._audit_credentials if audit else self._credentials)
            authed = google_auth_httplib2.AuthorizedHttp(credentials, http=raw)
            setattr(self._local, key, authed)
        return authed

    def close(self) -> None:
        with self._lock:
            for raw in self._https:
                raw.close()
            self._https.clear()
        self._local = threading.local()

    @property
    def service_account_email(self) -> str | None:
        return getattr(self._credentials, "service_account_email", None)

    # --- calls ----------------------------------------------------------------------------------

    def budget(self) -> Budget:
        """Our own retries (403 quotaExceeded, batch items): Retry-After or jittered backoff, each wait
        at most MAX_BACKOFF, `retries` more tries within `retry_budget_seconds` of waiting."""
        return Budget(self.settings.retries, total=self.settings.retry_budget_seconds, cap=MAX_BACKOFF, jitter=True)

    def execute(self, request: HttpRequest, operation: str, *, missing_ok: bool = False,
                until: float | None = None, reports: bool = False, groups: bool = False, audit: bool = False,
                untranslated: tuple[int, ...] = (), needs: str | None = None) -> Any:
        """Run one request with the library's retries, plus our own for 403 quotaExceeded
        (which the library does not retry). Returns the JSON dict, or None on 404 if `missing_ok`.
        `until` (a time.monotonic() value) is the deadline of the listing this request belongs to:
        neither the request nor its retries run past it. `reports`: a Reports API request (its own
        credentials), `groups` one of members.list (its own). An HttpError whose status is in
        `untranslated` is raised as it is. `needs`: what a refusal means is missing, when that is not
        `permission_hint()` (the user scope)."""
        request._sleep = lambda s: self.sleep(min(s, MAX_BACKOFF))  # the library's own backoff hook
        waits = self.budget().start(self.sleep)
        http = self.http(reports=reports, groups=groups, audit=audit)
        self._local.raw.until = until
        try:
            while True:
                try:
                    return request.execute(http=http, num_retries=self.settings.retries)
                except HttpError as err:
                    status, reason, _ = error_info(err)
                    if missing_ok and status == 404:
                        return None
                    if status in untranslated:
                        raise
                    if status == 403 and reason in RATE_REASONS and waits.again(retry_after(err.resp)):
                        continue
                    raise self.translate(err, operation, needs=needs) from err
                except Exception as err:
                    raise self.translate(err, operation, needs=needs) from err
        finally:
            self._local.raw.until = None

    def batch(self, requests: dict[str, HttpRequest]) -> dict[str, tuple[Any, HttpError | None]]:
        """Send requests as one multipart batch; per-item (response, error). Raises UnmatchedBatch
        when the answer arrived but its parts cannot be told apart (a part id not of the form sent,
        a request without its part, a part that cannot be read), else what the whole batch raised
        (HttpError, transport and credential errors) untranslated."""
        results: dict[str, tuple[Any, HttpError | None]] = {}
        http = self.http()
        if not getattr(self._credentials, "valid", True):
            # The library would fetch the token through a plain httplib2.Http of its own (redirects
            # followed, nothing bounded): fetch it here, through this thread's bounded transport.
            self._credentials.refresh(google_auth_httplib2.Request(self._local.raw))
        batch = BatchHttpRequest(callback=lambda rid, resp, exc: results.__setitem__(rid, (resp, exc)),
                                 batch_uri=self.batch_uri)
        for rid, request in requests.items():
            batch.add(request, request_id=rid)
        try:
            batch.execute(http=http)
        except BatchError as err:  # googleapiclient's own word for an answer it cannot match
            raise UnmatchedBatch(scrub(f"{err.reason}")[:200]) from err
        except HttpError:
            raise  # the batch itself was refused: an HTTP status for all of it
        except KeyError as err:  # a request id with no part in the answer
            raise UnmatchedBatch(f"the answer has no part for request {str(err)[:40]}") from err
        except (ValueError, TypeError, IndexError) as err:  # a part id or a part's body it cannot read
            raise UnmatchedBatch(scrub(f"a part could not be read ({type(err).__name__}: {err})")[:200]) from err
        return results

    # --- errors -----------------------------------------------------------------------------------

    def permission_hint(self) -> str:
        who = self.settings.admin_subject or "the signed-in admin"
        return (f"the OAuth scope {self.scope} (for a service account: domain-wide delegation of that scope "
                f"to its client id in the Admin console), and for {who} an admin role with User Management "
                "privileges")

    def describe(self, err: HttpError) -> str:
        """One item's failure in words, for an Outcome."""
        failed = self.translate(err, "")
        if isinstance(failed, NotFound):
            return "user not found"
        if isinstance(failed, PermissionDenied):
            return f"{failed.detail}; a delegated admin cannot suspend or restore super admins"
        status, reason, message = error_info(err)
        return scrub(f"HTTP {status} {reason}: {message}")

    def translate(self, err: BaseException, operation: str, *, needs: str | None = None) -> ProviderError:
        """`err` as the core's typed error; `needs` (default `permission_hint()`) is named by a refusal."""
        needs = needs or self.permission_hint()
        if isinstance(err, ProviderError):
            return err
        if isinstance(err, (BatchError, UnmatchedBatch)):  # an HttpError without a response
            return DataError(PROVIDER, operation, f"unreadable batch answer from {self.endpoint} ({err})")
        if isinstance(err, HttpError):
            status, reason, message = error_info(err)
            return error_for_status(PROVIDER, operation, status, f"{reason}: {message}", needs=needs,
                                    hint=self.auth_hint(), throttled=status == 403 and reason in RATE_REASONS)
        if isinstance(err, auth_exceptions.RefreshError) and self.settings.auth == "access_token":
            # google-auth only refreshes after a 401; a bare access token cannot be refreshed
            return error_for_status(PROVIDER, operation, 401, hint=self.auth_hint())
        bounded = self._bounded(err, operation)
        if bounded is not None:
            return bounded
        if isinstance(err, (auth_exceptions.RefreshError, auth_exceptions.DefaultCredentialsError)):
            # e.g. "unauthorized_client": domain-wide delegation of these scopes is missing
            return AuthError(PROVIDER, operation, f"cannot obtain an access token ({type(err).__name__}: "
                             f"{str(err)[:300]}); {self.auth_hint()}; needs {needs}")
        if isinstance(err, ValueError):
            return DataError(PROVIDER, operation, f"unreadable answer from {self.endpoint} ({type(err).__name__})")
        if isinstance(err, (httplib2.HttpLib2Error, OSError)):
            return ProviderError(PROVIDER, operation, f"cannot reach {self.endpoint}: {type(err).__name__} {err}")
        return ProviderError(PROVIDER, operation, f"{type(err).__name__}: {err}")

    def _bounded(self, err: BaseException, operation: str) -> ProviderError | None:
        """The transport's refusals (redirect, size, deadlines) in words; None for anything else."""
        s = self.settings
        if isinstance(err, auth_exceptions.TransportError) and err.args and isinstance(err.args[0], BaseException):
            err = err.args[0]  # google-auth wraps what the token request raised
        if isinstance(err, Redirected):
            return ProviderError(PROVIDER, operation, f"refused a redirect (HTTP {err.status} to {err.target}): "
                                 f"credentials go only to the configured endpoint {self.endpoint}")
        if isinstance(err, AnswerTooLarge) or type(err).__name__ in ("DecodeLimitError", "DecodeRatioError"):
            return DataError(PROVIDER, operation, f"an answer was larger than max_response_mb = {s.max_response_mb:g}")
        if isinstance(err, AnswerDeadline):
            return ProviderError(PROVIDER, operation, f"an answer was still arriving timeout_seconds = "
                                 f"{s.timeout_seconds:g} after its request began (a slow or dripping server)")
        if isinstance(err, ListingDeadline):
            return ProviderError(PROVIDER, operation, "the listing did not finish within listing_deadline_seconds = "
                                 f"{s.listing_deadline_seconds:g}")
        return None

    def auth_hint(self) -> str:
        s = self.settings
        if s.auth == "access_token":
            return f"the access token in ${s.token_env} is invalid or expired"
        if s.auth == "service_account":
            return f"check the key in {s.credentials_file} and its domain-wide delegation"
        return "check the application default credentials"
