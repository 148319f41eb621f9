"""The one place where Graph calls happen: an SDK client on its own event loop, raw JSON in and out.

The msgraph SDK supplies authentication, retries (429/503/504, honouring Retry-After, fractional values
such as Graph's "2.128" included: `BoundedRetryHandler`) and requests;
we read answers as bytes and parse JSON ourselves, because the SDK's model deserialisation costs about
6 ms per user. Every SDK or HTTP failure leaves this module as a `sweeper.errors` type.

Plain http is accepted only for loopback hosts (the emulator): kiota's AzureIdentityAccessTokenProvider
refuses to hand a token to any other non-https URL, and the allowed-hosts list keeps the token from
ever going to a host other than the configured endpoint's. Redirects are refused rather than followed
(the SDK's RedirectHandler is left out, and `providers.entra.transport` refuses any 3xx), each
exchange has one deadline and a size limit, and each listing (`sweeper.kit.bounds.Listing`) refuses
a next-page link it has already followed and ends at its overall deadline.

Licensed tenants sometimes get a single 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`.
It is asked again a few times (LICENCE_RETRIES); only a refusal that lasts, on a listing's first page,
means the tenant has no licence (NotMeasured). Once pages have been read the tenant is licensed, so a
lasting refusal there fails the listing with Graph's words.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import threading
from typing import Any, Coroutine, Iterator, TypeVar
from urllib.parse import urlsplit

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure._exceptions import HTTPError as KiotaHTTPError
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import RedirectHandler, RetryHandler
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.graph_service_client import GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler

from providers.entra.transport import Refused, bound
from sweeper.errors import AuthError, DataError, NotFound, NotMeasured, ProviderError
from sweeper.kit.bounds import MB, Listing
from sweeper.kit.retry import retry_after
from sweeper.kit.status import error_for_status

T = TypeVar("T")
ERRORS: dict[str, Any] = {"XXX": ODataError}
UNLICENSED = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
# PIM without an Entra ID P2 or ID Governance licence: Graph answers 400 with this code (a 403 is read alike)
PIM_UNLICENSED = "AadPremiumLicenseRequired"
TRANSPORT_RETRIES = 2  # dropped connections: every request we send is idempotent
LICENCE_RETRIES = 2  # a licence 403 is asked again this many times (1 s, then 2 s later, at most retry_max_wait)


class LicenceMissing(ProviderError):
    """Graph refused a feature the tenant has no licence for (PIM without Entra ID P2 or ID Governance)."""


class BoundedRetryHandler(RetryHandler):
    """The SDK's retry handler, but a Retry-After longer than `max_wait` seconds ends the retries, and a
    fractional Retry-After ("2.128", as Graph sends) is honoured: the SDK reads whole seconds only and
    falls back to its own shorter backoff. Each wait before a retry is appended to `waits`."""

    def __init__(self, options: RetryHandlerOption, max_wait: float, waits: list[float] | None = None) -> None:
        super().__init__(options)
        self.max_wait = max_wait
        self.waits: list[float] = [] if waits is None else waits

    def get_delay_time(self, retry_count: int, response: httpx.Response | None = None,
                       delay: float = RetryHandlerOption.DEFAULT_DELAY) -> float:
        hinted = retry_after(response.headers) if response is not None else None
        wait = hinted if hinted else super().get_delay_time(retry_count, response, delay)
        if wait > self.max_wait:
            return RetryHandlerOption.MAX_DELAY  # the SDK does not retry after a delay this long
        if response is not None and self._retries(retry_count, response):
            self.waits.append(wait)
        return wait

    def _retries(self, retry_count: int, response: httpx.Response) -> bool:
        """Whether the SDK's send loop sleeps this delay and retries (its own three conditions)."""
        options = self._get_current_options(response.request)
        return self.check_retry_valid(retry_count, options) and self.should_retry(response.request, options, response)


_tls_lock = threading.Lock()
_tls: dict[tuple[str, str], ssl.SSLContext] = {}


def tls_context() -> ssl.SSLContext:
    """How every Graph client verifies the server, built once per CA source (httpx's own default:
    certifi, or $SSL_CERT_FILE / $SSL_CERT_DIR). Loading the CA bundle costs about 75 ms of CPU, which
    each client paid again: 3.7 s for 50 tenants in one sweep. It holds trust roots only, nothing of a
    tenant (no credential, token, session or connection), so tenants can share it."""
    key = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    with _tls_lock:
        if key not in _tls:
            _tls[key] = httpx.create_ssl_context()
        return _tls[key]


def http_client(retry: RetryHandler, timeout: float, max_bytes: int = 64 * MB) -> httpx.AsyncClient:
    """httpx with the SDK's default middleware, `retry` (a BoundedRetryHandler) in place of its retry
    handler and no redirect handler, over a transport that bounds each exchange
    (`providers.entra.transport`)."""
    middleware = [retry if isinstance(m, RetryHandler) else m
                  for m in KiotaClientFactory.get_default_middleware(None) if not isinstance(m, RedirectHandler)]
    middleware.append(GraphTelemetryHandler())
    client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 30)), http2=True,
                               follow_redirects=False, verify=tls_context())
    bound(client, timeout=timeout, max_bytes=max_bytes)
    wrapped: httpx.AsyncClient = GraphClientFactory.create_with_custom_middleware(middleware, client=client)
    return wrapped


def unlicensed(err: BaseException) -> bool:
    """Graph's answer to signInActivity in a tenant without Entra ID P1/P2 (sometimes, briefly, in one with)."""
    return isinstance(err, APIError) and err.response_status_code == 403 and _odata(err)[0] == UNLICENSED


def _odata(err: APIError) -> tuple[str, str]:
    main = getattr(err, "error", None)
    code = getattr(main, "code", None) or ""
    message = getattr(main, "message", None) or ""
    return code, message


def translate(err: BaseException, operation: str, permission: str) -> ProviderError:
    """An SDK/HTTP failure as the core's error type. Messages carry Graph's code, never a token."""
    if isinstance(err, ProviderError):
        return err
    if isinstance(err, Refused):
        return (DataError if err.data else ProviderError)("entra", operation, str(err))
    if isinstance(err, APIError):
        status = err.response_status_code or 0
        code, message = _odata(err)
        if status == 403 and code == UNLICENSED:
            return NotMeasured("entra", operation, "the tenant has no Entra ID P1/P2 licence, so Graph gives no "
                               "sign-in activity (signInActivity answers 403)", status=status)
        if code == PIM_UNLICENSED:
            return LicenceMissing("entra", operation, f"HTTP {status} {code}: {message}".rstrip(": "), status=status)
        said = ": ".join(part for part in (code, message) if part)  # either may be empty
        return error_for_status("entra", operation, status, said, needs=permission)
    if isinstance(err, KiotaHTTPError):
        return ProviderError("entra", operation, f"{err} (plain http is allowed only for localhost endpoints)")
    if isinstance(err, httpx.TransportError):
        return ProviderError("entra", operation, f"connection failed: {type(err).__name__}")
    if type(err).__module__.startswith("azure."):  # azure-identity: no or unusable credentials
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return AuthError("entra", operation, f"cannot get a token: {first[:300]}")
    return ProviderError("entra", operation, f"{type(err).__name__}: {err}")


class Graph:
    """A GraphServiceClient bound to one endpoint, run on an event loop owned by this object.

    Sync methods may be called from many threads at once: each submits a coroutine to the loop.
    """

    def __init__(self, endpoint: str, credential: Any, *, retries: int, max_wait: float,
                 timeout: float = 100.0, max_bytes: int = 64 * MB) -> None:
        self.endpoint = endpoint.rstrip("/")
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProviderError("entra", "connect", f"endpoint {endpoint!r} is not an http(s) URL")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        # Only the endpoint's own host gets the token (the SDK's default would send it anywhere).
        auth = AzureIdentityAuthenticationProvider(credential, allowed_hosts=[parts.hostname])
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="entra-graph", daemon=True)
        self._thread.start()
        self._closed = False
        self.max_wait = max_wait
        self.waits: list[float] = []  # seconds waited before each retry, in order (SDK retries, licence, $batch)
        retry = BoundedRetryHandler(RetryHandlerOption(delay=0, max_retries=min(retries, 10)), max_wait, self.waits)
        adapter = GraphRequestAdapter(auth, client=http_client(retry, timeout, max_bytes))
        adapter.base_url = self.endpoint
        self.client = GraphServiceClient(request_adapter=adapter)
        self.adapter = adapter

    def run(self, coro: Coroutine[Any, Any, T], operation: str, permission: str) -> T:
        """Run `coro` on the loop and wait; failures come back translated."""
        if self._closed:
            coro.close()
            raise ProviderError("entra", operation, "adapter is closed")
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result()
        except Exception as err:  # noqa: BLE001 - translated at this boundary, cause kept
            raise translate(err, operation, permission) from err

    async def send(self, method: str, target: str | RequestInformation, body: object = None) -> bytes | None:
        """One request; `target` is an absolute URL or an SDK-built RequestInformation."""
        if isinstance(target, RequestInformation):
            info = target
        else:
            info = RequestInformation(Method[method])
            info.url = target
        info.headers.try_add("Accept", "application/json")
        if body is not None:
            info.content = json.dumps(body).encode()
            info.headers.try_add("Content-Type", "application/json")
        dropped = refused = 0
        while True:
            try:
                raw: bytes | None = await self.adapter.send_primitive_async(info, "bytes", ERRORS)
                return raw
            except httpx.TransportError:
                dropped += 1
                if dropped > TRANSPORT_RETRIES:
                    raise
                await asyncio.sleep(0.2 * dropped)
            except APIError as err:
                refused += 1
                if not unlicensed(err) or refused > LICENCE_RETRIES:
                    raise
                wait = min(2.0 ** (refused - 1), self.max_wait)
                self.waits.append(wait)
                await asyncio.sleep(wait)

    def url(self, info: RequestInformation) -> str:
        self.adapter.set_base_url_for_request_information(info)
        return info.url

    def get_json(self, target: str | RequestInformation, operation: str, permission: str,
                 listing: Listing | None = None) -> dict[str, Any] | None:
        """GET and parse; None when Graph says 404. With `listing`, within what is left of its deadline."""
        coro = self.send("GET", target) if listing is None else _within(self.send("GET", target), listing)
        try:
            raw = self.run(coro, operation, permission)
        except NotFound:
            return None
        return parse(raw, operation)

    def pages(self, first: str | RequestInformation, operation: str, permission: str, *,
              listing: Listing) -> Iterator[list[Any]]:
        """The `value` of every page, following @odata.nextLink as given; any failure raises.

        `listing` bounds the whole: a link that comes back a second time, or time past its deadline,
        raises instead of fetching (the pages before it were already yielded; the caller fails). A
        lasting licence refusal after the first page is a failed listing (ProviderError), not NotMeasured."""
        target: str | RequestInformation = first
        listing.page(None)
        read = 0
        while True:
            try:
                page = self.get_json(target, operation, permission, listing)
            except NotMeasured as err:
                if not read:
                    raise
                cause = err.__cause__
                said = _odata(cause)[1] if isinstance(cause, APIError) else ""
                raise ProviderError("entra", operation, f"Graph refused page {read + 1} with HTTP 403 {UNLICENSED}"
                                    f"{f' ({said})' if said else ''} after {read} page(s) had been read, and again "
                                    f"when asked {LICENCE_RETRIES} more times; the tenant is licensed, so the "
                                    "listing failed", status=err.status) from err
            if page is None:
                raise NotFound("entra", operation, "Graph answered 404 (not found)", status=404)
            value, link = page.get("value"), page.get("@odata.nextLink")
            if not isinstance(value, list) or not (link is None or isinstance(link, str)):
                raise DataError("entra", operation, "page without a `value` list or with a bad @odata.nextLink")
            if link is not None and not link.startswith(self.origin + "/"):
                raise DataError("entra", operation, f"@odata.nextLink leaves the endpoint's host: {link[:80]!r}")
            read += 1
            yield value
            if link is None:
                return
            listing.page(link)
            target = link

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        client = self.adapter._http_client
        try:
            asyncio.run_coroutine_threadsafe(client.aclose(), self.loop).result(timeout=10)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


async def _within(coro: Coroutine[Any, Any, T], listing: Listing) -> T:
    """`coro`, cancelled when the listing's overall deadline passes (retries and their waits included)."""
    try:
        left = listing.remaining()
    except ProviderError:
        coro.close()
        raise
    try:
        async with asyncio.timeout(left):
            return await coro
    except TimeoutError:
        listing.remaining()  # raises, naming listing_deadline_seconds
        raise ProviderError(listing.provider, listing.operation, "the listing did not finish within "
                            f"listing_deadline_seconds = {listing.deadline_seconds:g}") from None


def parse(raw: bytes | None, operation: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise DataError("entra", operation, f"Graph answered malformed JSON ({err.msg} at byte {err.pos})") from err
    except ValueError as err:  # bytes in no Unicode encoding (UnicodeDecodeError has no msg or pos)
        raise DataError("entra", operation, f"Graph answered bytes that are not JSON text ({err})") from err
    if not isinstance(data, dict):
        raise DataError("entra", operation, "Graph answered JSON that is not an object")
    return data
