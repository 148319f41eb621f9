"""Every botocore answer ends: within `timeout_seconds` in all, within `max_response_mb`, from the host asked.

botocore's read_timeout bounds each socket read, so a server dripping one byte at a time keeps a call
open forever, and nothing bounds an answer's size. `bound(client, ...)` gives the client's connection
pools a connection class whose answers are read through `_Metered`: each socket read waits at most
until the answer's deadline (`timeout_seconds` after the request went out, or the current listing's
deadline if sooner), and an answer larger than the limit stops being read. A slow answer is a read
timeout (retried like any other); an oversize one fails at once. botocore never follows redirects;
a 3xx answer is refused here with its target named, instead of surfacing as an unparsable body.
"""

from __future__ import annotations

import http.client
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.awsrequest import (AWSHTTPConnection, AWSHTTPConnectionPool, AWSHTTPSConnection,
                                 AWSHTTPSConnectionPool)
from botocore.exceptions import BotoCoreError, HTTPClientError, ReadTimeoutError

from sweeper.kit.bounds import MB, Listing

_LISTING: ContextVar[Listing | None] = ContextVar("aws_listing", default=None)


class Refused(BotoCoreError):  # type: ignore[misc]  # botocore has no type information
    """An answer the sweeper will not use."""

    fmt = "{message}"


class Redirected(Refused):
    """A 3xx answer: credentials go only to the configured endpoint."""


class TooLarge(Refused):
    """An answer over max_response_mb."""


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_seconds: float  # the whole answer of one request
    max_bytes: int  # one answer, headers included


@contextmanager
def within(listing: Listing) -> Iterator[Listing]:
    """Calls made in this block (this thread) also end by `listing`'s deadline, and fail once it passed."""
    token = _LISTING.set(listing)
    try:
        yield listing
    finally:
        _LISTING.reset(token)


class _Metered(io.RawIOBase):
    """One answer's bytes from the socket, each read bounded by the answer's deadline and size."""

    def __init__(self, raw: Any, sock: Any, limits: Limits) -> None:
        super().__init__()
        self._raw = raw  # the socket's SocketIO: keeps the socket open until the answer is read
        self._sock = sock
        self._limits = limits
        listing = _LISTING.get()
        self._ends = time.monotonic() + limits.timeout_seconds
        if listing is not None:
            self._ends = min(self._ends, listing.ends)
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = self._ends - time.monotonic()
        if left <= 0:
            raise TimeoutError("the answer was still arriving at its deadline")
        before = self._sock.gettimeout()
        self._sock.settimeout(left if before is None else min(before, left))
        try:
            n: int | None = self._raw.readinto(buffer)
        finally:
            self._sock.settimeout(before)
        self._read += n or 0
        if self._read > self._limits.max_bytes:
            raise TooLarge(message=f"an answer larger than max_response_mb = {self._limits.max_bytes / MB:g} "
                                   "was refused")
        return n

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _BoundedResponse(http.client.HTTPResponse):
    def __init__(self, sock: Any, debuglevel: int = 0, method: str | None = None, url: str | None = None,
                 *, limits: Limits) -> None:
        super().__init__(sock, debuglevel, method, url)
        # detach, not close: the SocketIO must stay open, it is what keeps the socket alive
        self.fp = io.BufferedReader(_Metered(self.fp.detach(), sock, limits))


def _pools(limits: Limits) -> dict[str, Any]:
    response = partial(_BoundedResponse, limits=limits)
    http_conn = type("BoundedHTTPConnection", (AWSHTTPConnection,), {"response_class": response})
    https_conn = type("BoundedHTTPSConnection", (AWSHTTPSConnection,), {"response_class": response})
    return {"http": type("BoundedHTTPConnectionPool", (AWSHTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("BoundedHTTPSConnectionPool", (AWSHTTPSConnectionPool,), {"ConnectionCls": https_conn})}


def _refuse_redirect(response_dict: dict[str, Any], **_: Any) -> None:
    status = response_dict.get("status_code", 0)
    if 300 <= status < 400:
        target = str((response_dict.get("headers") or {}).get("location", "nowhere"))[:200]
        raise Redirected(message=f"the endpoint answered HTTP {status}, a redirect to {target}: redirects are "
                                 "not followed (credentials go only to the configured endpoint)")


def _before_call(**_: Any) -> None:
    listing = _LISTING.get()
    if listing is not None:
        listing.remaining()  # raises once the listing's deadline passed


def _after_response(exception: Exception | None = None, **_: Any) -> None:
    if isinstance(exception, HTTPClientError) and isinstance(exception.kwargs.get("error"), TooLarge):
        raise exception.kwargs["error"]  # not retried: the same answer would come again
    if isinstance(exception, ReadTimeoutError):
        _before_call()  # past the listing's deadline: no retry


def bound(client: Any, *, timeout_seconds: float, max_bytes: int) -> Any:
    """Bound every answer `client` reads (time, size, no redirect); returns the client. Call it before
    the client's first request: connection pools are made on first use."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    classes = getattr(session, "_pool_classes_by_scheme", None)
    if not isinstance(classes, dict) or set(classes) != {"http", "https"}:
        raise RuntimeError("this botocore keeps its connection pools elsewhere: answers cannot be bounded")
    classes.update(_pools(Limits(timeout_seconds, max_bytes)))  # shared with its pool managers
    events = client.meta.events
    events.register("before-parse", _refuse_redirect, unique_id="identity-sweeper-no-redirect")
    events.register("before-call", _before_call, unique_id="identity-sweeper-listing-deadline")
    events.register("response-received", _after_response, unique_id="identity-sweeper-bounded")
    return client
