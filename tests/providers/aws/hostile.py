"""A hostile AWS endpoint on 127.0.0.1: a small HTTP server in front of the AWS emulator that passes
every request through, except the actions given a behaviour (drip, oversize, redirect, a page token
that never changes). The adapter reaches it as it reaches AWS, through `endpoint_url`."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

Behaviour = Callable[[BaseHTTPRequestHandler, str], None]


class Front:
    """Serve on a free loopback port; `hits` counts requests by action, `url` is the endpoint."""

    def __init__(self, upstream: str, behaviours: dict[str, Behaviour]) -> None:
        self.upstream = urlsplit(upstream)
        self.behaviours = behaviours
        self.hits: Counter[str] = Counter()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = action_of(self.headers.get("X-Amz-Target", ""), body)
                front.hits[action] += 1
                behaviour = front.behaviours.get(action)
                if isinstance(behaviour, Rewrite):  # moto's answer, changed on the way back
                    front._forward(self, body, behaviour)
                elif behaviour is not None:
                    behaviour(self, action)
                else:
                    front._forward(self, body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes, rewrite: Rewrite | None = None) -> None:
        conn = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=30)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        conn.request("POST", handler.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        if rewrite is not None:
            data = rewrite.change(data)
        handler.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
        conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Rewrite:
    """A behaviour that passes the request through and changes moto's answer with `change`."""

    def __init__(self, change: Callable[[bytes], bytes]) -> None:
        self.change = change

    def __call__(self, handler: BaseHTTPRequestHandler, action: str) -> None:
        raise AssertionError("a Rewrite is applied by Front, never called")


def caller_moved(account: str, to: str) -> Rewrite:
    """GetCallerIdentity answers that put a session of `account` in account `to` (a role whose
    session is not where it was listed)."""
    was, now = f"<Account>{account}</Account>".encode(), f"<Account>{to}</Account>".encode()
    return Rewrite(lambda data: data.replace(was, now))


def action_of(target: str, body: bytes) -> str:
    if target:  # JSON protocols (Organizations): the action is in the header
        return target.rpartition(".")[2]
    return parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]


def answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "text/xml",
           headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def drip(every: float = 0.25, most: int = 400, *, head: bool = False) -> Behaviour:
    """A 200 whose body (with `head`, its status line and headers too) arrives one byte every `every`
    seconds: each read is quick, the answer never ends."""
    def behave(handler: BaseHTTPRequestHandler, action: str) -> None:
        start = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n"
        if not head:
            handler.wfile.write(start)
        data = (start if head else b"") + b" " * most
        try:
            for byte in data[:most]:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(every)
        except OSError:
            pass  # the client gave up: what it should do
        handler.close_connection = True

    return behave


def oversize(megabytes: float) -> Behaviour:
    """A 200 of `megabytes` (a never-ending stream of spaces, as far as the client reads)."""
    size = int(megabytes * 1024 * 1024)

    def behave(handler: BaseHTTPRequestHandler, action: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        chunk = b" " * 65536
        try:
            for _ in range(size // len(chunk) + 1):
                handler.wfile.write(chunk)
        except OSError:
            pass
        handler.close_connection = True

    return behave


def redirect(status: int, location: str) -> Behaviour:
    def behave(handler: BaseHTTPRequestHandler, action: str) -> None:
        answer(handler, status, b"", headers={"Location": location})

    return behave


_IAM = "https://iam.amazonaws.com/doc/2010-05-08/"


def same_marker(marker: str = "page-2") -> Behaviour:
    """GetAccountAuthorizationDetails pages that always say "more, from `marker`"."""
    def behave(handler: BaseHTTPRequestHandler, action: str) -> None:
        body = (f'<GetAccountAuthorizationDetailsResponse xmlns="{_IAM}"><GetAccountAuthorizationDetailsResult>'
                "<UserDetailList/><IsTruncated>true</IsTruncated>"
                f"<Marker>{marker}</Marker></GetAccountAuthorizationDetailsResult>"
                "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
                "</GetAccountAuthorizationDetailsResponse>")
        answer(handler, 200, body.encode())

    return behave


def listed_twice(name: str = "twice") -> Behaviour:
    """A last GetAccountAuthorizationDetails page that lists the same user twice."""
    member = (f"<member><UserName>{name}</UserName><UserId>AIDATWICE0000000001</UserId>"
              f"<Arn>arn:aws:iam::111111111111:user/{name}</Arn><CreateDate>2020-01-01T00:00:00Z</CreateDate></member>")

    return details_page(f"<UserDetailList>{member}{member}</UserDetailList>")


def details_page(inner: str) -> Behaviour:
    """A last GetAccountAuthorizationDetails page holding `inner` (its lists, as XML)."""
    def behave(handler: BaseHTTPRequestHandler, action: str) -> None:
        body = (f'<GetAccountAuthorizationDetailsResponse xmlns="{_IAM}"><GetAccountAuthorizationDetailsResult>'
                f"{inner}<IsTruncated>false</IsTruncated></GetAccountAuthorizationDetailsResult>"
                "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
                "</GetAccountAuthorizationDetailsResponse>")
        answer(handler, 200, body.encode())

    return behave


def role_member(name: str | None, created: str = "2020-01-01T00:00:00Z", last_used: str | None = None) -> str:
    """One RoleDetail as IAM writes it."""
    used = f"<RoleLastUsed><LastUsedDate>{last_used}</LastUsedDate></RoleLastUsed>" if last_used else "<RoleLastUsed/>"
    named = f"<RoleName>{name}</RoleName>" if name is not None else ""
    return (f"<member><Path>/</Path>{named}<RoleId>AROA{(name or 'x').upper():0<17}</RoleId>"
            f"<Arn>arn:aws:iam::111111111111:role/{name}</Arn><CreateDate>{created}</CreateDate>{used}</member>")


def same_next_token(accounts: list[str], token: str = "again") -> Behaviour:
    """Organizations ListAccounts pages that always say "more, from `token`"."""
    import json

    def behave(handler: BaseHTTPRequestHandler, action: str) -> None:
        listed = [{"Id": a, "Status": "ACTIVE", "State": "ACTIVE", "Arn": f"arn:aws:organizations::{a}:account",
                   "Name": a, "Email": f"{a}@example.com"} for a in accounts]
        answer(handler, 200, json.dumps({"Accounts": listed, "NextToken": token}).encode(),
               "application/x-amz-json-1.1")

    return behave


class Witness:
    """The server a redirect points to: it counts what reaches it (nothing should)."""

    def __init__(self) -> None:
        self.hits = 0
        witness = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                witness.hits += 1
                answer(self, 200, b"")

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
