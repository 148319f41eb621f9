"""Serve the three emulators in a process of their own, for tests that run, kill and race `sweeper`.

    python -m tests.reliability.serve

prints one JSON line `{"control": "http://127.0.0.1:PORT"}` and serves until its stdin closes.
The control endpoint takes POSTed JSON and answers JSON:

  /reset   {"aws": scenario, "entra": scenario, "google": scenario}
           → {"config": {provider section: keys}, "env": {...}, "aws": endpoint_url, "aws_env": {...},
              "entra": endpoint, "tenant": id, "google": endpoint}
  /faults  {"aws"|"entra"|"entra_items"|"google": Faults kwargs, "google_items": ItemFaults kwargs}
  /inject  {"action", "code", "times"}: scripted AWS errors (AwsEmulator.inject)
  /hold    {"aws"|"entra"|"google": {"before": s, "after": s, "drop_if_gone": bool}}: hold write
           requests (AWS UpdateAccessKey, Graph and Directory batches) before and/or after they take
           effect; with drop_if_gone a write whose client died during `before` is never applied
  /slow    {"entra"|"google": {"only": "GET /path", "after": n, "seconds": s}}: answer matching
           requests after the first n only after s seconds (a listing that times out part-way)
  /report  {"user name": {"column": "value"}}: garble AWS credential report rows
  /state   → per provider: credential states, applied writes, request counts, injected faults, holds

Applied writes are counted where they take effect (an UpdateAccessKey moto answered with success,
the Graph user update, the Directory user update), so a request refused by fault injection is not a
write. moto itself is not patched: the AWS emulator's own hooks garble the report.
"""

from __future__ import annotations

import csv
import io
import json
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs

from providers import emulator
from providers.aws_iam.scenarios import MANAGEMENT
from providers.emulator import Faults, Response
from providers.entra import emulator as graph_emulator
from providers.google_workspace import emulator as directory_emulator

LOCK = threading.Lock()
AWS_WRITES: Counter[str] = Counter()  # "AccessKeyId Status" -> applied UpdateAccessKey calls
REPORT_OVERRIDES: dict[str, dict[str, str]] = {}
PROVIDERS = {"aws": "aws", "entra": "entra", "google": "google_workspace"}  # control name -> provider


@dataclass
class Hold:
    before: float = 0.0
    after: float = 0.0
    drop_if_gone: bool = False
    holding: int = 0  # requests being held now
    held: int = 0
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_before(self, sock: socket.socket | None, before: float, drop_if_gone: bool) -> bool:
        """Hold a write before it takes effect. False: the client died meanwhile and the write is dropped."""
        deadline = time.monotonic() + before
        while time.monotonic() < deadline:
            if drop_if_gone and sock is not None and _gone(sock):
                with self.lock:
                    self.dropped += 1
                return False
            time.sleep(0.01)
        return True


@dataclass
class Slow:
    """Answer requests whose "METHOD path" contains `only` slowly, after the first `after` of them."""

    only: str = ""
    after: int = 0
    seconds: float = 0.0
    seen: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, method: str, path: str) -> None:
        if not self.seconds or self.only not in f"{method} {path}":
            return
        with self.lock:
            self.seen += 1
            slow = self.seen > self.after
        if slow:
            time.sleep(self.seconds)


def _gone(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def held(hold: Hold, sock: socket.socket | None, apply: Callable[[], Any], refused: Callable[[], Any]) -> Any:
    with hold.lock:  # the settings when the request came: changing them later does not affect it
        before, after, drop_if_gone = hold.before, hold.after, hold.drop_if_gone
        hold.holding += 1
        hold.held += 1
    try:
        if before and not hold.wait_before(sock, before, drop_if_gone):
            return refused()
        answer = apply()
        if after:
            time.sleep(after)
        return answer
    finally:
        with hold.lock:
            hold.holding -= 1


def _garble(report: str) -> str:
    """The credential report with the rows and columns tests asked for (/report) overwritten."""
    with LOCK:
        overrides = {k: dict(v) for k, v in REPORT_OVERRIDES.items()}
    if not overrides:
        return report
    rows = list(csv.reader(io.StringIO(report)))
    header = rows[0]
    for row in rows[1:]:
        for column, value in overrides.get(row[0], {}).items():
            if column == "*row*":
                row[:] = next(csv.reader([value]))
            else:
                row[header.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


class World:
    """The three running emulators, their holds and counters."""

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.holds = {"aws": Hold(), "entra": Hold(), "google": Hold()}
        self.slow = {"entra": Slow(), "google": Slow()}
        self.aws_injected: Counter[str] = Counter()
        with LOCK:
            AWS_WRITES.clear()
            REPORT_OVERRIDES.clear()
        self.emulators = {name: emulator.start(provider, scenario[name]) for name, provider in PROVIDERS.items()}
        self.aws, self.graph, self.directory = (self.emulators[name] for name in ("aws", "entra", "google"))
        self.aws.report_hook = _garble
        self._wrap_aws()
        self.entra_writes: Counter[str] = Counter()  # "user id accountEnabled"
        self.google_writes: Counter[str] = Counter()  # "user id suspended"
        self._wrap_graph()
        self._wrap_directory()

    def stop(self) -> None:
        for emu in self.emulators.values():
            emu.stop()

    # -- wrapping ---------------------------------------------------------------------------
    def _wrap_aws(self) -> None:
        """Hold UpdateAccessKey calls, and count the errors moto's fault layer answers (seen on the wire)."""
        emu, hold = self.aws, self.holds["aws"]
        app = emu._server.app

        def observed(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            captured: list[Any] = []
            body = b"".join(app(environ, lambda status, headers, exc=None: captured.extend([status, headers])))
            if not captured[0].startswith("2"):
                for code in (b"Throttling", b"ServiceUnavailable"):
                    if b"<Code>" + code + b"</Code>" in body:
                        with LOCK:
                            self.aws_injected[code.decode()] += 1
            start_response(captured[0], captured[1])
            return [body]

        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            if b"Action=UpdateAccessKey" not in body:
                return observed(environ, start_response)
            captured: list[Any] = []

            def apply() -> list[bytes]:
                answer = observed(environ, lambda status, headers, exc=None: captured.extend([status, headers]))
                if captured[0].startswith("2"):  # moto applied it
                    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
                    with LOCK:
                        AWS_WRITES[f"{form.get('AccessKeyId')} {form.get('Status')}"] += 1
                return answer

            def refused() -> list[bytes]:
                captured.extend(["503 Service Unavailable", [("Content-Type", "text/xml")]])
                return [b"<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>"]

            chunks = held(hold, environ.get("werkzeug.socket"), apply, refused)
            start_response(captured[0], captured[1])
            return chunks

        emu._server.app = wrapped

    def _stash_socket(self, server: Any) -> threading.local:
        local = threading.local()
        base = server._server.RequestHandlerClass

        class Stash(base):  # type: ignore[misc, valid-type]
            def handle(self) -> None:
                local.sock = self.connection
                super().handle()

        server._server.RequestHandlerClass = Stash
        return local

    def _wrap_graph(self) -> None:
        emu, hold = self.graph, self.holds["entra"]
        local = self._stash_socket(emu.server)
        update = emu.state.update

        def counted(i: int, changes: dict[str, Any]) -> None:
            update(i, changes)
            if "accountEnabled" in changes:
                with LOCK:
                    self.entra_writes[f"{emu.state.users[i]['id']} {changes['accountEnabled']}"] += 1

        emu.state.update = counted
        app = emu.server.app

        def wrapped(req: Any) -> Response:
            self.slow["entra"].wait(req.method, req.path)
            if req.method == "POST" and req.path.endswith("/$batch"):
                return held(hold, getattr(local, "sock", None), lambda: app(req),
                            lambda: graph_emulator.error(503, "serviceNotAvailable", "client gone"))
            return app(req)

        emu.server.app = wrapped

    def _wrap_directory(self) -> None:
        emu, hold = self.directory, self.holds["google"]
        local = self._stash_socket(emu.server)
        update = emu._update

        def counted(key: str, req: Any) -> Response:
            resp = update(key, req)
            try:
                body = req.json()
            except ValueError:
                body = None
            if resp.status == 200 and isinstance(body, dict) and "suspended" in body:
                user = emu.directory.find(key) or {}
                with LOCK:
                    self.google_writes[f"{user.get('id')} {body['suspended']}"] += 1
            return resp

        emu._update = counted
        app = emu.server.app

        def wrapped(req: Any) -> Response:
            self.slow["google"].wait(req.method, req.path)
            if req.method == "POST" and req.path.startswith("/batch"):
                return held(hold, getattr(local, "sock", None), lambda: app(req),
                            lambda: Response(503, b"client gone", {}))
            return app(req)

        emu.server.app = wrapped

    # -- control ------------------------------------------------------------------------------
    def endpoints(self) -> dict[str, Any]:
        env: dict[str, str] = {}
        for emu in self.emulators.values():
            env.update(emu.env())
        return {"config": {emu.provider: emu.config() for emu in self.emulators.values()}, "env": env,
                "aws": self.aws.endpoint_url, "aws_env": self.aws.env(), "entra": self.graph.endpoint,
                "tenant": self.graph.tenant_id, "google": self.directory.endpoint}

    def faults(self, spec: dict[str, dict[str, Any]]) -> None:
        for name, kw in spec.items():
            if "only" in kw:
                kw["only"] = tuple(kw["only"])
            if name in self.emulators:
                self.emulators[name].faults = Faults(**kw)
            elif name == "entra_items":
                self.graph.set_item_faults(Faults(**kw))
            elif name == "google_items":
                self.directory.set_item_faults(directory_emulator.ItemFaults(**kw))
            else:
                raise ValueError(f"unknown fault target {name}")

    def hold(self, spec: dict[str, dict[str, Any]]) -> None:
        for name, kw in spec.items():
            h = self.holds[name]
            with h.lock:
                h.before, h.after = float(kw.get("before", 0)), float(kw.get("after", 0))
                h.drop_if_gone = bool(kw.get("drop_if_gone", False))

    def state(self) -> dict[str, Any]:
        backend = self.aws.backend(MANAGEMENT)
        with LOCK:
            aws_keys = {u.name: [{"id": k.access_key_id, "status": k.status} for k in u.access_keys]
                        for u in list(backend.users.values())}
            out: dict[str, Any] = {"aws": {
                "keys": aws_keys, "writes": dict(AWS_WRITES), "counts": self.aws.request_counts(),
                "injected": dict(self.aws_injected),
                "passwords": sorted(u.name for u in backend.users.values() if u.password)}}
        g = self.graph
        with g.state.lock:
            users = {u.get("id"): {"login": u.get("userPrincipalName"), "enabled": u.get("accountEnabled")}
                     for u in g.state.users if isinstance(u, dict)}
        with LOCK:
            out["entra"] = {"users": users, "writes": dict(self.entra_writes), "counts": g.request_counts(),
                            "injected": {**dict(g.server.injected),
                                         **{f"item {k}": v for k, v in g.app.item_injected.items()}}}
        d = self.directory
        with d.directory.lock:
            gusers = {u.get("id"): {"login": u.get("primaryEmail"), "suspended": u.get("suspended")}
                      for u in d.directory.users if isinstance(u, dict)}
        with LOCK:
            out["google"] = {"users": gusers, "writes": dict(self.google_writes), "counts": d.request_counts(),
                             "parts": dict(d.part_counts),
                             "injected": {**dict(d.server.injected), "items": sum(d._item_hits.values())}}
        out["holds"] = {n: {"holding": h.holding, "held": h.held, "dropped": h.dropped} for n, h in self.holds.items()}
        return out


class Control:
    world: World | None = None

    def handle(self, path: str, body: dict[str, Any]) -> Any:
        if path == "/reset":
            if self.world:
                self.world.stop()
            self.world = World(body)
            return self.world.endpoints()
        w = self.world
        if w is None:
            raise ValueError("reset first")
        if path == "/faults":
            w.faults(body)
        elif path == "/inject":
            w.aws.inject(body["action"], body["code"], body.get("times", float("inf")))
        elif path == "/hold":
            w.hold(body)
        elif path == "/slow":
            for name, kw in body.items():
                w.slow[name] = Slow(**kw)
        elif path == "/report":
            with LOCK:
                REPORT_OVERRIDES.clear()
                REPORT_OVERRIDES.update(body)
        elif path == "/state":
            return w.state()
        else:
            raise ValueError(f"unknown control path {path}")
        return {"ok": True}


def serve() -> None:
    control = Control()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                answer, status = control.handle(self.path, body), 200
            except Exception as err:  # noqa: BLE001 - reported to the test, which fails loudly
                answer, status = {"error": f"{type(err).__name__}: {err}"}, 500
            data = json.dumps(answer, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    print(json.dumps({"control": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    sys.stdin.read()  # until the test closes our stdin (or dies)
    if control.world:
        control.world.stop()


if __name__ == "__main__":
    serve()
