"""What every provider's local emulator offers (`Emulator`), and the HTTP server Graph's and the
Directory API's emulators build on.

`Emulator` is the interface the demo, the tests, the reliability server and the benchmarks loop over:
start and stop on loopback (also as a context manager), seeded from a scenario given to the
constructor, fault injection (`Faults`), request counters, and the configuration a user would write
to reach it (`config()`, `config_toml()`) with the environment a sweeper process needs (`env()`).
A provider's emulator lives in the `emulator` module beside its adapter, as `EMULATOR`.

`EmulatorServer` adds what the HTTP emulators need and neither API defines: a free loopback port,
per-request latency, fault injection (429 with Retry-After, 503, dropped connections, malformed
bodies), and request counters. An HTTP emulator is a function from `Request` to `Response`.
"""

from __future__ import annotations

import importlib
import json
import random
import socket
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Self
from urllib.parse import parse_qs, urlsplit

Scenario = dict[str, Any]


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
    drip_seconds: float = 0.0  # > 0: the body leaves one byte at a time, this long apart (a hostile server)

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


class Emulator(ABC):
    """A provider's local emulator, seeded from a scenario given to the constructor (the provider's
    own shape); it serves nothing until `start()`. `provider` names the config section it stands in for."""

    provider = ""

    @abstractmethod
    def start(self) -> Self:
        """Serve on a free 127.0.0.1 port in a daemon thread; returns self."""

    @abstractmethod
    def stop(self) -> None: ...

    @property
    @abstractmethod
    def running(self) -> bool: ...

    @property
    @abstractmethod
    def faults(self) -> Faults:
        """The faults injected from now on (assign a new `Faults` to change them)."""

    @faults.setter
    @abstractmethod
    def faults(self, faults: Faults) -> None: ...

    @abstractmethod
    def request_counts(self) -> dict[str, int]:
        """Requests served since the last reset, by kind ("METHOD /path" for HTTP, the Action for AWS)."""

    @abstractmethod
    def reset_counts(self) -> None: ...

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The keys of the provider's config section that point the adapter here, as a user writes them."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """The environment a sweeper process needs to authenticate here (a token variable, AWS keys)."""

    @classmethod
    def seeded(cls, scenario: Scenario | str | Path, faults: Faults | None = None) -> Self:
        """Seed from a scenario dict or a JSON file, and start."""
        return cls(load_scenario(scenario), faults).start()  # type: ignore[call-arg]

    def __enter__(self) -> Self:
        """Starts the emulator unless it is already running."""
        return self if self.running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def config_toml(self, **extra: Any) -> str:
        """`config()` with `extra` keys as a `[providers.NAME]` TOML section."""
        return toml_section(f"providers.{self.provider}", {**self.config(), **extra})


def load_scenario(scenario: Scenario | str | Path) -> Scenario:
    """A scenario as given, or read from a JSON file."""
    if isinstance(scenario, dict):
        return scenario
    loaded: Scenario = json.loads(Path(scenario).read_text(encoding="utf-8"))
    return loaded


def emulator_class(provider: str) -> type[Emulator]:
    """The emulator of a registered provider: `EMULATOR` in the `emulator` module of its package
    (the package that holds its settings, which imports no SDK)."""
    from sweeper import registry

    package = registry.settings_class(provider).__module__.rpartition(".")[0]
    return importlib.import_module(f"{package}.emulator").EMULATOR  # type: ignore[no-any-return]


def start(provider: str, scenario: Scenario | str | Path, faults: Faults | None = None) -> Emulator:
    """Seed and start the emulator of `provider` (a registry name such as "aws")."""
    return emulator_class(provider).seeded(scenario, faults)


def toml_value(value: Any) -> str:
    """One TOML value; a dict becomes an inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def toml_section(name: str, values: dict[str, Any]) -> str:
    return "".join([f"[{name}]\n", *(f"{k} = {toml_value(v)}\n" for k, v in values.items())])


ErrorBody = Callable[[int, str], Response]


class ServedEmulator(Emulator):
    """An emulator whose HTTP side is an `EmulatorServer` in `self.server` (Graph, Directory):
    starting, stopping, faults and counters are the server's."""

    server: "EmulatorServer"

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def running(self) -> bool:
        return self.server.running

    @property
    def faults(self) -> Faults:
        return self.server.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.server.set_faults(faults)

    def request_counts(self) -> dict[str, int]:
        return self.server.request_counts()

    def reset_counts(self) -> None:
        self.server.reset_counts()


def serve_wsgi(app: Callable[..., Any], name: str) -> Any:
    """A threaded werkzeug server for a WSGI `app` (moto's) on 127.0.0.1, a free port, serving from a
    daemon thread named `name`; quiet, since tests read counters, not access logs. `stop_wsgi` ends it."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log(self, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True).start()
    return server


def stop_wsgi(server: Any) -> None:
    server.shutdown()
    server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
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

    def request_counts(self) -> dict[str, int]:
        """A copy of `counts`: requests by "METHOD /path"."""
        with self._lock:
            return dict(self.counts)

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.injected.clear()

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._dice = FaultDice(faults)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

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
                if resp.drip_seconds > 0:
                    for i in range(len(resp.body)):  # ends when the client hangs up (BrokenPipeError)
                        self.wfile.write(resp.body[i:i + 1])
                        time.sleep(resp.drip_seconds)
                else:
                    self.wfile.write(resp.body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler


def bearer_token(req: Request) -> str | None:
    auth = req.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None
