"""A local emulator of the Okta Management API parts the sweeper uses, in their real shapes.

Served: `GET /.well-known/okta-organization` (no auth), `POST /oauth2/v1/token` (client credentials with a
private-key JWT client assertion, verified against the client's public key: signature, audience, issuer and
subject, expiry, a `jti` used once), `GET /api/v1/users` (every status but DEPROVISIONED, by id, `limit` at
most 200, `after` cursors, `Link` headers rel="self" and rel="next"), `GET /api/v1/users/me` and
`/api/v1/users/{id or login}`, `POST /api/v1/users/{id}/lifecycle/suspend|unsuspend|deactivate` (200 with an
empty object; 400 E0000001 for a transition the status does not allow, 404 E0000007 for an unknown user),
and `GET /api/v1/iam/assignees/users` (`{"value": [...], "_links": {"next": ...}}`).

Authentication: `SSWS <token>` for a token in the scenario's `api_tokens` (token -> its user's id, every
right), or `Bearer <access token>` minted here, good for its scopes only (403 E0000006 otherwise). Every
`/api/v1` answer carries `X-Rate-Limit-Limit`, `-Remaining` and `-Reset` (epoch seconds) from a per-window
bucket (`rate_limit` in the scenario: `{"limit": N, "window": seconds}`); an empty bucket answers 429
E0000047 until the reset. `throttle(n)` makes the next n API requests 429 whatever the bucket says. The
clock is `time.time() + offset`; tests move it on (`advance`) instead of sleeping.

Scenario: {"org_id", "users": [records, scenario.user], "admins": [user ids], "api_tokens": {token: user id},
"clients": [{"client_id", "public_key" (PEM), "scopes": [...], "require_dpop": false}], "rate_limit"}.
The wording of the 400 for a refused lifecycle transition is this emulator's own: the adapter reads the
user back rather than relying on it.
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from providers.emulator import EmulatorServer, Faults, Request, Response, Scenario, ServedEmulator
from providers.okta.scenario import ORG_ID, stamp

PAGE_MAX = 200
ADMINS_PAGE_MAX = 100
READ_USERS = ("okta.users.read", "okta.users.manage")
MANAGE_USERS = ("okta.users.manage",)
READ_ROLES = ("okta.roles.read", "okta.roles.manage")
TRANSITIONS = {"suspend": ({"ACTIVE"}, "SUSPENDED"), "unsuspend": ({"SUSPENDED"}, "ACTIVE"),
               "deactivate": ({"STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "LOCKED_OUT", "PASSWORD_EXPIRED",
                               "SUSPENDED"}, "DEPROVISIONED")}
ERRORS = {400: ("E0000001", "Api validation failed"), 401: ("E0000011", "Invalid token provided"),
          403: ("E0000006", "You do not have permission to perform the requested action"),
          404: ("E0000007", "Not found: Resource not found"),
          429: ("E0000047", "API call exceeded rate limit due to too many requests."),
          500: ("E0000009", "Internal Server Error"), 503: ("E0000010", "Service is unavailable")}


def okta_error(status: int, summary: str | None = None, causes: list[str] | None = None) -> Response:
    code, default = ERRORS.get(status, ("E0000009", "Internal Server Error"))
    return Response.json(status, {"errorCode": code, "errorSummary": summary or default, "errorLink": code,
                                  "errorId": "oae" + secrets.token_hex(10)[:19],
                                  "errorCauses": [{"errorSummary": c} for c in causes or []]})


def _error_body(status: int, reason: str) -> Response:
    return okta_error(status, None if status in ERRORS else reason)


class OktaEmulator(ServedEmulator):
    provider = "okta"

    def __init__(self, scenario: Scenario, faults: Faults | None = None) -> None:
        self.scenario = scenario
        self.org_id: str = scenario.get("org_id", ORG_ID)
        self.users: dict[str, dict[str, Any]] = {u["id"]: dict(u) for u in scenario.get("users", [])
                                                 if isinstance(u, dict) and isinstance(u.get("id"), str)}
        self.raw_users: list[Any] = list(scenario.get("users", []))  # as given, malformed ones included
        self.admins: list[str] = list(scenario.get("admins", []))
        self.api_tokens: dict[str, str] = dict(scenario.get("api_tokens", {}))
        self.clients: dict[str, dict[str, Any]] = {c["client_id"]: c for c in scenario.get("clients", [])}
        rate = scenario.get("rate_limit") or {}
        self.limit: int = int(rate.get("limit", 600))
        self.window: float = float(rate.get("window", 60))
        self.offset = 0.0
        self.access_tokens: dict[str, tuple[frozenset[str], float]] = {}
        self.used_jti: set[str] = set()
        self.list_pages = 0
        self.throttled = 0  # 429s answered
        self._throttle_next = 0
        self._window_start = self.clock()
        self._used = 0
        self._lock = threading.RLock()
        self.server = EmulatorServer(self.handle, _error_body, faults)

    # --- what a user of the emulator reads ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def config(self) -> dict[str, Any]:
        return {"endpoint": self.base_url, "org_id": self.org_id, "auth": "api_token",
                "token_env": "SWEEPER_OKTA_TOKEN"}

    def env(self) -> dict[str, str]:
        token = next(iter(self.api_tokens), None)
        return {"SWEEPER_OKTA_TOKEN": token} if token else {}

    def status_of(self, user_id: str) -> str | None:
        with self._lock:
            found = self.users.get(user_id)
            return None if found is None else found.get("status")

    # --- the clock and the rate limit ------------------------------------------------------------------

    def clock(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock on (what a client's sleep would have let pass)."""
        with self._lock:
            self.offset += seconds

    def throttle(self, n: int) -> None:
        """The next `n` API requests answer 429 (the reset stays the window's)."""
        with self._lock:
            self._throttle_next = n

    def _rate(self) -> tuple[bool, dict[str, str]]:
        """Count one API request: (allowed, the X-Rate-Limit-* headers)."""
        with self._lock:
            now = self.clock()
            if now >= self._window_start + self.window:
                self._window_start, self._used = now, 0
            reset = math.ceil(self._window_start + self.window)
            forced = self._throttle_next > 0
            if forced:
                self._throttle_next -= 1
            allowed = not forced and self._used < self.limit
            if allowed:
                self._used += 1
            else:
                self.throttled += 1
            headers = {"X-Rate-Limit-Limit": str(self.limit), "X-Rate-Limit-Remaining": str(self.limit - self._used),
                       "X-Rate-Limit-Reset": str(reset)}
            return allowed, headers

    # --- requests --------------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if path == "/.well-known/okta-organization" and req.method == "GET":
            return Response.json(200, {"id": self.org_id, "pipeline": "idx",
                                       "_links": {"organization": {"href": self.base_url},
                                                  "alternate": {"href": self.base_url}}})
        if path == "/oauth2/v1/token" and req.method == "POST":
            return self._token(req)
        if not path.startswith("/api/v1/"):
            return okta_error(404, f"Not found: Resource not found: {path} (Page)")
        allowed, headers = self._rate()
        if not allowed:
            resp = okta_error(429)
        else:
            resp = self._api(req, path)
        resp.headers.update(headers)
        return resp

    def _caller(self, req: Request) -> tuple[str | None, frozenset[str] | None]:
        """(the SSWS token's user id, None: every right) or (None, the access token's scopes); None, None
        when neither is valid."""
        auth = req.headers.get("authorization", "")
        if auth.startswith("SSWS ") and auth[5:] in self.api_tokens:
            return self.api_tokens[auth[5:]], None
        if auth.startswith("Bearer "):
            with self._lock:
                found = self.access_tokens.get(auth[7:])
            if found is not None and found[1] > self.clock():
                return None, found[0]
        return None, frozenset()

    def _api(self, req: Request, path: str) -> Response:
        owner, scopes = self._caller(req)
        if owner is None and not scopes:
            return okta_error(401)

        def allows(needed: tuple[str, ...]) -> bool:
            return scopes is None or not scopes.isdisjoint(needed)

        parts = path.split("/")[3:]  # after /api/v1
        if parts == ["users"] and req.method == "GET":
            return self._list(req) if allows(READ_USERS) else okta_error(403)
        if parts == ["iam", "assignees", "users"] and req.method == "GET":
            return self._admins(req) if allows(READ_ROLES) else okta_error(403)
        if parts == ["users", "me"] and req.method == "GET":
            if owner is None:
                return okta_error(404, "Not found: Resource not found: me (User)")
            return Response.json(200, self._shown(self.users[owner]))
        if len(parts) == 2 and parts[0] == "users" and req.method == "GET":
            if not allows(READ_USERS):
                return okta_error(403)
            found = self._find(parts[1])
            return Response.json(200, self._shown(found)) if found else \
                okta_error(404, f"Not found: Resource not found: {parts[1]} (User)")
        if len(parts) == 4 and parts[0] == "users" and parts[2] == "lifecycle" and req.method == "POST":
            return self._lifecycle(parts[1], parts[3]) if allows(MANAGE_USERS) else okta_error(403)
        return okta_error(404, f"Not found: Resource not found: {path} (Page)")

    def _find(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.users.get(key)
            if found is None:
                found = next((u for u in self.users.values()
                              if str(u.get("profile", {}).get("login", "")).lower() == key.lower()), None)
            return found

    def _shown(self, user: dict[str, Any]) -> dict[str, Any]:
        link = f"{self.base_url}/api/v1/users/{user['id']}"
        links: dict[str, Any] = {"self": {"href": link}}
        status = user.get("status")
        if status == "ACTIVE":
            links["suspend"] = {"href": f"{link}/lifecycle/suspend", "method": "POST"}
        if status == "SUSPENDED":
            links["unsuspend"] = {"href": f"{link}/lifecycle/unsuspend", "method": "POST"}
        if status != "DEPROVISIONED":
            links["deactivate"] = {"href": f"{link}/lifecycle/deactivate", "method": "POST"}
        return {**user, "_links": links}

    def _list(self, req: Request) -> Response:
        try:
            limit = min(PAGE_MAX, int(req.arg("limit", str(PAGE_MAX)) or PAGE_MAX))
        except ValueError:
            return okta_error(400, "Api validation failed: limit")
        after, wanted = req.arg("after"), req.arg("filter")
        status = re.fullmatch(r'status eq "([A-Z_]+)"', wanted or "")
        if wanted and status is None:
            return okta_error(400, "Invalid search criteria.", [f"this emulator filters on status only: {wanted}"])

        def shown(u: dict[str, Any]) -> bool:
            return u.get("status") == status.group(1) if status else u.get("status") != "DEPROVISIONED"

        with self._lock:
            self.list_pages += 1
            listed = [] if status else [u for u in self.raw_users
                                        if not isinstance(u, dict) or not isinstance(u.get("id"), str)]
            ordered = sorted((u for u in self.users.values() if shown(u)), key=lambda u: u["id"])
            if after:
                ordered = [u for u in ordered if u["id"] > after]
            else:
                ordered = listed + ordered  # malformed records come on the first page
            page, more = ordered[:limit], len(ordered) > limit
            body = [self._shown(u) if isinstance(u, dict) and isinstance(u.get("id"), str) else u for u in page]
        base = f"{self.base_url}/api/v1/users"
        keep = {"filter": wanted} if wanted else {}
        links = [f'<{base}?{urlencode({**keep, "limit": limit, **({"after": after} if after else {})})}>; rel="self"']
        if more:
            last = next(u["id"] for u in reversed(page) if isinstance(u, dict) and isinstance(u.get("id"), str))
            links.append(f'<{base}?{urlencode({**keep, "after": last, "limit": limit})}>; rel="next"')
        return Response.json(200, body, {"Link": ", ".join(links)})

    def _admins(self, req: Request) -> Response:
        try:
            limit = min(ADMINS_PAGE_MAX, int(req.arg("limit", "100") or 100))
        except ValueError:
            return okta_error(400, "Api validation failed: limit")
        after = req.arg("after")
        ordered = sorted(self.admins)
        if after:
            ordered = [a for a in ordered if a > after]
        page, more = ordered[:limit], len(ordered) > limit
        value = [{"id": a, "orn": f"orn:okta:directory:{self.org_id}:users:{a}",
                  "_links": {"self": {"href": f"{self.base_url}/api/v1/users/{a}/roles"}}} for a in page]
        links: dict[str, Any] = {}
        if more:
            links["next"] = {"href": f"{self.base_url}/api/v1/iam/assignees/users?"
                                     f"{urlencode({'after': page[-1], 'limit': limit})}"}
        return Response.json(200, {"value": value, "_links": links})

    def _lifecycle(self, key: str, verb: str) -> Response:
        if verb not in TRANSITIONS:
            return okta_error(404, f"Not found: Resource not found: {verb} (Page)")
        allowed, target = TRANSITIONS[verb]
        with self._lock:
            found = self.users.get(key)
            if found is None:
                return okta_error(404, f"Not found: Resource not found: {quote(key)} (User)")
            if found.get("status") not in allowed:
                return okta_error(400, f"Api validation failed: {verb}",
                                  [f"Cannot {verb} a user whose status is {found.get('status')}"])
            now = stamp(datetime.fromtimestamp(self.clock(), timezone.utc))
            found.update(status=target, statusChanged=now, lastUpdated=now)
        return Response.json(200, {})

    def _token(self, req: Request) -> Response:
        import jwt

        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}

        def refuse(status: int, error: str, description: str) -> Response:
            return Response.json(status, {"error": error, "error_description": description})

        if form.get("grant_type") != "client_credentials":
            return refuse(400, "unsupported_grant_type", "The authorization grant type is not supported.")
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return refuse(401, "invalid_client", "Client authentication failed: no client assertion.")
        assertion = form.get("client_assertion", "")
        try:
            issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            return refuse(401, "invalid_client", "The client_assertion is not a JWT.")
        client = self.clients.get(str(issuer))
        if client is None:
            return refuse(401, "invalid_client", "The client_assertion's issuer is not a known client.")
        try:
            claims = jwt.decode(assertion, client["public_key"], algorithms=["RS256"],
                                audience=f"{self.base_url}/oauth2/v1/token", issuer=client["client_id"],
                                options={"require": ["exp", "iss", "sub", "aud", "jti"]}, leeway=0)
        except jwt.PyJWTError as err:
            return refuse(401, "invalid_client", f"The client_assertion is invalid: {err}.")
        if claims.get("sub") != client["client_id"]:
            return refuse(401, "invalid_client", "The client_assertion's sub is not the client.")
        with self._lock:
            if claims["jti"] in self.used_jti:
                return refuse(401, "invalid_client", "The client_assertion token has already been used.")
            self.used_jti.add(claims["jti"])
        if client.get("require_dpop") and "dpop" not in req.headers:
            return refuse(400, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
        asked = frozenset(form.get("scope", "").split())
        missing = sorted(asked - set(client.get("scopes", ())))
        if not asked or missing:
            return refuse(400, "invalid_scope",
                          "The following scopes are not allowed: " + " ".join(missing or ["(none)"]))
        token = "eyJ" + secrets.token_urlsafe(40)
        with self._lock:
            self.access_tokens[token] = (asked, self.clock() + 3600)
        return Response.json(200, {"token_type": "Bearer", "expires_in": 3600, "access_token": token,
                                   "scope": " ".join(sorted(asked))})


EMULATOR = OktaEmulator
