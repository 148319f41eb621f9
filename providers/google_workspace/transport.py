"""HTTP for the Directory API client: no redirects, and every answer bounded in time and in size.

httplib2's timeout applies to each socket read, so a server dripping one byte at a time never trips
it; it follows redirects, and google-auth-httplib2 may send the Authorization header again. Here:

- a 3xx answer raises `Redirected`: credentials go to the configured endpoint and nowhere else;
- each request has a deadline, `timeout_seconds` from its start, or the listing's deadline when that
  comes sooner; connecting, sending and every read wait at most until then, so a drip ends there;
- the bytes of one answer, and its decompressed body, are limited to `max_bytes`.

The bounds of the request in progress live in a thread-local: each thread has its own `BoundedHttp`
(httplib2 is not thread-safe) and reads its own answers.
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httplib2


class Redirected(Exception):
    """The server answered a redirect; it is not followed."""

    def __init__(self, status: int, location: str) -> None:
        parts = urlsplit(location)
        self.status = status
        self.target = f"{parts.scheme}://{parts.netloc}" if parts.netloc else (location[:80] or "nowhere")
        super().__init__(f"HTTP {status} redirect to {self.target}")


class AnswerTooLarge(Exception):
    """An answer of more than `max_bytes` bytes (not retried: a larger one will not come back smaller)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        super().__init__(f"the answer is larger than {max_bytes} bytes")


class AnswerDeadline(TimeoutError):
    """An answer still arriving `timeout` seconds after its request began. A TimeoutError, so the
    client library retries it like any other timeout."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(f"the answer was not complete {timeout:g} s after the request began")


class ListingDeadline(Exception):
    """The listing's own deadline passed during (or before) a request; not retried."""


@dataclass(frozen=True)
class _Bounds:
    deadline: float  # time.monotonic()
    max_bytes: int
    listing: bool  # the deadline is the listing's, not the request's
    timeout: float

    def left(self) -> float:
        """Seconds left; raises `expired()` when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.expired()
        return left

    def expired(self) -> Exception:
        return ListingDeadline() if self.listing else AnswerDeadline(self.timeout)


_current = threading.local()


def _bounds() -> _Bounds | None:
    found: _Bounds | None = getattr(_current, "bounds", None)
    return found


class _Reader(io.RawIOBase):
    """The socket's reads under the request's bounds: each waits at most until the deadline, and
    the whole answer (status line, headers, body) may not exceed `max_bytes` plus headroom for headers."""

    HEADROOM = 64 * 1024

    def __init__(self, inner: Any, sock: socket.socket, bounds: _Bounds) -> None:
        self._inner = inner  # the response's own buffered socket file, closed with this one
        self._sock = sock
        self._bounds = bounds
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(self._bounds.left())
        try:
            n: int = self._inner.raw.readinto(buffer)
        except TimeoutError:  # the wait was cut at the deadline
            raise self._bounds.expired() from None
        self._read += n or 0
        if self._read > self._bounds.max_bytes + self.HEADROOM:
            raise AnswerTooLarge(self._bounds.max_bytes)
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


class _Response(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        bounds = _bounds()
        if bounds is not None:
            self.fp = io.BufferedReader(_Reader(self.fp, sock, bounds))


class _Connecting:
    """Connect and send within the request's deadline (httplib2 would allow `timeout` for each)."""

    timeout: Any
    sock: Any

    def connect(self) -> None:
        bounds = _bounds()
        if bounds is not None:
            self.timeout = bounds.left()
        super().connect()  # type: ignore[misc]

    def send(self, data: Any) -> None:
        bounds = _bounds()
        if bounds is not None and self.sock is not None:
            self.sock.settimeout(bounds.left())
        super().send(data)  # type: ignore[misc]


class _HTTPConnection(_Connecting, httplib2.HTTPConnectionWithTimeout):  # type: ignore[misc]
    response_class = _Response


class _HTTPSConnection(_Connecting, httplib2.HTTPSConnectionWithTimeout):  # type: ignore[misc]
    response_class = _Response


class BoundedHttp(httplib2.Http):  # type: ignore[misc]
    """An httplib2.Http that follows no redirect and bounds each answer. `until` (a time.monotonic()
    value, or None) is the deadline of the listing the next requests belong to."""

    connections: dict[str, Any]  # httplib2's open connections, by "scheme:authority"

    def __init__(self, *, timeout: float, max_bytes: int) -> None:
        try:  # httplib2 >= 0.31 limits decompressed bodies itself
            super().__init__(timeout=timeout, decode_limit_hard=max_bytes)
            self._identity = False
        except TypeError:  # an older one cannot: ask the server for no compression
            super().__init__(timeout=timeout)
            self._identity = True
        self.follow_redirects = False
        self.follow_all_redirects = False
        self.max_bytes = max_bytes
        self.until: float | None = None

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None,
                redirections: int = httplib2.DEFAULT_MAX_REDIRECTS, connection_type: Any = None) -> Any:
        start = time.monotonic()
        timeout = float(self.timeout)
        deadline, listing = start + timeout, False
        if self.until is not None and self.until < deadline:
            deadline, listing = self.until, True
        bounds = _Bounds(deadline, self.max_bytes, listing, timeout)
        bounds.left()  # nothing is sent once the listing's time is up
        if self._identity:
            headers = {**(headers or {}), "accept-encoding": "identity"}
        if connection_type is None:
            connection_type = _HTTPSConnection if uri.lower().startswith("https:") else _HTTPConnection
        _current.bounds = bounds
        try:
            response, content = super().request(uri, method, body, headers, redirections, connection_type)
        except BaseException:
            self._drop_connections()  # a half-read answer must not be taken for the next one's
            raise
        finally:
            _current.bounds = None
        if 300 <= int(response.status) < 400:
            self._drop_connections()
            raise Redirected(int(response.status), str(response.get("location", "")))
        return response, content

    def _drop_connections(self) -> None:
        existing, self.connections = self.connections, {}
        for conn in existing.values():
            conn.close()
