"""The one place where Okta calls happen: plain HTTP with httpx, JSON in and out, every failure a
`sweeper.errors` type.

- Authentication: `SSWS <token>` from a SWEEPER_* variable, or an OAuth 2.0 access token minted with the
  client credentials grant and a private-key JWT client assertion (RS256) at the org authorization
  server (`/oauth2/v1/token`), asking for the read scopes only when the adapter cannot act.
- Rate limits: every answer's `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset` (epoch seconds) are kept;
  with none remaining the next request first waits for the reset. A 429 waits until `X-Rate-Limit-Reset`
  and tries again, within `retries`, `retry_budget_seconds` and `max_rate_limit_wait`. 5xx answers and
  dropped connections are tried again with exponential backoff.
- Bounds: no redirect is followed (the token goes only to the org's URL), a next-page link must stay on
  that URL, each answer must arrive whole within `timeout_seconds` (or the listing's deadline, when
  sooner) and no larger than `max_response_mb`.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

import httpx

from providers.okta.settings import OktaSettings
from sweeper.errors import AuthError, DataError, PermissionDenied, ProviderError, ThrottledError
from sweeper.kit.bounds import MB, Listing
from sweeper.kit.retry import Budget, retry_after
from sweeper.kit.secrets import remember, scrub
from sweeper.kit.status import error_for_status

PROVIDER = "okta"
SCOPE_USERS_READ = "okta.users.read"
SCOPE_USERS_MANAGE = "okta.users.manage"
SCOPE_ROLES_READ = "okta.roles.read"
READ_SCOPES = (SCOPE_USERS_READ, SCOPE_ROLES_READ)
WRITE_SCOPES = (SCOPE_USERS_MANAGE, SCOPE_ROLES_READ)  # okta.users.manage covers reading users
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_SECONDS = 300  # the client assertion's lifetime (Okta accepts at most an hour)
RETRYABLE = (500, 502, 503, 504)
NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: Any  # the parsed JSON (None for an empty body)

    def next_link(self) -> str | None:
        for value in self.headers.get_list("link"):
            for part in value.split(","):
                found = NEXT.search(part)
                if found:
                    return found.group(1)
        return None


def okta_error(body: Any) -> str:
    """Okta's own words for a failure: `errorCode: errorSummary` (and its causes), or OAuth's
    `error: error_description`."""
    if not isinstance(body, dict):
        return ""
    if "errorCode" in body or "errorSummary" in body:
        said = f"{body.get('errorCode', '')}: {body.get('errorSummary', '')}".strip(": ")
        causes = [c.get("errorSummary") for c in body.get("errorCauses") or [] if isinstance(c, dict)]
        return said + (f" ({'; '.join(str(c) for c in causes if c)})" if any(causes) else "")
    if "error" in body:
        return f"{body.get('error')}: {body.get('error_description', '')}".strip(": ")
    return ""


class RateLimit:
    """The last `X-Rate-Limit-*` headers seen, for the wait before the next request."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset: float | None = None
        self._lock = threading.Lock()

    def saw(self, headers: httpx.Headers) -> None:
        try:
            limit = int(headers["x-rate-limit-limit"]) if "x-rate-limit-limit" in headers else None
            remaining = int(headers["x-rate-limit-remaining"]) if "x-rate-limit-remaining" in headers else None
            reset = float(headers["x-rate-limit-reset"]) if "x-rate-limit-reset" in headers else None
        except ValueError:
            return  # unreadable headers: nothing learnt, nothing assumed
        with self._lock:
            if remaining is not None:
                self.limit, self.remaining, self.reset = limit, remaining, reset

    def wait_before_next(self, now: float) -> float:
        """Seconds to wait before the next request: until the reset when none are left, else 0."""
        with self._lock:
            if self.remaining is None or self.remaining > 0 or self.reset is None:
                return 0.0
            return max(0.0, self.reset - now)

    def spent(self) -> None:
        """The wait for the reset is over: the next answer says how many are left."""
        with self._lock:
            self.remaining = None


class OktaClient:
    """An httpx client for one org. Thread-safe: httpx.Client is, the token is minted under a lock."""

    def __init__(self, settings: OktaSettings, *, write: bool) -> None:
        self.settings = settings
        self.write = write
        self.endpoint = settings.endpoint
        self.origin = _origin(settings.endpoint)
        self.scopes = WRITE_SCOPES if write else READ_SCOPES
        self.http = httpx.Client(follow_redirects=False, timeout=settings.timeout_seconds,
                                 headers={"Accept": "application/json", "User-Agent": "identity-sweeper"})
        self.sleep: Callable[[float], None] = time.sleep
        self.now: Callable[[], float] = time.time  # the clock X-Rate-Limit-Reset is compared with
        self.rate = RateLimit()
        self.waits: list[float] = []  # every wait before a request, for the record (and the tests)
        self._token: tuple[str, float] | None = None  # access token, when it expires (time.monotonic)
        self._token_lock = threading.Lock()

    def budget(self) -> Budget:
        s = self.settings
        return Budget(retries=s.retries, total=s.retry_budget_seconds, longest=s.max_rate_limit_wait,
                      cap=s.max_rate_limit_wait)

    # --- authentication ---------------------------------------------------------------------------

    def authorization(self) -> str:
        """The Authorization header's value; raises AuthError when the credentials cannot be had."""
        s = self.settings
        if s.auth == "api_token":
            token = os.environ.get(s.token_env, "")
            if not token:
                raise AuthError(PROVIDER, "authenticate", f"${s.token_env} is not set or empty (token_env): it must "
                                "hold an Okta API token")
            remember(token)
            return f"SSWS {token}"
        with self._token_lock:
            if self._token is None or self._token[1] <= time.monotonic():
                self._token = self._mint()
            return f"Bearer {self._token[0]}"

    def drop_token(self) -> None:
        with self._token_lock:
            self._token = None

    def _private_key(self) -> str:
        s = self.settings
        if s.private_key_env:
            key = os.environ.get(s.private_key_env, "")
            if not key:
                raise AuthError(PROVIDER, "authenticate", f"${s.private_key_env} is not set or empty "
                                "(private_key_env): it must hold the service app's PEM private key")
        else:
            try:
                with open(str(s.private_key_file), encoding="utf-8") as f:
                    key = f.read()
            except OSError as err:
                raise AuthError(PROVIDER, "authenticate", f"cannot read private_key_file {s.private_key_file}: "
                                f"{err.strerror or err}") from None
        remember(key)
        return key

    def assertion(self) -> str:
        """The client assertion: a JWT signed with the app's private key (RS256), for the token endpoint."""
        import jwt

        s = self.settings
        now = int(time.time())  # the token endpoint's clock is the real one, whatever self.now says
        claims = {"iss": s.client_id, "sub": s.client_id, "aud": f"{self.endpoint}/oauth2/v1/token",
                  "iat": now, "exp": now + ASSERTION_SECONDS, "jti": uuid.uuid4().hex}
        try:
            signed: str = jwt.encode(claims, self._private_key(), algorithm="RS256",
                                     headers={"kid": s.key_id} if s.key_id else None)
        except (ValueError, TypeError, jwt.PyJWTError) as err:
            raise AuthError(PROVIDER, "authenticate", "the private key cannot sign a client assertion "
                            f"({type(err).__name__}): give an RSA private key in PEM") from None
        remember(signed)
        return signed

    def _mint(self) -> tuple[str, float]:
        operation = "get an access token"

        def form() -> dict[str, str]:  # a fresh assertion for every try: Okta accepts each jti once
            return {"grant_type": "client_credentials", "scope": " ".join(self.scopes),
                    "client_assertion_type": ASSERTION_TYPE, "client_assertion": self.assertion()}

        answer = self._send("POST", f"{self.endpoint}/oauth2/v1/token", operation, data=form, auth=False,
                            untranslated=(400, 401, 403))
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status != 200:
            said = okta_error(body) or f"HTTP {answer.status}"
            error = body.get("error")
            if error == "invalid_scope":
                raise PermissionDenied(PROVIDER, operation, f"{said}; grant the scopes {', '.join(self.scopes)} to "
                                       "the service app (its Okta API Scopes tab)", status=answer.status)
            hint = ("; the app requires DPoP: turn off \"Require Demonstrating Proof of Possession (DPoP) header "
                    "in token requests\" for this service app" if "dpop" in str(said).lower() else
                    "; check client_id, that the app's client authentication is \"Public key / Private key\", "
                    "and that its public key matches the private key (and key_id)")
            raise AuthError(PROVIDER, operation, f"the token endpoint refused ({said}){hint}", status=answer.status)
        token, expires = body.get("access_token"), body.get("expires_in", 3600)
        if not isinstance(token, str) or not token or not isinstance(expires, int):
            raise DataError(PROVIDER, operation, "the token endpoint's answer has no access_token")
        remember(token)
        return token, time.monotonic() + max(30, expires - 60)

    # --- requests -------------------------------------------------------------------------------------

    def get(self, path: str, operation: str, *, params: Mapping[str, Any] | None = None, listing: Listing | None = None,
            untranslated: tuple[int, ...] = (), needs: str = SCOPE_USERS_READ) -> Answer:
        return self._send("GET", self._url(path), operation, params=params, listing=listing,
                          untranslated=untranslated, needs=needs)

    def post(self, path: str, operation: str, *, params: Mapping[str, Any] | None = None,
             untranslated: tuple[int, ...] = ()) -> Answer:
        return self._send("POST", self._url(path), operation, params=params, untranslated=untranslated,
                          needs=SCOPE_USERS_MANAGE)

    def pages(self, path: str, operation: str, params: Mapping[str, Any],
              needs: str = SCOPE_USERS_READ) -> Iterator[list[Any]]:
        """Every page of a listing whose answer is a JSON array, following `Link: <...>; rel="next"`;
        bounded (`sweeper.kit.bounds`). Raises when any page fails: never a partial listing."""
        listing = self.settings.listing(PROVIDER, operation)
        url: str | None = self._url(path)
        answer = self._send("GET", str(url), operation, params=params, listing=listing, needs=needs)
        while True:
            if not isinstance(answer.body, list):
                raise DataError(PROVIDER, operation, "a page is not a JSON array, as Okta's listings are")
            yield answer.body
            url = self._next(answer, operation)
            if url is None:
                return
            listing.page(url)
            answer = self._send("GET", url, operation, listing=listing, needs=needs)

    def _next(self, answer: Answer, operation: str) -> str | None:
        url = answer.next_link()
        return None if url is None else self.same_org(url, operation)

    def same_org(self, url: str, operation: str) -> str:
        """`url` when it is on the org's URL; a next-page link elsewhere raises DataError."""
        if _origin(url) != self.origin:
            raise DataError(PROVIDER, operation, f"the next-page link leads to {_origin(url)}, not the org's "
                            f"{self.origin}: not followed, the token goes nowhere else")
        return url

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.endpoint}{path}"

    def _send(self, method: str, url: str, operation: str, *, params: Mapping[str, Any] | None = None,
              data: Callable[[], Mapping[str, str]] | None = None, listing: Listing | None = None, auth: bool = True,
              untranslated: tuple[int, ...] = (), needs: str = SCOPE_USERS_READ) -> Answer:
        """One request, tried again on 429, 5xx and dropped connections under the retry budget."""
        waits = self.budget().start(self._wait)
        refreshed = False
        while True:
            self._wait(self.rate.wait_before_next(self.now()), cap=True)
            headers = {"Authorization": self.authorization()} if auth else {}
            try:
                answer = self._exchange(method, url, operation, params, data() if data else None, headers, listing)
            except _Dropped as err:
                if waits.again():
                    continue
                raise ProviderError(PROVIDER, operation, f"no answer after {waits.tries} tries ({err})") from None
            self.rate.saw(answer.headers)
            if answer.status == 429:
                if waits.again(self._until_reset(answer.headers)):
                    continue
                raise ThrottledError(PROVIDER, operation, self._throttled(answer, waits.tries), status=429)
            if answer.status in RETRYABLE and waits.again():
                continue
            if answer.status == 401 and auth and self.settings.auth == "private_key" and not refreshed:
                self.drop_token()  # an access token that expired early: mint one more, once
                refreshed = True
                continue
            if answer.status < 400 or answer.status in untranslated:
                return answer
            raise error_for_status(PROVIDER, operation, answer.status, okta_error(answer.body),
                                   needs=f"the scope {needs} and an admin role that grants it",
                                   hint=self._auth_hint())

    def _auth_hint(self) -> str:
        s = self.settings
        if s.auth == "api_token":
            return f"check the API token in ${s.token_env}: Okta revokes tokens unused for 30 days"
        return "the service app's access token was refused"

    def _until_reset(self, headers: httpx.Headers) -> float | None:
        """How long a 429 asks us to wait: until X-Rate-Limit-Reset, else its Retry-After, else None."""
        reset = headers.get("x-rate-limit-reset")
        try:
            if reset is not None:
                return max(0.0, float(reset) - self.now())
        except ValueError:
            pass
        return retry_after(dict(headers))

    def _throttled(self, answer: Answer, tries: int) -> str:
        wait = self._until_reset(answer.headers)
        said = okta_error(answer.body) or "rate limited"
        most = self.settings.max_rate_limit_wait
        longer = (f"; the limit resets in {wait:.0f} s, more than max_rate_limit_wait = {most:g}"
                  if wait is not None and wait > most else "")
        return f"still throttled after {tries} tries (HTTP 429 {said}){longer}"

    def _wait(self, seconds: float, cap: bool = False) -> None:
        if cap:
            seconds = min(seconds, self.settings.max_rate_limit_wait)
        if seconds > 0:
            self.waits.append(seconds)
            self.sleep(seconds)
            self.rate.spent()

    def _exchange(self, method: str, url: str, operation: str, params: Mapping[str, Any] | None,
                  data: Mapping[str, str] | None, headers: dict[str, str], listing: Listing | None) -> Answer:
        """Send once and read the whole answer under its deadline and size limit."""
        timeout = self.settings.timeout_seconds
        if listing is not None:
            timeout = min(timeout, listing.remaining())
        deadline = time.monotonic() + timeout
        max_bytes = int(self.settings.max_response_mb * MB)
        try:
            with self.http.stream(method, url, params=params, data=data, headers=headers,
                                  timeout=httpx.Timeout(timeout)) as response:
                if 300 <= response.status_code < 400:
                    where = _origin(response.headers.get("location", "")) or "an unnamed place"
                    raise ProviderError(PROVIDER, operation, f"the org answered HTTP {response.status_code}, a "
                                        f"redirect to {where}; redirects are never followed, so the token goes "
                                        "only to the configured endpoint", status=response.status_code)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise DataError(PROVIDER, operation, f"an answer of {declared} bytes is larger than "
                                    f"max_response_mb = {self.settings.max_response_mb:g}")
                parts, total = [], 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        raise DataError(PROVIDER, operation, "the answer is larger than max_response_mb = "
                                        f"{self.settings.max_response_mb:g}")
                    if time.monotonic() > deadline:
                        raise _Dropped(f"no complete answer within {timeout:g} s")
                    parts.append(chunk)
                status, answer_headers = response.status_code, response.headers
        except httpx.TimeoutException:
            raise _Dropped(f"no complete answer within {timeout:g} s") from None
        except httpx.TransportError as err:
            raise _Dropped(scrub(f"{type(err).__name__}: {err}")[:200]) from None
        raw = b"".join(parts)
        body: Any = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                if status < 400:
                    raise DataError(PROVIDER, operation, f"the answer (HTTP {status}) is not JSON") from None
        return Answer(status, answer_headers, body)

    def close(self) -> None:
        self.http.close()


class _Dropped(Exception):
    """No usable answer: the connection dropped or the answer did not arrive in time (tried again)."""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else ""
