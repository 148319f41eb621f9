"""A local Microsoft Graph for tests and `sweeper demo`: users, sign-in activity, roles, groups, `$batch`.

It answers in Graph's shapes (`@odata.nextLink` with `$skiptoken`, `{"error": {"code", "message",
"innerError"}}`, JSON batch `responses`) and enforces the limits the adapter must respect: `$top` at
most 999 (500 with signInActivity), 20 requests per batch, relative URLs inside a batch, a bearer token.
Pages are served by slicing the user list and joining per-user JSON that is serialised once per
`$select` (invalidated on PATCH), so 100,000 users cost no quadratic work.

Besides `Faults` (throttling, outages), it can play a broken or hostile Graph (`Hostile`, scenario key
"hostile" or `set_hostile`): a next-page link that keeps coming back, an answer dripped one
byte at a time, an oversized answer, a listing that repeats a user, a redirect to another server.
The tenant's id and verified domains are scenario settings ("tenant_id", "domains"): `GET
/organization` answers them. PIM role eligibilities ("role_eligibilities": principalId and
roleDefinitionId, optionally startDateTime, endDateTime, memberType) are served by `GET
/roleManagement/directory/roleEligibilityScheduleInstances` in Graph's shape, paged; a tenant without
PIM ("pim_licensed": false) answers what Graph answers there, HTTP 400 `AadPremiumLicenseRequired`
(or "pim_refusal_status", e.g. 403).

Deleted items (#13): `DELETE /users/{id}` moves a user to the tenant's deleted items with its
`deletedDateTime` (the emulator's clock: real UTC time); `GET /directory/deletedItems/{id}` reads it,
`GET /directory/deletedItems/microsoft.graph.user` lists them, and `POST
/directory/deletedItems/{id}/restore` brings it back as it was (200 with the user), or answers 400 when
its userPrincipalName is taken meanwhile. Past the window ("deleted_items_days", 30) or once purged
(`GraphEmulator.purge`, so that tests need not wait) an item is gone: 404 Request_ResourceNotFound, as
Graph answers. Scenario "deleted_users" seeds users already deleted (each with its "deletedDateTime", and the
userPrincipalName Graph shows for a deleted user, prefixed by its object id without dashes:
`providers.entra.scenario.deleted_user`). The directory audit log ("directory_audits", #25) is served by
`GET /auditLogs/directoryAudits` (`providers.entra.emulator_audit`).
Without the permission ("delete" in "denied": User.DeleteRestore.All) both writes answer 403.

The oddities of the real service are played too: a licensed tenant whose signInActivity is refused
now and then ("licence_flaps", "licence_refused_from_page", `refuse_licence`), batch items that run in
no promised order (`GraphApp.batch_order`; `dependsOn` orders them in the patterns Graph supports, a
failed dependency answers 424), item errors of any shape, an empty code included (`fail_batch_items`),
and what was done to whom, in order (`GraphState.events`). Fractional Retry-After values come from
`Faults.retry_after`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

from providers.emulator import Emulator, ServedEmulator, EmulatorServer, Faults, Request, Response, Scenario, bearer_token
from providers.emulator import load_scenario  # noqa: F401  (still importable from here)
from providers.entra import emulator_audit
from providers.entra.emulator_apps import MachineRoutes, MachineState, Refused, patch_changes

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
MAX_TOP = 999
MAX_TOP_SIGNIN = 500
MAX_BATCH = 20
DEFAULT_TOP = 100
# What GET /users answers without $select ("List users": "By default, only a limited set of properties
# are returned"), and every user property the emulator serves; `$select` of any other name is refused as
# Graph refuses a name its user type does not have. tests/providers/entra/test_entra_definitions.py
# checks both against msgraph-sdk's generated User model.
USER_DEFAULT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                "preferredLanguage", "surname", "userPrincipalName", "id")
USER_PROPERTIES = frozenset(USER_DEFAULT + ("accountEnabled", "userType", "createdDateTime", "onPremisesSyncEnabled",
                                            "externalUserState", "signInActivity", "proxyAddresses",
                                            "deletedDateTime"))  # directoryObject's, read on deleted items
# built-in directory role templates (a scenario's "role_definitions" adds or renames)
ROLE_NAMES = {"62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
              "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
              "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
              "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator"}
UNLICENSED = ("Authentication_RequestFromNonPremiumTenantOrB2CTenant",
              "Neither tenant is B2C or tenant doesn't have premium license")
PIM_UNLICENSED = ("AadPremiumLicenseRequired",
                  "The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license.")
_INJECTED = {429: ("TooManyRequests", "Too many requests. Retry after the time in Retry-After."),
             503: ("serviceNotAvailable", "The service is temporarily unavailable."),
             500: ("generalException", "An unexpected error occurred.")}


def error(status: int, code: str, message: str, client_request_id: str | None = None,
          headers: dict[str, str] | None = None) -> Response:
    """A Graph error response with its `innerError` block."""
    rid = str(uuid.uuid4())
    inner = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": rid,
             "client-request-id": client_request_id or rid}
    return Response(status, json.dumps({"error": {"code": code, "message": message, "innerError": inner}}).encode(),
                    {"Content-Type": JSON_TYPE, "request-id": rid, **(headers or {})})


def _injected_error(status: int, reason: str) -> Response:
    code, message = _INJECTED.get(status, (reason, reason))
    return error(status, code, message)


def _skiptoken(offset: int) -> str:
    # Opaque to clients, like Graph's: they must follow @odata.nextLink as given.
    return "RFNwdAIA" + base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int | None:
    try:
        raw = token[8:] + "=" * (-len(token[8:]) % 4)
        kind, _, value = base64.urlsafe_b64decode(raw).decode().partition(":")
        return int(value) if kind == "o" and token.startswith("RFNwdAIA") else None
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class Hostile:
    """A broken or hostile Graph, for the adapter's bounds; nothing by default.

    Each misbehaviour applies to requests whose "METHOD /v1.0/path" contains one of `only` (the users
    listing unless told otherwise; "GET /v1.0/users" also matches single users).
    """

    repeat_next_link: bool = False  # each page's @odata.nextLink leads to the second page: the listing never ends
    drip_seconds: float = 0.0  # the body leaves one byte at a time, this many seconds apart
    pad_bytes: int = 0  # this much whitespace after the JSON: valid, just large
    duplicate_ids: bool = False  # each page ends with its first user again
    redirect_to: str | None = None  # answer `redirect_status` with Location: this base URL + the request's path
    redirect_status: int = 307
    only: tuple[str, ...] = ("GET /v1.0/users",)

    def matches(self, method: str, path: str) -> bool:
        line = f"{method} {path}"
        return any(s in line for s in self.only)

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> "Hostile":
        """From a scenario's "hostile" object (lists for `only` allowed)."""
        raw = dict(raw or {})
        if "only" in raw:
            raw["only"] = tuple(raw["only"])
        return cls(**raw)


class _Drip:
    """The handler's socket writer: the headers leave whole, then the body one byte at a time."""

    def __init__(self, raw: BinaryIO, seconds: float, stopping: threading.Event) -> None:
        self.raw = raw
        self.seconds = seconds
        self.stopping = stopping
        self.headers_sent = False

    def write(self, data: bytes) -> int:
        if not self.headers_sent:
            self.headers_sent = True
            return self.raw.write(data)
        for i in range(len(data)):
            if self.stopping.wait(self.seconds):
                raise BrokenPipeError("emulator stopped")
            self.raw.write(data[i:i + 1])
            self.raw.flush()
        return len(data)

    def flush(self) -> None:
        self.raw.flush()


class _Invalid(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = error(status, code, message)


def _parse_filter(text: str) -> list[tuple[str, object]]:
    """`a eq 'x' and b eq true`: the only $filter form the emulator knows (equality, `and`)."""
    clauses: list[tuple[str, object]] = []
    for part in text.split(" and "):
        field, op, value = (part.strip().split(" ", 2) + ["", ""])[:3]
        if op != "eq" or not field or not value:
            raise _Invalid(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause: {part}")
        if value in ("true", "false"):
            clauses.append((field, value == "true"))
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            clauses.append((field, value[1:-1].replace("''", "'")))
        else:
            raise _Invalid(400, "BadRequest", f"Invalid filter clause: {part}")
    return clauses


class GraphState:
    """The tenant: users in listing order, role assignments, groups, and what was done to them."""

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.tenant_id = str(scenario.get("tenant_id") or uuid.uuid4())
        self.domains = [str(d) for d in scenario.get("domains", ("example.test",))]
        self.token = str(scenario["token"])
        self.licensed = bool(scenario.get("licensed", True))
        # A licensed tenant refused now and then (what licensed tenants report): the next `licence_flaps`
        # requests for signInActivity answer the no-licence 403, and so does every users page from page
        # `licence_refused_from_page` on (1 is the first page).
        self.licence_flaps = int(scenario.get("licence_flaps", 0))
        self.licence_refused_from_page: int | None = scenario.get("licence_refused_from_page")
        # Permissions the app lacks: "users", "signInActivity", "roleAssignments", "roleEligibility", "groups",
        # "write", "delete" (User.DeleteRestore.All: delete users and restore them from deleted items)
        self.denied = set(scenario.get("denied", ()))
        self.users: list[dict[str, Any]] = [dict(u) for u in scenario.get("users", ())]
        self.index = {u["id"]: i for i, u in enumerate(self.users) if "id" in u}
        self.by_upn = {str(u.get("userPrincipalName", "")).lower(): i for i, u in enumerate(self.users)}
        self.role_assignments = [dict(a) for a in scenario.get("role_assignments", ())]
        self.role_eligibilities = [dict(a) for a in scenario.get("role_eligibilities", ())]
        self.role_names = {**ROLE_NAMES, **dict(scenario.get("role_definitions", {}))}
        self.pim_licensed = bool(scenario.get("pim_licensed", True))
        self.pim_refusal_status = int(scenario.get("pim_refusal_status", 400))
        self.groups: dict[str, list[str]] = {g: list(m) for g, m in scenario.get("groups", {}).items()}
        self.patches: Counter[str] = Counter()
        self.revoked: Counter[str] = Counter()
        # deleted items: user id -> the user as deleted, with its deletedDateTime; restorable within the window
        self.deleted: dict[str, dict[str, Any]] = {str(u["id"]): dict(u) for u in scenario.get("deleted_users", ())}
        self.deleted_days = float(scenario.get("deleted_items_days", 30))
        self.deletes: Counter[str] = Counter()  # user id -> DELETE /users that took effect
        # the directory audit log (#25): raw directoryAudit records (`providers.entra.emulator_audit`)
        self.audits: list[dict[str, Any]] = [dict(a) for a in scenario.get("directory_audits", ())]
        self.restores: Counter[str] = Counter()  # user id -> restores that took effect
        self.events: list[tuple[str, str]] = []  # ("disable" | "enable" | "revoke", user id), in the order done
        self.lock = threading.Lock()
        self._cache: dict[tuple[str, ...], list[bytes | None]] = {}
        self._filtered: dict[str, list[int]] = {}
        # service principals, applications and the beta reports (#17): providers.entra.emulator_apps
        self.machines = MachineState(scenario, self.denied, self._user_by_id, self.lock)

    def _user_by_id(self, uid: str) -> dict[str, Any] | None:
        """A user by id, for owners expanded on applications (lock held by the caller)."""
        i = self.index.get(uid)
        return self.users[i] if i is not None else None

    def find(self, key: str) -> int | None:
        i = self.index.get(key)
        return i if i is not None else self.by_upn.get(key.lower())

    def serialised(self, select: tuple[str, ...], start: int, stop: int, rows: list[int] | None) -> list[bytes]:
        """Per-user JSON for `select`, built once and reused until the user changes."""
        with self.lock:
            cache = self._cache.setdefault(select, [None] * len(self.users))
            out = []
            for pos in range(start, stop):
                i = rows[pos] if rows is not None else pos
                blob = cache[i]
                if blob is None:
                    user = self.users[i]
                    if select == USER_DEFAULT:  # every default property, null (or []) when it has no value
                        view = {k: user.get(k, [] if k == "businessPhones" else None) for k in select}
                    else:
                        view = {k: user[k] for k in select if k in user}
                    blob = cache[i] = json.dumps(view, separators=(",", ":")).encode()
                out.append(blob)
            return out

    def rows(self, filter_text: str) -> list[int]:
        with self.lock:
            rows = self._filtered.get(filter_text)
            if rows is None:
                clauses = _parse_filter(filter_text)
                rows = [i for i, u in enumerate(self.users) if all(u.get(f) == v for f, v in clauses)]
                self._filtered[filter_text] = rows
            return rows

    def update(self, i: int, changes: dict[str, Any]) -> None:
        with self.lock:
            self.users[i].update(changes)
            for cache in self._cache.values():
                cache[i] = None
            self._filtered.clear()

    def _reindex(self) -> None:
        """After users were removed or added: positions, lookups and every cache anew (lock held)."""
        self.index = {u["id"]: i for i, u in enumerate(self.users) if "id" in u}
        self.by_upn = {str(u.get("userPrincipalName", "")).lower(): i for i, u in enumerate(self.users)}
        self._cache.clear()
        self._filtered.clear()

    def delete(self, i: int) -> None:
        """Move user `i` to deleted items, stamped now."""
        with self.lock:
            user = self.users.pop(i)
            user["deletedDateTime"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.deleted[str(user["id"])] = user
            self.deletes[str(user["id"])] += 1
            self._reindex()

    def deleted_item(self, item_id: str) -> dict[str, Any] | None:
        """A deleted user still within the window (one past it is purged now), else None."""
        with self.lock:
            user = self.deleted.get(item_id)
            if user is None:
                return None
            when = str(user.get("deletedDateTime") or "")
            try:
                at = datetime.fromisoformat(when.replace("Z", "+00:00"))
            except ValueError:
                at = datetime.now(timezone.utc)
            if datetime.now(timezone.utc) - at > timedelta(days=self.deleted_days):
                del self.deleted[item_id]  # permanently deleted, as Graph does after 30 days
                return None
            return dict(user)

    def restore(self, item_id: str) -> dict[str, Any] | None:
        """Bring a deleted user back as it was; None when it is not in deleted items. Raises _Invalid
        when its userPrincipalName belongs to another user now."""
        if self.deleted_item(item_id) is None:
            return None
        with self.lock:
            user = self.deleted[item_id]
            if str(user.get("userPrincipalName", "")).lower() in self.by_upn:
                raise _Invalid(400, "Request_BadRequest", "Another object with the same value for property "
                               "userPrincipalName already exists.")
            del self.deleted[item_id]
            user.pop("deletedDateTime", None)
            self.users.append(user)
            self.restores[item_id] += 1
            self._reindex()
            return dict(user)

    def transitive(self, group_id: str) -> list[str]:
        """Members of a group and of every group nested in it, each once, groups included."""
        seen: dict[str, None] = {}
        stack = list(reversed(self.groups.get(group_id, [])))
        while stack:
            member = stack.pop()
            if member in seen or member == group_id:
                continue
            seen[member] = None
            stack.extend(reversed(self.groups.get(member, [])))
        return list(seen)


class GraphApp:
    """Routes one request (already past fault injection) to the tenant state."""

    def __init__(self, state: GraphState) -> None:
        self.state = state
        self.base = ""  # http://127.0.0.1:PORT, set once the server has its port
        self.item_faults = Faults()
        self._item_rng_lock = threading.Lock()
        self._item_rng = random.Random(0)
        self.item_injected: Counter[int] = Counter()  # status -> batch items answered by fault injection
        # "METHOD /path" of a batch item -> the error it is answered with (status, code, message), e.g. an
        # error whose code Graph left empty
        self.item_errors: dict[str, tuple[int, str, str]] = {}
        # The order a batch's independent items run in: Graph promises none ("shuffled", seeded),
        # or "listed", or "reversed". Items with dependsOn run after what they depend on.
        self.batch_order = "shuffled"
        self._order_rng = random.Random(1)
        # every (method, path, query) asked, each once: what a client selects and expands, for the
        # definition cross-check (tests/providers/entra/test_entra_definitions.py)
        self.asked: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
        self.hostile = Hostile()
        self.machines = MachineRoutes(state.machines, lambda: self.base)

    def __call__(self, req: Request) -> Response:
        hostile = self.hostile
        if hostile.redirect_to and hostile.matches(req.method, req.path):
            query = "&".join(f"{quote(k, safe='$')}={quote(v, safe=',$')}" for k, vs in req.query.items() for v in vs)
            target = hostile.redirect_to.rstrip("/") + req.path + (f"?{query}" if query else "")
            return Response(hostile.redirect_status, b"", {"Location": target})
        resp = self._answer(req)
        if hostile.matches(req.method, req.path) and resp.status == 200:
            resp = self._misbehave(req, resp, hostile)
        return resp

    def _misbehave(self, req: Request, resp: Response, hostile: Hostile) -> Response:
        """The answer as a hostile Graph would send it (see `Hostile`)."""
        if hostile.repeat_next_link or hostile.duplicate_ids:
            page = json.loads(resp.body)
            if hostile.repeat_next_link:  # every page links to the second page, the second to itself
                keep = {k: vs[0] for k, vs in req.query.items() if vs and k != "$skiptoken"}
                second = int(keep["$top"]) if keep.get("$top", "").isdigit() else DEFAULT_TOP
                query = "".join(f"{k}={quote(v, safe=',$')}&" for k, v in keep.items())
                page["@odata.nextLink"] = f"{self.base}{req.path}?{query}$skiptoken={_skiptoken(second)}"
            if hostile.duplicate_ids and page.get("value"):
                page["value"].append(page["value"][0])
            resp = Response(resp.status, json.dumps(page).encode(), resp.headers)
        if hostile.pad_bytes:
            resp = Response(resp.status, resp.body + b" " * hostile.pad_bytes, resp.headers)
        return resp

    def _answer(self, req: Request) -> Response:
        if bearer_token(req) is None:
            return error(401, "InvalidAuthenticationToken", "Access token is empty.")
        if bearer_token(req) != self.state.token:
            return error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        path = unquote(req.path)
        self.asked.add((req.method, path, tuple(sorted((k, v[0]) for k, v in req.query.items() if v))))
        beta = path.startswith("/beta/reports/")  # the only beta requests served: the two reports (#17)
        if not path.startswith("/v1.0/") and not beta:
            return error(400, "BadRequest", f"Invalid version: {path.split('/')[1] if '/' in path else path}")
        try:
            resp = self.route(req.method, path[5:], req.query, req.body, req.headers, "beta" if beta else "v1.0")
        except _Invalid as err:
            resp = err.response
        rid = req.headers.get("client-request-id")
        if rid:
            resp.headers["client-request-id"] = rid
        return resp

    def route(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
              headers: dict[str, str], version: str = "v1.0") -> Response:
        parts = [p for p in path.split("/") if p]
        arg = {k: v[0] for k, v in query.items() if v}
        try:
            machine = self.machines.route(method, version, parts, arg, body)
        except Refused as err:
            return error(err.status, err.code, err.message)
        if machine is not None:
            status, payload = machine
            return self.json(status, payload) if payload is not None else Response(status, b"", {})
        if version != "v1.0":
            return error(400, "BadRequest", f"Resource not found for the segment '{parts[-1] if parts else ''}'.")
        if method == "POST" and parts == ["$batch"]:
            return self.batch(body)
        if method == "GET" and parts == ["users"]:
            return self.list_users(arg)
        if method == "GET" and parts == ["organization"]:
            return self.json(200, {"@odata.context": f"{self.base}/v1.0/$metadata#organization",
                                   "value": [{"id": self.state.tenant_id, "displayName": "Emulated tenant",
                                              "verifiedDomains": [{"name": d, "isDefault": n == 0} for n, d
                                                                  in enumerate(self.state.domains)]}]})
        if method == "GET" and parts == ["roleManagement", "directory", "roleAssignments"]:
            return self.role_assignments(arg)
        if method == "GET" and parts == ["roleManagement", "directory", "roleEligibilityScheduleInstances"]:
            return self.role_eligibilities(arg)
        if method == "GET" and len(parts) == 3 and parts[0] == "groups" and parts[2] == "transitiveMembers":
            return self.transitive_members(parts[1], arg)
        if len(parts) == 2 and parts[0] == "users" and method in ("GET", "PATCH"):
            return self.get_user(parts[1], arg) if method == "GET" else self.patch_user(parts[1], body, headers)
        if len(parts) == 2 and parts[0] == "users" and method == "DELETE":
            return self.delete_user(parts[1])
        if method == "GET" and parts == ["auditLogs", "directoryAudits"]:
            return self.directory_audits(arg)
        if parts[:2] == ["directory", "deletedItems"] and len(parts) in (3, 4):
            return self.deleted_items(method, parts[2:], arg)
        if method == "POST" and len(parts) == 3 and parts[0] == "users" and parts[2] == "revokeSignInSessions":
            return self.revoke(parts[1])
        return error(400, "BadRequest", f"Resource not found for the segment '{parts[-1] if parts else ''}'.")

    def json(self, status: int, payload: object) -> Response:
        return Response(status, json.dumps(payload).encode(), {"Content-Type": JSON_TYPE})

    def _select(self, arg: dict[str, str]) -> tuple[str, ...]:
        select = tuple(s.strip() for s in arg.get("$select", "").split(",") if s.strip()) or USER_DEFAULT
        for name in select:
            if name not in USER_PROPERTIES:
                raise _Invalid(400, "Request_BadRequest",
                               f"Could not find a property named '{name}' on type 'Microsoft.DirectoryServices.User'.")
        if "users" in self.state.denied:
            raise _Invalid(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if "signInActivity" in select and (not self.state.licensed or self._flap()):
            raise _Invalid(403, *UNLICENSED)
        if "signInActivity" in select and "signInActivity" in self.state.denied:
            raise _Invalid(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        return select

    def _flap(self) -> bool:
        with self.state.lock:
            if self.state.licence_flaps <= 0:
                return False
            self.state.licence_flaps -= 1
            return True

    def _top(self, arg: dict[str, str], limit: int) -> int:
        raw = arg.get("$top")
        if raw is None:
            return DEFAULT_TOP
        if not raw.isdigit() or not 1 <= int(raw) <= limit:
            raise _Invalid(400, "Request_UnsupportedQuery",
                           f"Invalid page size specified: '{raw}'. Must be between 1 and {limit} inclusive.")
        return int(raw)

    def _page(self, path: str, arg: dict[str, str], total: int, top: int) -> tuple[int, int, str | None]:
        """Offsets of this page and the absolute nextLink (with the query it was asked with)."""
        start = 0
        if "$skiptoken" in arg:
            start = offset if (offset := _offset(arg["$skiptoken"])) is not None else -1
            if start < 0:
                raise _Invalid(400, "Directory_ExpiredPageToken", "The specified page token value has expired.")
        stop = min(total, start + top)
        if stop >= total:
            return start, stop, None
        keep = "&".join(f"{k}={quote(v, safe=',')}" for k, v in arg.items() if k != "$skiptoken")
        link = f"{self.base}/v1.0/{path}?{keep}{'&' if keep else ''}$skiptoken={_skiptoken(stop)}"
        return start, stop, link

    def list_users(self, arg: dict[str, str]) -> Response:
        select = self._select(arg)
        top = self._top(arg, MAX_TOP_SIGNIN if "signInActivity" in select else MAX_TOP)
        rows = self.state.rows(arg["$filter"]) if arg.get("$filter") else None
        total = len(rows) if rows is not None else len(self.state.users)
        start, stop, link = self._page("users", arg, total, top)
        refused = self.state.licence_refused_from_page
        if refused is not None and "signInActivity" in select and start // top + 1 >= refused:
            raise _Invalid(403, *UNLICENSED)
        blobs = self.state.serialised(select, start, stop, rows)
        context = f'"@odata.context":"{self.base}/v1.0/$metadata#users","value":['
        tail = b"]" + (f',"@odata.nextLink":{json.dumps(link)}'.encode() if link else b"") + b"}"
        return Response(200, b"{" + context.encode() + b",".join(blobs) + tail, {"Content-Type": JSON_TYPE})

    def _user(self, key: str) -> int:
        i = self.state.find(key)
        if i is None:
            raise _Invalid(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its "
                           "queried reference-property objects are not present.")
        return i

    def get_user(self, key: str, arg: dict[str, str]) -> Response:
        select = self._select(arg)
        i = self._user(key)
        [blob] = self.state.serialised(select, i, i + 1, None)
        context = f'{{"@odata.context":"{self.base}/v1.0/$metadata#users/$entity"'.encode()
        body = context + b"}" if blob == b"{}" else context + b"," + blob[1:]
        return Response(200, body, {"Content-Type": JSON_TYPE})

    def patch_user(self, key: str, body: bytes, headers: dict[str, str]) -> Response:
        if "write" in self.state.denied:
            raise _Invalid(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        try:
            changes = patch_changes(body)
        except Refused as err:
            raise _Invalid(err.status, err.code, err.message) from None
        i = self._user(key)
        self.state.update(i, changes)
        with self.state.lock:
            uid = self.state.users[i]["id"]
            self.state.patches[uid] += 1
            if "accountEnabled" in changes:
                self.state.events.append(("enable" if changes["accountEnabled"] else "disable", uid))
        return Response(204, b"", {})

    def delete_user(self, key: str) -> Response:
        """DELETE /users/{id | userPrincipalName}: into deleted items; 204."""
        if "delete" in self.state.denied:
            raise _Invalid(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        self.state.delete(self._user(key))
        return Response(204, b"", {})

    def deleted_items(self, method: str, rest: list[str], arg: dict[str, str]) -> Response:
        """GET /directory/deletedItems/{id}, GET .../microsoft.graph.user (the deleted users, paged) and
        POST .../{id}/restore."""
        missing = _Invalid(404, "Request_ResourceNotFound", f"Resource '{rest[0]}' does not exist or one of "
                           "its queried reference-property objects are not present.")
        if method == "GET" and rest == ["microsoft.graph.user"]:
            select = self._select(arg)
            with self.state.lock:
                ids = list(self.state.deleted)
            rows = [u for u in (self.state.deleted_item(i) for i in ids) if u is not None]
            rows = [{k: v for k, v in u.items() if not select or k in select or k in ("id", "deletedDateTime")}
                    for u in rows]
            return self._value_page("directory/deletedItems/microsoft.graph.user", arg, rows, "users")
        if method == "GET" and len(rest) == 1:
            select = self._select(arg)
            user = self.state.deleted_item(rest[0])
            if user is None:
                raise missing
            view = {k: v for k, v in user.items() if not select or k in select or k == "id"}
            return self.json(200, {"@odata.context": f"{self.base}/v1.0/$metadata#directoryObjects/$entity",
                                   "@odata.type": "#microsoft.graph.user", **view})
        if method == "POST" and len(rest) == 2 and rest[1] == "restore":
            if "delete" in self.state.denied:
                raise _Invalid(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            user = self.state.restore(rest[0])
            if user is None:
                raise missing
            return self.json(200, {"@odata.context": f"{self.base}/v1.0/$metadata#directoryObjects/$entity",
                                   "@odata.type": "#microsoft.graph.user", **user, "deletedDateTime": None})
        return error(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")

    def directory_audits(self, arg: dict[str, str]) -> Response:
        """GET /auditLogs/directoryAudits: the scenario's audit records, filtered, newest first, paged
        (`providers.entra.emulator_audit`); 403 without AuditLog.Read.All ("auditLogs" denied)."""
        if "auditLogs" in self.state.denied:
            raise _Invalid(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        try:
            with self.state.lock:
                rows = emulator_audit.rows(self.state.audits, arg.get("$filter", ""))
        except emulator_audit.BadFilter as err:
            raise _Invalid(400, "BadRequest", str(err)) from None
        return self._value_page("auditLogs/directoryAudits", arg, rows, "auditLogs/directoryAudits")

    def revoke(self, key: str) -> Response:
        i = self._user(key)
        with self.state.lock:
            uid = self.state.users[i]["id"]
            self.state.revoked[uid] += 1
            self.state.events.append(("revoke", uid))
        return self.json(200, {"@odata.context": f"{self.base}/v1.0/$metadata#Edm.Boolean", "value": True})

    def role_assignments(self, arg: dict[str, str]) -> Response:
        if "roleAssignments" in self.state.denied:
            raise _Invalid(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        rows = []
        for n, a in enumerate(self.state.role_assignments):
            row = {"id": a.get("id", f"ra-{n}"), "principalId": a["principalId"],
                   "roleDefinitionId": a["roleDefinitionId"], "directoryScopeId": a.get("directoryScopeId", "/")}
            if "principal" in arg.get("$expand", ""):
                kind = "group" if a["principalId"] in self.state.groups else \
                    "servicePrincipal" if self.state.machines.sp(a["principalId"]) else "user"
                row["principal"] = {"@odata.type": f"#microsoft.graph.{kind}", "id": a["principalId"]}
            rows.append(row)
        return self._value_page("roleManagement/directory/roleAssignments", arg, rows,
                                "roleManagement/directory/roleAssignments")

    def role_eligibilities(self, arg: dict[str, str]) -> Response:
        """Eligibility schedule instances as Graph lists them: `$select`, `$expand` of principal and
        roleDefinition, pages of `$top` (100 unless asked). No PIM licence: 400 AadPremiumLicenseRequired."""
        if not self.state.pim_licensed:
            raise _Invalid(self.state.pim_refusal_status, *PIM_UNLICENSED)
        if "roleEligibility" in self.state.denied:
            raise _Invalid(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        select = [s.strip() for s in arg.get("$select", "").split(",") if s.strip()]
        expand = [e.strip() for e in arg.get("$expand", "").split(",") if e.strip()]
        for name in expand:
            if name not in ("principal", "roleDefinition", "directoryScope", "appScope"):
                raise _Invalid(400, "BadRequest", f"Could not find a property named '{name}' on type "
                               "'microsoft.graph.unifiedRoleEligibilityScheduleInstance'.")
        rows = []
        for n, a in enumerate(self.state.role_eligibilities):
            pid, rid = a["principalId"], a["roleDefinitionId"]
            row: dict[str, Any] = {
                "id": a.get("id", f"eligibility{n:06d}-1-e"),
                "principalId": pid, "roleDefinitionId": rid, "directoryScopeId": a.get("directoryScopeId", "/"),
                "appScopeId": a.get("appScopeId"), "startDateTime": a.get("startDateTime", "2024-01-01T00:00:00Z"),
                "endDateTime": a.get("endDateTime"), "memberType": a.get("memberType", "Direct"),
                "roleEligibilityScheduleId": a.get("roleEligibilityScheduleId", f"schedule-{n}")}
            if select:
                row = {k: v for k, v in row.items() if k in select or k == "id"}
            if "principal" in expand:
                kind = "group" if pid in self.state.groups else "user"
                row["principal"] = {"@odata.type": f"#microsoft.graph.{kind}", "id": pid}
            if "roleDefinition" in expand:
                row["roleDefinition"] = {"id": rid, "templateId": rid, "isBuiltIn": rid in ROLE_NAMES,
                                         "displayName": self.state.role_names.get(rid, rid)}
            rows.append(row)
        path = "roleManagement/directory/roleEligibilityScheduleInstances"
        return self._value_page(path, arg, rows, path)

    def transitive_members(self, group_id: str, arg: dict[str, str]) -> Response:
        if "groups" in self.state.denied:
            raise _Invalid(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if group_id not in self.state.groups:
            raise _Invalid(404, "Request_ResourceNotFound", f"Resource '{group_id}' does not exist or one of its "
                           "queried reference-property objects are not present.")
        rows = [{"@odata.type": "#microsoft.graph.group" if m in self.state.groups else "#microsoft.graph.user",
                 "id": m} for m in self.state.transitive(group_id)]
        return self._value_page(f"groups/{group_id}/transitiveMembers", arg, rows, "directoryObjects")

    def _value_page(self, path: str, arg: dict[str, str], rows: list[dict[str, Any]], context: str) -> Response:
        start, stop, link = self._page(path, arg, len(rows), self._top(arg, MAX_TOP))
        payload: dict[str, Any] = {"@odata.context": f"{self.base}/v1.0/$metadata#{context}", "value": rows[start:stop]}
        if link:
            payload["@odata.nextLink"] = link
        return self.json(200, payload)

    # -- $batch ---------------------------------------------------------------------------------

    def batch(self, body: bytes) -> Response:
        """A JSON batch: items run in no promised order (`batch_order`), answered in the order they ran;
        `dependsOn` is honoured in the patterns Graph supports (all independent, one chain, or all on
        the same item), and an item whose dependency failed is answered 424."""
        try:
            payload = json.loads(body or b"null")
            requests = payload["requests"]
            assert isinstance(requests, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return error(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_BATCH:
            return error(400, "BadRequest", f"Number of batch request steps exceeds the maximum of {MAX_BATCH}.")
        ids = [str(r.get("id")) for r in requests if isinstance(r, dict)]
        if len(ids) != len(requests) or len(set(ids)) != len(ids):
            return error(400, "BadRequest", "Batch request ids must be present and unique.")
        try:
            order = self._batch_order(requests)
        except _Invalid as err:
            return err.response
        statuses: dict[str, int] = {}
        answers = []
        for item in order:
            rid = str(item["id"])
            failed = [d for d in item.get("dependsOn") or () if not 200 <= statuses[str(d)] < 300]
            if failed:
                resp = error(424, "FailedDependency", f"Request {rid} depends on request {failed[0]}, which failed.")
                answer = {"id": rid, "status": 424, "headers": {"Content-Type": JSON_TYPE},
                          "body": json.loads(resp.body)}
            else:
                answer = self.batch_item(item)
            statuses[rid] = answer["status"]
            answers.append(answer)
        return self.json(200, {"responses": answers})

    def _batch_order(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [str(r["id"]) for r in requests]
        deps = {str(r["id"]): [str(d) for d in r.get("dependsOn") or ()] for r in requests}
        for rid, on in deps.items():
            if any(d not in deps or d == rid for d in on):
                raise _Invalid(400, "BadRequest", f"Request {rid} depends on a request that is not in the batch.")
        if not any(deps.values()):
            order = list(requests)
            if self.batch_order == "reversed":
                order.reverse()
            elif self.batch_order == "shuffled":
                with self._item_rng_lock:
                    self._order_rng.shuffle(order)
            return order
        chain = not deps[ids[0]] and all(deps[ids[n]] == [ids[n - 1]] for n in range(1, len(ids)))
        if chain:
            return list(requests)
        targets = {tuple(on) for on in deps.values() if on}
        if len(targets) == 1 and len(next(iter(targets))) == 1:
            first = next(iter(targets))[0]
            return [r for r in requests if str(r["id"]) == first] + [r for r in requests if str(r["id"]) != first]
        raise _Invalid(400, "BadRequest", "dependsOn must make the batch's requests all independent, one chain, "
                       "or all depend on the same request.")

    def batch_item(self, item: dict[str, Any]) -> dict[str, Any]:
        rid, method, url = str(item["id"]), str(item.get("method", "")).upper(), str(item.get("url", ""))
        headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        if not url.startswith("/") or urlsplit(url).scheme:
            resp = error(400, "BadRequest", "Invalid request URI: batch request URLs must be relative.")
        elif "body" in item and "content-type" not in headers:
            resp = error(400, "BadRequest", f"Write request id : {rid} does not contain Content-Type header or body.")
        else:
            fault = self._item_fault(method, url)
            given = self.item_errors.get(f"{method} {unquote(urlsplit(url).path)}")
            if given:
                resp = error(*given)
            elif fault == 429:
                resp = error(429, *_INJECTED[429], headers={"Retry-After": f"{self.item_faults.retry_after:g}"})
            elif fault == 503:
                resp = error(503, *_INJECTED[503])
            else:
                parts = urlsplit(url)
                body = json.dumps(item["body"]).encode() if "body" in item else b""
                try:
                    resp = self.route(method, unquote(parts.path), parse_qs(parts.query), body, headers)
                except _Invalid as err:
                    resp = err.response
        out: dict[str, Any] = {"id": rid, "status": resp.status,
                               "headers": {k: v for k, v in resp.headers.items() if k.lower() != "request-id"}}
        if resp.body:
            out["body"] = json.loads(resp.body)
        return out

    def _item_fault(self, method: str, url: str) -> int | None:
        f = self.item_faults
        if not (f.rate_429 or f.rate_503) or not f.matches(method, url):
            return None
        with self._item_rng_lock:
            roll = self._item_rng.random()
            status = 429 if roll < f.rate_429 else 503 if roll < f.rate_429 + f.rate_503 else None
            if status:
                self.item_injected[status] += 1
        return status


class GraphServer(EmulatorServer):
    """The emulator's HTTP server, able to drip an answer's body (`Hostile.drip_seconds`)."""

    def __init__(self, app: GraphApp, faults: Faults | None = None) -> None:
        self.graph = app
        self.stopping = threading.Event()  # ends a drip in progress when the emulator stops
        super().__init__(app, _injected_error, faults)

    def stop(self) -> None:
        self.stopping.set()
        super().stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        serve = getattr(base, "_serve")
        server = self

        def dripping(handler: BaseHTTPRequestHandler) -> None:
            hostile = server.graph.hostile
            if not hostile.drip_seconds or not hostile.matches(handler.command, urlsplit(handler.path).path):
                serve(handler)
                return
            raw = handler.wfile
            handler.wfile = cast(Any, _Drip(cast(BinaryIO, raw), hostile.drip_seconds, server.stopping))
            try:
                serve(handler)
            finally:
                handler.wfile = raw

        methods = {f"do_{m}": dripping for m in ("GET", "POST", "PATCH", "PUT", "DELETE")}
        return cast(type[BaseHTTPRequestHandler], type("GraphHandler", (base,), methods))


class GraphEmulator(ServedEmulator):
    """The emulator: `.endpoint` for the adapter's config, `.server` for counters and faults."""

    provider = "entra"
    token_env = "SWEEPER_ENTRA_TOKEN"  # the variable `config()` names and `env()` sets

    def __init__(self, scenario: Scenario, faults: Faults | None = None) -> None:
        self.state = GraphState(scenario)
        self.app = GraphApp(self.state)
        self.app.hostile = Hostile.of(scenario.get("hostile"))
        self.server = GraphServer(self.app, faults)
        self.app.base = self.server.base_url

    def config(self) -> dict[str, Any]:
        """The `[providers.entra]` keys that point the adapter here, with the token in `token_env`."""
        return {"tenant_id": self.tenant_id, "endpoint": self.endpoint, "auth": "access_token",
                "token_env": self.token_env}

    def env(self) -> dict[str, str]:
        return {self.token_env: self.token}

    @property
    def endpoint(self) -> str:
        return f"{self.server.base_url}/v1.0"

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def tenant_id(self) -> str:
        return self.state.tenant_id

    def set_item_faults(self, faults: Faults) -> None:
        """Faults for single requests inside `$batch` (per-item 429 with Retry-After, 503)."""
        with self.app._item_rng_lock:
            self.app.item_faults = faults
            self.app._item_rng = random.Random(faults.seed)

    def refuse_licence(self, times: int = 0, *, from_page: int | None = None) -> None:
        """Answer the no-licence 403 to the next `times` signInActivity requests, and (`from_page`) to
        every users page from that one on, although the tenant is licensed."""
        with self.state.lock:
            self.state.licence_flaps = times
            self.state.licence_refused_from_page = from_page

    def fail_batch_items(self, errors: dict[str, tuple[int, str, str]]) -> None:
        """Answer batch items whose "METHOD /path" (e.g. "PATCH /users/u1") is a key with that error
        (status, code, message); `{}` stops."""
        self.app.item_errors = dict(errors)

    def set_hostile(self, hostile: Hostile) -> None:
        """Misbehave from now on as `hostile` says (`Hostile()`: behave)."""
        self.app.hostile = hostile

    def service_principal(self, key: str) -> dict[str, Any]:
        """A copy of one service principal as stored (by object id). KeyError when missing."""
        found = self.state.machines.sp(key)
        if found is None:
            raise KeyError(key)
        return found

    def fail_report(self, report: str, refusal: Any) -> None:
        """Answer a beta report ("servicePrincipalSignInActivities" or "appCredentialSignInActivities") with
        403, "unlicensed", 404 or 400 from now on (`providers.entra.emulator_apps`); None serves it again."""
        self.state.machines.fail_report(report, refusal)

    def user(self, key: str) -> dict[str, Any]:
        """A copy of one user as stored (by id or userPrincipalName). KeyError when missing."""
        i = self.state.find(key)
        if i is None:
            raise KeyError(key)
        with self.state.lock:
            return dict(self.state.users[i])

    def enabled(self, key: str) -> bool:
        return bool(self.user(key).get("accountEnabled"))

    def deleted(self, key: str) -> dict[str, Any] | None:
        """A copy of one user in deleted items (by id or userPrincipalName), None when it is not there."""
        with self.state.lock:
            found = next((i for i, u in self.state.deleted.items()
                          if key in (i, str(u.get("userPrincipalName", "")).lower(), u.get("userPrincipalName"))),
                         None)
        return None if found is None else self.state.deleted_item(found)

    def purge(self, key: str) -> bool:
        """End a deleted user's window now (what 30 days, or a permanent delete, would do). True if it was there."""
        with self.state.lock:
            found = next((i for i, u in self.state.deleted.items()
                          if key in (i, str(u.get("userPrincipalName", "")).lower(), u.get("userPrincipalName"))),
                         None)
            if found is not None:
                del self.state.deleted[found]
        return found is not None


EMULATOR = GraphEmulator


def start(scenario: Scenario | str | Path, faults: Faults | None = None, latency_ms: float = 0) -> GraphEmulator:
    """Seed and start an emulator on a free loopback port."""
    faults = faults or Faults()
    if latency_ms:
        faults = dataclasses.replace(faults, latency_ms=latency_ms)
    return GraphEmulator.seeded(scenario, faults)
