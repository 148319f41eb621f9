"""A local GitHub REST API (organisations, members, teams, audit log) for tests and `sweeper demo`.

Serves, in GitHub's shapes: `GET /user`, `/user/{id}`, `/app`, `/orgs/{org}`, `/orgs/{org}/installation`,
`POST /app/installations/{id}/access_tokens`; `/orgs/{org}/members` (`role` filter),
`/outside_collaborators`, `/memberships/{username}` (GET, PUT, DELETE), `/teams`, `/teams/{slug}`,
`/teams/{slug}/members` (`role` filter; a child team's members listed in its parents too, as GitHub does),
`PUT /teams/{slug}/memberships/{username}`, `/audit-log` (`phrase` with `created:>=DATE`, `include`, `order`,
`per_page`, paged by an `after` cursor in the `Link` header), `/credential-authorizations` and
`/copilot/billing/seats` (paged by `page`, `Link` header). Errors are `{"message", "documentation_url"}`.

Seeded from a scenario (`providers.github.scenario` builds one): {"token", "user", "users", "orgs": {login:
{"id", "members": {login: "admin"|"member"}, "outside_collaborators": [login], "teams": [...],
"audit_log": [events] or null, "audit_log_status", "credential_authorizations", "copilot_seats",
"raw_members"}}, "app": {"id", "slug", "public_key", "installations": {org: id}}, "ghes": bool}.
Re-inviting (PUT membership) makes a `pending` membership on GitHub.com, an `active` one with "ghes".
Every answer carries `x-ratelimit-*` headers. `rate_limit` (requests per window) answers 403 with
`x-ratelimit-remaining: 0` once spent, until `x-ratelimit-reset`; `secondary(n, retry_after)` answers the
next n requests 403 "You have exceeded a secondary rate limit" with `retry-after`. The emulator's clock
(`now()`) is real time plus `advance()`d seconds, so a test's sleeps can move it.
"""

from __future__ import annotations

import base64
import calendar
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import quote, urlencode

from providers.emulator import EmulatorServer, Faults, Request, Response, Scenario, ServedEmulator, bearer_token

DOCS = "https://docs.github.com/rest"
_CREATED = re.compile(r"created:>=(\d{4}-\d{2}-\d{2})")


def error(status: int, message: str) -> Response:
    return Response.json(status, {"message": message, "documentation_url": DOCS, "status": str(status)})


def _simple(login: str, uid: int) -> dict[str, Any]:
    return {"login": login, "id": uid, "node_id": f"U_{uid}", "avatar_url": f"https://avatars.example/u/{uid}",
            "url": f"https://api.github.com/users/{login}", "html_url": f"https://github.com/{login}",
            "type": "User", "site_admin": False}


def _role(req: Request) -> object:
    """The `role` of a PUT body ("member" when absent); None when the body is not a JSON object."""
    try:
        body = req.json()
    except ValueError:
        return None
    if body is None:
        return "member"
    return body.get("role", "member") if isinstance(body, dict) else None


class GitHub:
    """The emulator's state (callers hold `lock`)."""

    def __init__(self, scenario: Scenario) -> None:
        self.token = str(scenario.get("token", "ghp_emulator"))
        me = scenario.get("user") or {"login": "sweeper-bot", "id": 1}
        self.me = (str(me["login"]), int(me["id"]))
        self.users: dict[str, int] = {str(u["login"]).lower(): int(u["id"]) for u in scenario.get("users", ())}
        self.users.setdefault(self.me[0].lower(), self.me[1])
        self.logins = {uid: login for login, uid in self.users.items()}
        self.display = {str(u["login"]).lower(): str(u["login"]) for u in scenario.get("users", ())}
        self.orgs: dict[str, dict[str, Any]] = {}
        for name, org in scenario.get("orgs", {}).items():
            o = dict(org)
            o["login"] = name
            o["members"] = {k.lower(): v for k, v in org.get("members", {}).items()}
            o["pending"] = {}
            o["outside_collaborators"] = [c.lower() for c in org.get("outside_collaborators", ())]
            o["teams"] = [dict(t, members={k.lower(): v for k, v in t.get("members", {}).items()})
                          for t in org.get("teams", ())]
            self.orgs[name.lower()] = o
        self.app = scenario.get("app")
        self.ghes = bool(scenario.get("ghes", False))
        self.installation_tokens: dict[str, tuple[str, float]] = {}  # token -> (org, expires)
        self.lock = threading.Lock()

    def name(self, login: str) -> str:
        return self.display.get(login, login)

    def user(self, login: str) -> dict[str, Any]:
        return _simple(self.name(login), self.users.get(login, 0))


class GitHubEmulator(ServedEmulator):
    provider = "github"
    token_env = "SWEEPER_GITHUB_TOKEN"

    def __init__(self, scenario: Scenario, faults: Faults | None = None) -> None:
        self.state = GitHub(scenario)
        self.offset = 0.0
        self.rate_limit: int | None = scenario.get("rate_limit")
        self.rate_window = 3600.0  # seconds from one x-ratelimit-reset to the next
        self._used = 0
        self._reset = time.time() + self.rate_window
        self._secondary = (0, 0.0)
        self.removed: list[str] = []  # "org/login" per removal that took effect
        self.server = EmulatorServer(self.handle, lambda status, reason: error(status, reason), faults)

    # -- the emulator's controls --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def token(self) -> str:
        return self.state.token

    def config(self) -> dict[str, Any]:
        return {"orgs": sorted(o["login"] for o in self.state.orgs.values()), "endpoint": self.base_url,
                "auth": "token", "token_env": self.token_env}

    def env(self) -> dict[str, str]:
        return {self.token_env: self.token}

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def secondary(self, count: int, retry_after: float = 0.0) -> None:
        """The next `count` requests are refused as a secondary rate limit (with retry-after when > 0)."""
        self._secondary = (count, retry_after)

    def members(self, org: str) -> dict[str, str]:
        with self.state.lock:
            return dict(self.state.orgs[org.lower()]["members"])

    def pending(self, org: str) -> dict[str, str]:
        with self.state.lock:
            return dict(self.state.orgs[org.lower()]["pending"])

    def team_members(self, org: str, slug: str) -> dict[str, str]:
        with self.state.lock:
            team = next(t for t in self.state.orgs[org.lower()]["teams"] if t["slug"] == slug)
            return dict(team["members"])

    # -- serving ------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        limited = self._limits()
        if limited is not None:
            return limited
        resp = self._route(req)
        resp.headers.update(self._rate_headers())
        return resp

    def _rate_headers(self) -> dict[str, str]:
        limit = self.rate_limit or 5000
        return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(max(0, limit - self._used)),
                "x-ratelimit-used": str(self._used), "x-ratelimit-reset": str(int(self._reset)),
                "x-ratelimit-resource": "core"}

    def _limits(self) -> Response | None:
        with self.state.lock:
            count, wait = self._secondary
            if count > 0:
                self._secondary = (count - 1, wait)
                resp = error(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                                  "try again.")
                if wait:
                    resp.headers["retry-after"] = f"{wait:g}"
                return resp
            if self.now() >= self._reset:
                self._used, self._reset = 0, self.now() + self.rate_window
            if self.rate_limit is not None and self._used >= self.rate_limit:
                resp = error(403, "API rate limit exceeded for user ID 1.")
                resp.headers.update(self._rate_headers())
                return resp
            self._used += 1
        return None

    def _who(self, req: Request) -> tuple[str, str | None] | None:
        """("user", None) for the token, ("installation", org) for an installation token, else None."""
        token = bearer_token(req)
        if token == self.state.token:
            return "user", None
        held = self.state.installation_tokens.get(token or "")
        if held is not None and held[1] > self.now():
            return "installation", held[0]
        return None

    def _jwt_ok(self, req: Request) -> bool:
        app = self.state.app
        if not app:
            return False
        import jwt as pyjwt

        try:
            claims = pyjwt.decode(bearer_token(req) or "", app["public_key"], algorithms=["RS256"],
                                  options={"verify_iat": False})
        except pyjwt.PyJWTError:
            return False
        return str(claims.get("iss")) == str(app["id"])

    def _route(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        s = self.state
        if parts[:1] == ["app"]:
            return self._app(req, parts)
        if len(parts) == 3 and parts[0] == "orgs" and parts[2] == "installation":
            if not self._jwt_ok(req):
                return error(401, "A JSON web token could not be decoded")
            app = s.app or {}
            installation = app.get("installations", {}).get(parts[1].lower())
            if installation is None:
                return error(404, "Not Found")
            return Response.json(200, {"id": installation, "account": {"login": parts[1]}, "app_id": app["id"]})
        who = self._who(req)
        if who is None:
            return error(401, "Bad credentials")
        kind, scope = who
        if parts == ["user"]:
            if kind == "installation":
                return error(403, "Resource not accessible by integration")
            return Response.json(200, _simple(*s.me))
        if len(parts) == 2 and parts[0] == "user":
            login = s.logins.get(int(parts[1])) if parts[1].isdigit() else None
            return Response.json(200, s.user(login)) if login else error(404, "Not Found")
        if len(parts) < 2 or parts[0] != "orgs":
            return error(404, "Not Found")
        with s.lock:
            org = s.orgs.get(parts[1].lower())
            if org is None or (kind == "installation" and scope != parts[1].lower()):
                return error(404, "Not Found")
            return self._org(req, org, parts[2:], kind)

    def _app(self, req: Request, parts: list[str]) -> Response:
        if not self._jwt_ok(req):
            return error(401, "A JSON web token could not be decoded")
        app = self.state.app or {}
        if parts == ["app"]:
            return Response.json(200, {"id": app["id"], "slug": app.get("slug", "sweeper"), "name": app.get("slug")})
        if len(parts) == 4 and parts[1] == "installations" and parts[3] == "access_tokens" and req.method == "POST":
            org = next((o for o, i in app.get("installations", {}).items() if str(i) == parts[2]), None)
            if org is None:
                return error(404, "Not Found")
            token = f"ghs_{secrets.token_hex(18)}"
            expires = self.now() + 3600
            self.state.installation_tokens[token] = (org.lower(), expires)
            return Response.json(201, {"token": token, "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                   time.gmtime(expires)),
                                       "permissions": {"members": "write", "organization_administration": "read"},
                                       "repository_selection": "all"})
        return error(404, "Not Found")

    def _org(self, req: Request, org: dict[str, Any], rest: list[str], kind: str) -> Response:
        s = self.state
        if not rest:
            return Response.json(200, {"login": org["login"], "id": org.get("id", 1), "node_id": "O_1",
                                       "url": f"https://api.github.com/orgs/{org['login']}", "description": ""})
        head = rest[0]
        if head == "members" and len(rest) == 1:
            role = req.arg("role", "all")
            people = [s.user(login) for login, r in org["members"].items() if role == "all" or r == role]
            if role in ("all", "member"):
                people = list(org.get("raw_members", ())) + people
            return self._paged(req, people)
        if head == "outside_collaborators":
            return self._paged(req, [s.user(login) for login in org["outside_collaborators"]])
        if head == "memberships" and len(rest) == 2:
            return self._membership(req, org, rest[1].lower())
        if head == "teams":
            return self._teams(req, org, rest[1:])
        if head == "audit-log":
            return self._audit(req, org)
        if head == "credential-authorizations":
            if kind == "installation":
                return error(403, "Resource not accessible by integration")
            found = org.get("credential_authorizations")
            return error(404, "Not Found") if found is None else self._paged(req, found)
        if rest == ["copilot", "billing", "seats"]:
            seats = org.get("copilot_seats")
            if seats is None:
                return error(404, "Copilot Business is not enabled for this organization")
            return self._paged(req, seats, wrap=lambda page: {"total_seats": len(seats), "seats": page})
        return error(404, "Not Found")

    def _membership(self, req: Request, org: dict[str, Any], login: str) -> Response:
        s = self.state
        if login not in s.users:
            return error(404, "Not Found")

        def body(role: str, state: str) -> Response:
            return Response.json(200, {"url": f"https://api.github.com/orgs/{org['login']}/memberships/{login}",
                                       "state": state, "role": role, "organization": {"login": org["login"]},
                                       "user": s.user(login)})
        if req.method == "GET":
            if login in org["members"]:
                return body(org["members"][login], "active")
            if login in org["pending"]:
                return body(org["pending"][login], "pending")
            return error(404, "Not Found")
        if req.method == "DELETE":
            found = login in org["members"] or login in org["pending"]
            org["members"].pop(login, None)
            org["pending"].pop(login, None)
            for team in org["teams"]:
                team["members"].pop(login, None)
                team.setdefault("pending", {}).pop(login, None)
            if found:
                self.removed.append(f"{org['login']}/{login}")
            return Response(204, b"", {}) if found else error(404, "Not Found")
        if req.method == "PUT":
            role = _role(req)
            if role not in ("admin", "member"):
                return error(422, "Validation Failed")
            if login in org["members"] or s.ghes:
                org["members"][login] = role
                for team in org["teams"]:  # a team membership waiting on the org membership takes effect
                    if login in team.get("pending", {}):
                        team["members"][login] = team["pending"].pop(login)
                return body(role, "active")
            org["pending"][login] = role
            return body(role, "pending")
        return error(404, "Not Found")

    def _teams(self, req: Request, org: dict[str, Any], rest: list[str]) -> Response:
        s = self.state
        teams = org["teams"]

        def shape(t: dict[str, Any]) -> dict[str, Any]:
            parent = next((p for p in teams if p["slug"] == t.get("parent")), None)
            return {"id": t.get("id", 0), "node_id": f"T_{t.get('id', 0)}", "slug": t["slug"],
                    "name": t.get("name", t["slug"]), "privacy": "closed", "permission": "pull",
                    "parent": None if parent is None else {"id": parent.get("id", 0), "slug": parent["slug"],
                                                           "name": parent.get("name", parent["slug"])}}
        if not rest:
            return self._paged(req, [shape(t) for t in teams])
        team = next((t for t in teams if t["slug"] == rest[0]), None)
        if team is None:
            return error(404, "Not Found")
        if len(rest) == 1:
            return Response.json(200, shape(team))
        if rest[1:] == ["members"]:
            role = req.arg("role", "all")
            found: dict[str, str] = {}
            for t in self._descendants(teams, team):
                for login, r in t["members"].items():
                    if role == "all" or r == role:
                        found.setdefault(login, r)
            return self._paged(req, [s.user(login) for login in found])
        if len(rest) == 3 and rest[1] == "memberships" and req.method == "PUT":
            login = rest[2].lower()
            if login not in s.users:
                return error(404, "Not Found")
            team_role = _role(req)
            if team_role not in ("member", "maintainer"):
                return error(422, "Validation Failed")
            if login in org["members"]:
                team["members"][login] = team_role
                state = "active"
            else:
                team.setdefault("pending", {})[login] = team_role
                state = "pending"
            return Response.json(200, {"url": f"https://api.github.com/teams/{team.get('id', 0)}/memberships/{login}",
                                       "role": team_role, "state": state})
        return error(404, "Not Found")

    def _descendants(self, teams: list[dict[str, Any]], team: dict[str, Any]) -> list[dict[str, Any]]:
        found, todo = [], [team]
        while todo:
            t = todo.pop()
            found.append(t)
            todo += [c for c in teams if c.get("parent") == t["slug"]]
        return found

    def _audit(self, req: Request, org: dict[str, Any]) -> Response:
        status = org.get("audit_log_status")
        events = org.get("audit_log")
        if events is None or status:
            return error(int(status or 404), "Not Found" if int(status or 404) == 404 else
                         "Must have admin rights to Repository.")
        include = req.arg("include", "web")
        since = _CREATED.search(req.arg("phrase", "") or "")
        floor = calendar.timegm(time.strptime(since.group(1), "%Y-%m-%d")) * 1000 if since else None
        picked = []
        for e in events:
            git = isinstance(e, dict) and str(e.get("action", "")).startswith("git.")
            if include == "web" and git or include == "git" and not git:
                continue
            stamp = e.get("@timestamp") if isinstance(e, dict) else None
            if floor is not None and isinstance(stamp, (int, float)) and stamp < floor:
                continue
            picked.append(e)
        picked.sort(key=lambda e: e.get("@timestamp") if isinstance(e.get("@timestamp"), (int, float)) else 0,
                    reverse=req.arg("order", "desc") != "asc")
        per_page = min(100, int(req.arg("per_page", "30") or 30))
        after = req.arg("after")
        start = int(base64.urlsafe_b64decode(after.encode()).decode()) if after else 0
        page = picked[start:start + per_page]
        headers = {}
        if start + per_page < len(picked):
            cursor = base64.urlsafe_b64encode(str(start + per_page).encode()).decode()
            query = {k: v[0] for k, v in req.query.items() if k not in ("after", "before")}
            query["after"] = cursor
            headers["Link"] = f'<{self.base_url}{req.path}?{urlencode(query, quote_via=quote)}>; rel="next"'
        return Response.json(200, page, headers)

    def _paged(self, req: Request, items: list[Any], wrap: Any = None) -> Response:
        per_page = max(1, min(100, int(req.arg("per_page", "30") or 30)))
        page = max(1, int(req.arg("page", "1") or 1))
        chunk = items[(page - 1) * per_page:page * per_page]
        headers = {}
        if page * per_page < len(items):
            query = {k: v[0] for k, v in req.query.items() if k != "page"}
            query["page"] = str(page + 1)
            last = {**query, "page": str((len(items) + per_page - 1) // per_page)}
            headers["Link"] = (f'<{self.base_url}{req.path}?{urlencode(query)}>; rel="next", '
                               f'<{self.base_url}{req.path}?{urlencode(last)}>; rel="last"')
        return Response.json(200, wrap(chunk) if wrap else chunk, headers)


EMULATOR = GitHubEmulator


def start(scenario: Scenario, faults: Faults | None = None) -> GitHubEmulator:
    return GitHubEmulator(scenario, faults).start()

