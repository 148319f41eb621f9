"""The one place where GitHub REST calls happen: plain httpx, bounded, paged and rate-limit aware.

Why httpx and not a typed client (githubkit, PyGithub): the sweeper needs eight endpoints, two of them
(the audit log, credential authorizations) outside what typed clients model well, and it needs control
that those clients keep to themselves: the token goes to no host but `endpoint`'s (redirects refused,
`Link` pages checked against it), each answer is read under a size limit and a deadline, and a
rate-limit wait longer than `retry_max_wait` ends the call instead of sleeping for an hour. httpx is
already installed (under msgraph-sdk), and PyJWT with `cryptography` (under msal) signs the App's JWT.

Rate limits, as GitHub documents them: a 403 or 429 with `retry-after` waits that long; one with
`x-ratelimit-remaining: 0` waits until `x-ratelimit-reset`; any other 429, or a 403 saying "secondary
rate limit", waits a minute, then two, then four. An answer that leaves `x-ratelimit-remaining` at 0
makes the next request wait for the reset first. Every wait is bounded (`retry_max_wait`, `retries`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

import httpx

from sweeper.errors import AuthError, DataError, ProviderError, ThrottledError
from sweeper.kit.bounds import MB, Listing
from sweeper.kit.retry import Budget, retry_after
from sweeper.kit.secrets import remember, scrub
from sweeper.kit.status import error_for_status

PROVIDER = "github"
API_VERSION = "2022-11-28"
SECONDARY_WAIT = 60.0  # GitHub: without retry-after or a reset, wait at least a minute
WRITE_SPACING = 1.0  # GitHub asks for a second between mutating requests (its secondary limits)
TOKEN_MARGIN = 300  # an installation token is minted again when it has less than this many seconds left
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None for an empty answer
    size: int = 0  # bytes as received


def next_link(headers: Mapping[str, str]) -> str | None:
    """The `rel="next"` URL of a `Link` header, or None on the last page."""
    found = _NEXT.search(headers.get("link", ""))
    return found.group(1) if found else None


def message_of(body: Any) -> str:
    message = body.get("message") if isinstance(body, dict) else None
    return message[:300] if isinstance(message, str) else ""


class GitHubClient:
    """An httpx client for one `endpoint`, authenticating per organisation (an App's installation
    tokens are per organisation) or with one token. `sleep` and `clock` are replaceable by tests."""

    def __init__(self, settings: Any, auth: "Auth") -> None:
        self.settings = settings
        self.base = settings.endpoint.rstrip("/")
        origin = urlsplit(self.base)
        self.origin = (origin.scheme, origin.netloc.lower())
        self.auth = auth
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.time
        self.waits: list[tuple[str, float]] = []  # (why, seconds): every rate-limit or backoff wait
        self._paused_until = 0.0  # x-ratelimit-remaining reached 0: nothing is sent before this epoch
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # writes go one at a time, WRITE_SPACING apart
        self._last_write = 0.0
        timeout = settings.timeout_seconds
        self.http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)), follow_redirects=False,
                                 headers={"Accept": "application/vnd.github+json", "User-Agent": "identity-sweeper",
                                          "X-GitHub-Api-Version": API_VERSION})
        self.max_bytes = int(settings.max_response_mb * MB)

    def close(self) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base}{path}"

    # -- one request, with its retries ----------------------------------------------------------

    def call(self, method: str, path: str, operation: str, *, org: str | None = None, params: Any = None,
             body: Any = None, ok: tuple[int, ...] = (200,), jwt: bool = False, needs: str = "",
             deadline: Listing | None = None) -> Answer:
        """Send one request; its answer when the status is in `ok`, else a typed error. Rate limits,
        5xx answers and dropped connections are tried again under the retry budget."""
        url = self.url(path)
        self._same_origin(url, operation)
        waits = Budget(self.settings.retries, longest=self.settings.retry_max_wait).start(self._wait)
        renewed = False
        while True:
            self._respect_pause(operation)
            if deadline is not None:
                deadline.remaining()
            headers = {"Authorization": f"Bearer {self.auth.jwt() if jwt else self.auth.token(self, org)}"}
            try:
                if method == "GET" or jwt:
                    answer = self._send(method, url, headers, params, body, operation)
                else:
                    answer = self._write(method, url, headers, params, body, operation)
            except httpx.TransportError as err:
                if waits.again():
                    continue
                raise ProviderError(PROVIDER, operation, f"{type(err).__name__}: {err}") from err
            self._note_remaining(answer.headers)
            if answer.status in ok:
                return answer
            if answer.status == 401 and not jwt and not renewed and self.auth.renewable:
                self.auth.forget(org)  # an installation token that expired early: mint it once more
                renewed = True
                continue
            hint = self._throttle_wait(answer, waits.tries)
            if hint is not None:
                if hint > self.settings.retry_max_wait:
                    raise ThrottledError(PROVIDER, operation, f"GitHub asks to wait {hint:.0f} s (HTTP {answer.status} "
                                         f"{message_of(answer.body)}), longer than retry_max_wait = "
                                         f"{self.settings.retry_max_wait:g}")
                if waits.again(hint):
                    continue
                raise error_for_status(PROVIDER, operation, answer.status, message_of(answer.body), throttled=True)
            if answer.status >= 500 and waits.again():
                continue
            raise error_for_status(PROVIDER, operation, answer.status, message_of(answer.body), needs=needs,
                                   hint="check the token (or the App's id, key and installation)")

    def _write(self, method: str, url: str, headers: dict[str, str], params: Any, body: Any,
               operation: str) -> Answer:
        """A mutating request, at least WRITE_SPACING after the previous one (parallel batches included)."""
        with self._write_lock:
            left = self._last_write + WRITE_SPACING - self.clock()
            if left > 0:
                self.sleep(left)
            try:
                return self._send(method, url, headers, params, body, operation)
            finally:
                self._last_write = self.clock()

    def _wait(self, seconds: float) -> None:
        self.waits.append(("retry", seconds))
        self.sleep(seconds)

    def _send(self, method: str, url: str, headers: dict[str, str], params: Any, body: Any,
              operation: str) -> Answer:
        ends = time.monotonic() + self.settings.timeout_seconds
        with self.http.stream(method, url, headers=headers, params=params, json=body) as response:
            if 300 <= response.status_code < 400:
                raise ProviderError(PROVIDER, operation, f"the API answered HTTP {response.status_code}, a redirect; "
                                    "redirects are never followed, so the token goes only to endpoint")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise DataError(PROVIDER, operation, f"an answer of {declared} bytes is larger than max_response_mb")
            parts, total = [], 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > self.max_bytes:
                    raise DataError(PROVIDER, operation, "the answer is larger than max_response_mb")
                if time.monotonic() > ends:
                    raise ProviderError(PROVIDER, operation, f"no complete answer within timeout_seconds = "
                                        f"{self.settings.timeout_seconds:g}")
                parts.append(chunk)
            raw = b"".join(parts)
            headers_out = {k.lower(): v for k, v in response.headers.items()}
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except ValueError:
            if 200 <= response.status_code < 300:
                raise DataError(PROVIDER, operation, f"HTTP {response.status_code} with a body that is not JSON: "
                                f"{scrub(raw[:80].decode('utf-8', 'replace'))!r}") from None
            parsed = None
        return Answer(response.status_code, headers_out, parsed, len(raw))

    def _throttle_wait(self, answer: Answer, tries: int) -> float | None:
        """Seconds to wait when `answer` is a rate limit (primary or secondary), else None."""
        if answer.status not in (403, 429):
            return None
        hinted = retry_after(answer.headers)
        if hinted is not None:
            return hinted
        if answer.headers.get("x-ratelimit-remaining") == "0":
            reset = _number(answer.headers.get("x-ratelimit-reset"))
            if reset is not None:
                return max(1.0, float(reset - self.clock() + 1))
        if answer.status == 429 or "secondary rate limit" in message_of(answer.body).lower():
            return SECONDARY_WAIT * 2.0 ** (tries - 1)
        return None

    def _note_remaining(self, headers: Mapping[str, str]) -> None:
        if headers.get("x-ratelimit-remaining") == "0":
            reset = _number(headers.get("x-ratelimit-reset"))
            if reset is not None:
                with self._lock:
                    self._paused_until = max(self._paused_until, reset + 1)

    def _respect_pause(self, operation: str) -> None:
        with self._lock:
            left = self._paused_until - self.clock()
        if left <= 0:
            return
        if left > self.settings.retry_max_wait:
            raise ThrottledError(PROVIDER, operation, f"the rate limit is spent until x-ratelimit-reset, {left:.0f} s "
                                 f"away, longer than retry_max_wait = {self.settings.retry_max_wait:g}")
        self.waits.append(("x-ratelimit-reset", left))
        self.sleep(left)
        with self._lock:
            self._paused_until = 0.0

    def _same_origin(self, url: str, operation: str) -> None:
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc.lower()) != self.origin:
            raise DataError(PROVIDER, operation, f"a page link leads to {parts.scheme}://{parts.netloc}, not to "
                            "endpoint; the token is never sent there")

    # -- listings -----------------------------------------------------------------------------

    def pages(self, path: str, operation: str, listing: Listing, *, org: str | None, params: dict[str, Any],
              key: str | None = None, needs: str = "", first: Answer | None = None) -> Iterator[list[Any]]:
        """Each page's items, following `Link: rel="next"` as given (same origin only). `key` names the
        array in an object answer (Copilot's `seats`). `first`: the first page, already fetched."""
        answer = first or self.call("GET", path, operation, org=org, params=params, needs=needs, deadline=listing)
        while True:
            listing.size(answer.size)
            items = answer.body.get(key) if key and isinstance(answer.body, dict) else answer.body
            if not isinstance(items, list):
                raise DataError(PROVIDER, operation, f"a page is not a list ({type(answer.body).__name__})")
            yield items
            link = next_link(answer.headers)
            if link is None:
                return
            listing.page(link)
            answer = self.call("GET", link, operation, org=org, needs=needs, deadline=listing)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


class Auth:
    """A bearer token per organisation. `renewable`: a 401 may mean an expired token worth minting again."""

    renewable = False

    def token(self, client: GitHubClient, org: str | None) -> str:
        raise NotImplementedError

    def jwt(self) -> str:
        raise AuthError(PROVIDER, "sign in", "this call needs a GitHub App (auth = \"app\")")

    def forget(self, org: str | None) -> None:
        pass


class TokenAuth(Auth):
    """One token from a SWEEPER_* variable, for every organisation."""

    def __init__(self, value: str) -> None:
        self.value = value
        remember(value)

    def token(self, client: GitHubClient, org: str | None) -> str:
        return self.value


class AppAuth(Auth):
    """A GitHub App: a JWT (RS256, ten minutes at most) signed with its private key, exchanged for an
    installation access token for each organisation, minted again shortly before it expires."""

    renewable = True

    def __init__(self, app_id: str, private_key: str) -> None:
        self.app_id = app_id
        self.key = private_key
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def jwt(self) -> str:
        import jwt as pyjwt

        now = int(time.time())
        try:
            signed: str = pyjwt.encode({"iat": now - 60, "exp": now + 540, "iss": self.app_id}, self.key,
                                       algorithm="RS256")
        except (ValueError, TypeError, pyjwt.PyJWTError) as err:
            raise AuthError(PROVIDER, "sign the App's JWT", f"the App's private key cannot sign ({type(err).__name__}: "
                            "is it the PEM key GitHub generated?)") from None
        return signed

    def forget(self, org: str | None) -> None:
        with self._lock:
            self._tokens.pop((org or "").lower(), None)

    def token(self, client: GitHubClient, org: str | None) -> str:
        if org is None:
            return self.jwt()
        with self._lock:
            held = self._tokens.get(org.lower())
        if held is not None and held[1] - client.clock() > TOKEN_MARGIN:
            return held[0]
        found = client.call("GET", f"/orgs/{org}/installation", f"find the App's installation on {org}", jwt=True,
                            needs="the App installed on the organisation")
        installation = found.body.get("id") if isinstance(found.body, dict) else None
        if not isinstance(installation, int):
            raise DataError(PROVIDER, f"find the App's installation on {org}", "the answer has no installation id")
        minted = client.call("POST", f"/app/installations/{installation}/access_tokens",
                             f"mint an installation token for {org}", jwt=True, ok=(201,))
        body = minted.body if isinstance(minted.body, dict) else {}
        value, expires = body.get("token"), body.get("expires_at")
        if not isinstance(value, str) or not value:
            raise DataError(PROVIDER, f"mint an installation token for {org}", "the answer has no token")
        remember(value)
        from sweeper.kit.times import Unreadable, parse_utc

        try:
            until = parse_utc(str(expires).replace("Z", "+00:00"))
        except Unreadable:
            until = None
        with self._lock:
            self._tokens[org.lower()] = (value, until.timestamp() if until else client.clock() + 3000)
        return value
