"""A small threaded HTTP server that the Graph and Directory emulators build on.

It adds what both need and neither API defines: a free loopback port, per-request latency, fault
injection (429 with Retry-After, 503, dropped connections, malformed bodies), and request counters
for tests and benchmarks. An emulator is a function from `Request` to `Response`.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str  # without the query string, percent-decoding left to the emulator
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> object:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: object, headers: dict[str, str] | None = None) -> "Response":
        h = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, json.dumps(payload).encode(), h)


@dataclass
class Faults:
    """Fault injection. Rates are probabilities per matching request; `seed` makes runs repeatable.

    `only` limits faults to requests whose "METHOD path" contains one of the strings.
    `fail_after` makes every matching request after the first N fail with `fail_status`
    (0 = drop the connection, -1 = malformed body): a provider that goes down mid-listing.
    """

    rate_429: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0
    rate_malformed: float = 0.0
    retry_after: float = 0.0
    latency_ms: float = 0.0
    only: tuple[str, ...] = ()
    fail_after: int | None = None
    fail_status: int = 503
    seed: int = 0

    def matches(self, method: str, path: str) -> bool:
        line = f"{method} {path}"
        return not self.only or any(s in line for s in self.only)


class FaultDice:
    """Decides, request by request, which fault a request gets: "429", "503", "drop", "malformed",
    "status:N" or None. Thread-safe; every emulator (and the AWS layer in front of moto) rolls these."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._matching = 0
        self._lock = threading.Lock()

    def roll(self, method: str, path: str) -> str | None:
        with self._lock:
            f = self.faults
            if not f.matches(method, path):
                return None
            self._matching += 1
            if f.fail_after is not None and self._matching > f.fail_after:
                return {0: "drop", -1: "malformed"}.get(f.fail_status, f"status:{f.fail_status}")
            roll = self._rng.random()
            for name, rate in (("429", f.rate_429), ("503", f.rate_503), ("drop", f.rate_drop),
                               ("malformed", f.rate_malformed)):
                if roll < rate:
                    return name
                roll -= rate
            return None


ErrorBody = Callable[[int, str], Response]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        # a client that timed out or was killed hangs up mid-answer: expected here, not worth a traceback
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class EmulatorServer:
    """Serve `app` on 127.0.0.1 in a daemon thread. `error_body(status, reason)` shapes injected errors."""

    def __init__(self, app: Callable[[Request], Response], error_body: ErrorBody,
                 faults: Faults | None = None, port: int = 0) -> None:
        self.app = app
        self.error_body = error_body
        self.faults = faults or Faults()
        self.counts: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._dice = FaultDice(self.faults)
        self._server = _Server(("127.0.0.1", port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def total_requests(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.injected.clear()

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._dice = FaultDice(faults)

    def start(self) -> "EmulatorServer":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: with Nagle on, the body waits for the client's
            # delayed ACK, 40 ms on every kept-alive request (the real APIs answer in one go).
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # quiet: tests read counters instead
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                              {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.counts[f"{self.command} {parts.path}"] += 1
                    latency = server.faults.latency_ms
                if latency:
                    time.sleep(latency / 1000)
                fault = server._dice.roll(self.command, parts.path)
                if fault:
                    with server._lock:
                        server.injected[fault] += 1
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "429":
                    resp = server.error_body(429, "rateLimitExceeded")
                    resp.headers["Retry-After"] = f"{server.faults.retry_after:g}"
                elif fault == "503":
                    resp = server.error_body(503, "backendError")
                elif fault and fault.startswith("status:"):
                    resp = server.error_body(int(fault[7:]), "injected")
                else:
                    try:
                        resp = server.app(req)
                    except Exception as err:  # an emulator bug must show as a 500, not a hang
                        resp = server.error_body(500, f"emulator error: {err!r}")
                    if fault == "malformed":
                        resp = Response(200, resp.body[: max(1, len(resp.body) // 2)] or b"{",
                                        {"Content-Type": "application/json"})
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                self.wfile.write(resp.body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler


def bearer_token(req: Request) -> str | None:
    auth = req.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None
