"""Every Graph exchange is bounded: no redirect is followed, each answer must arrive whole within
`timeout_seconds`, and no answer may be larger than `max_response_mb`.

httpx's read timeout applies to each read, so a server dripping one byte every few seconds never
trips it; here the whole exchange (headers and body) has one deadline. The body is read here,
decoded, under the size limit, so an answer that inflates as it is decompressed is stopped as it
grows. A redirect (Graph does not redirect these calls) is refused without following it, so the
token is sent to no host but the configured endpoint's.

This transport sits under the SDK's middleware (retries see its answers), above httpx's own.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin, urlsplit

import httpx

from sweeper.kit.bounds import MB

# headers that describe the body as it came over the wire; the body passed on is decoded and whole
_WIRE = (b"content-encoding", b"content-length", b"transfer-encoding")


class Refused(Exception):
    """An answer this transport will not pass on. `data`: the answer itself is unusable (DataError),
    rather than the server misbehaving in time or place (ProviderError)."""

    def __init__(self, message: str, *, data: bool = False) -> None:
        super().__init__(message)
        self.data = data


class BoundedTransport(httpx.AsyncBaseTransport):
    """Wraps an httpx transport: one deadline per exchange, a size limit, no redirects."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, timeout: float, max_bytes: int) -> None:
        self.inner = inner
        self.timeout = timeout
        self.max_bytes = max_bytes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.inner.handle_async_request(request)
                response.request = request
                try:
                    self._refuse_redirect(request, response)
                    body = await self._read(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise Refused(f"no complete answer within timeout_seconds = {self.timeout:g} (the server is too slow "
                          "or sends its answer a little at a time)") from None
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _WIRE]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request,
                              extensions=response.extensions)

    def _refuse_redirect(self, request: httpx.Request, response: httpx.Response) -> None:
        if not 300 <= response.status_code < 400:
            return
        target = urlsplit(urljoin(str(request.url), response.headers.get("location", "")))
        where = f"{target.scheme}://{target.netloc}" if target.netloc else "an unnamed place"
        raise Refused(f"the endpoint answered HTTP {response.status_code}, a redirect to {where}; redirects are "
                      "never followed, so the token goes only to the configured endpoint")

    async def _read(self, response: httpx.Response) -> bytes:
        limit = f"max_response_mb = {self.max_bytes / MB:.4g}"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise Refused(f"an answer of {int(declared)} bytes is larger than {limit}", data=True)
        parts: list[bytes] = []
        total = 0
        async for chunk in response.aiter_bytes():  # decoded (gzip, deflate) chunk by chunk
            total += len(chunk)
            if total > self.max_bytes:
                raise Refused(f"the answer is larger than {limit}", data=True)
            parts.append(chunk)
        return b"".join(parts)

    async def aclose(self) -> None:
        await self.inner.aclose()


def bound(client: httpx.AsyncClient, *, timeout: float, max_bytes: int) -> httpx.AsyncClient:
    """Put a BoundedTransport under every transport of `client` (its own and its proxy mounts).

    The SDK's client factory wraps these same attributes with its middleware; doing it here, before
    the factory runs, keeps the environment's proxy settings that httpx built into the mounts."""
    client._transport = BoundedTransport(client._transport, timeout=timeout, max_bytes=max_bytes)
    client._mounts = {pattern: BoundedTransport(t, timeout=timeout, max_bytes=max_bytes) if t is not None else None
                      for pattern, t in client._mounts.items()}
    return client
