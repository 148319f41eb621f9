"""A local Admin SDK Directory API (users, group members) for tests and `sweeper demo`.

Serves `users.list/get/update/patch/delete/undelete`, `members.list` and multipart `/batch` in the
real API's shapes, seeded from a scenario: {"customer_id", "domain", "token", "delegated_admin",
"readonly_tokens", "users": [raw Directory user objects], "deleted_users", "org_units", "reports": {...},
"groups": [...], "group_tokens", "audit": {...}}, groups and their (nested) members as `group_members` serves them
(paging, derived membership, 404 for unknown groups, 403 for tokens without the group scope), deleted users
as `recycle` keeps them (`showDeleted=true`, undelete, `purge`), and the Reports API's user usage
report from its "reports" section (`usage_reports`: lag, warnings, paging, a 403 mode), and the admin
audit log's activities from its "audit" section (`audit_reports`, #25: when users were suspended).
`delegated_admin` true makes suspending or deleting a super admin answer 403, as it does for a
delegated admin in a real tenant. Users are
served as given, malformed ones included; a user without `customerId` is served with the
scenario's, as the API does (`customer=my_customer` then tells a caller which customer it belongs
to). Paging scans forward from the page token's offset, so a full listing is O(N) whatever the
query. `ListingFaults` make the listing hostile (`listing_faults`) or the report's pages
(`report_faults`); `batch_ids` answers batches, after applying them, with part ids the client
cannot match (google-api-python-client #536).
"""

from __future__ import annotations

import base64
import json
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from providers.emulator import Emulator, ServedEmulator, EmulatorServer, Faults, Request, Response, Scenario, bearer_token
from providers.emulator import load_scenario  # noqa: F401  (still importable from here)
from providers.google_workspace import audit_reports, group_members, recycle, usage_reports, wire

USERS = "/admin/directory/v1/users"
BATCH_PATHS = ("/batch", "/batch/admin/directory_v1")
MAX_BATCH = 1000
_WRITABLE = {"suspended", "archived", "orgUnitPath", "name"}  # isAdmin is output only: an update's edit is ignored


@dataclass
class ItemFaults:
    """Faults for parts of a batch: each part is answered 429, 403 userRateLimitExceeded or 503
    with these probabilities. `max_per_user` caps the faults any one user key gets."""

    rate_429: float = 0.0
    rate_403: float = 0.0
    rate_503: float = 0.0
    max_per_user: int | None = None
    seed: int = 0


def _mangled(cid: str) -> str:
    """The part id of google-api-python-client #536: `response- <base+id>` (a space after `response-`,
    none around the `+`), which the client cannot read back."""
    return f"response- <{cid.replace(' + ', '+')}>"


def _foreign(cid: str) -> str:
    """A well-formed part id that names no request of the batch."""
    base, _, rid = cid.rpartition(" + ")
    return f"<response-{base} + other-{rid}>"


# Part ids a batch can be answered with after its changes were applied (`DirectoryEmulator.batch_ids`):
# "mangled" as in google-api-python-client #536, "foreign" naming other requests, "missing" the last part
# left out. The client cannot match any of them to its requests.
BATCH_IDS: dict[str, Callable[[str], str]] = {"mangled": _mangled, "foreign": _foreign, "missing": wire.response_id}


@dataclass
class ListingFaults:
    """Hostile answers to the listing's pages: users.list for more than one user (a one-user request,
    such as the adapter's binding probe, is answered normally).

    `repeat_token`: a page asked for with a token names that same token as the next page (a loop);
    `drip_seconds`: the answer leaves one byte at a time, this many seconds apart;
    `oversize_bytes`: the answer is padded with this many bytes of JSON whitespace;
    `duplicate_ids`: each page gives its first user twice;
    `redirect`: (status, location) answered instead, to list pages and to `/batch`;
    `foreign_customer`: the last user of each page carries this customerId.
    """

    repeat_token: bool = False
    drip_seconds: float = 0.0
    oversize_bytes: int = 0
    duplicate_ids: bool = False
    redirect: tuple[int, str] | None = None
    foreign_customer: str | None = None


class Directory:
    """The emulator's state: users in insertion order, indexed by id and primary email."""

    def __init__(self, scenario: dict[str, Any]) -> None:
        self.customer_id = str(scenario.get("customer_id", "C00000000"))
        self.domain = str(scenario.get("domain", "example.com"))
        self.token = str(scenario.get("token", "emulator-token"))
        self.readonly_tokens = set(scenario.get("readonly_tokens", ()))
        self.delegated_admin = bool(scenario.get("delegated_admin", False))
        self.users: list[Any] = [dict(u) if isinstance(u, dict) else u for u in scenario.get("users", [])]
        self.by_key: dict[str, dict[str, Any]] = {}
        for user in self.users:
            if isinstance(user, dict):
                for key in (user.get("id"), user.get("primaryEmail")):
                    if isinstance(key, str):
                        self.by_key[key.lower()] = user
        self.lock = threading.Lock()
        self.writes: Counter[str] = Counter()  # successful updates per user id
        self.reports = usage_reports.UsageReports(scenario.get("reports"), self.users, self.customer_id)
        self.recycle = recycle.Recycle(self, scenario)  # deleted users, until undeleted or purged
        self.groups = group_members.Groups(scenario, self.find, self.customer_id)
        self.audit = audit_reports.AuditLog(scenario.get("audit"), self.customer_id)  # admin activities (#25)

    def find(self, key: str) -> dict[str, Any] | None:
        return self.by_key.get(key.lower())


def _public(user: Any, customer_id: str) -> Any:
    if not isinstance(user, dict):
        return user
    return {"kind": "admin#directory#user", "customerId": customer_id, **user}


def _under(path: Any, unit: str) -> bool:
    if not isinstance(path, str):
        return False
    unit = unit.rstrip("/") or "/"
    return unit == "/" or path.lower() == unit.lower() or path.lower().startswith(unit.lower() + "/")


def _query(text: str) -> Callable[[Any], bool]:
    """Compile `isSuspended=true isAdmin=false orgUnitPath='/Sales'` into a predicate."""
    tests: list[Callable[..., bool]] = []
    for clause in _clauses(text):
        name, sep, value = clause.partition("=")
        value = value.strip("'\"")
        if not sep:
            raise ValueError(clause)
        if name in ("isSuspended", "isAdmin"):
            if value.lower() not in ("true", "false"):
                raise ValueError(clause)
            field, want = ("suspended" if name == "isSuspended" else "isAdmin"), value.lower() == "true"
            tests.append(lambda u, f=field, w=want: bool(u.get(f)) is w)
        elif name == "orgUnitPath":
            tests.append(lambda u, v=value: _under(u.get("orgUnitPath"), v))
        else:
            raise ValueError(clause)
    return lambda u: isinstance(u, dict) and all(t(u) for t in tests)


def _clauses(text: str) -> list[str]:
    out: list[str]
    out, cur, quote = [], "", ""
    for ch in text:
        if quote:
            cur += ch
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            cur, quote = cur + ch, ch
        elif ch == " ":
            out, cur = (out + [cur] if cur else out), ""
        else:
            cur += ch
    return out + [cur] if cur else out


def _token(offset: int, query: str) -> str:
    raw = json.dumps({"o": offset, "q": query}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str, query: str) -> int:
    raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    if raw.get("q") != query or not isinstance(raw.get("o"), int) or raw["o"] < 0:
        raise ValueError(token)
    offset: int = raw["o"]
    return offset


class DirectoryEmulator(ServedEmulator):
    """The emulator: `endpoint`, `server` (counts, faults), `directory` (state)."""

    provider = "google_workspace"
    token_env = "SWEEPER_GOOGLE_TOKEN"  # the variable `config()` names and `env()` sets

    def __init__(self, scenario: Scenario, faults: Faults | None = None) -> None:
        self.directory = Directory(scenario)
        self.part_counts: Counter[str] = Counter()  # batch parts by "METHOD route"
        self.item_faults = ItemFaults()
        self.fault_reasons: dict[int, str] = {}  # e.g. {403: "userRateLimitExceeded"} for injected 403s
        self.listing_faults = ListingFaults()
        self.batch_ids: str | None = None  # a key of BATCH_IDS: batches answered so they cannot be matched
        # A list: every request (batch parts too, as requests of their own) and its answer is appended,
        # for tests that hold the emulator and the adapter to the APIs' discovery documents.
        self.exchanges: list[tuple[Request, Response]] | None = None
        self.report_faults = ListingFaults()  # the same faults, for usage report pages
        self.member_faults = ListingFaults()  # the same faults, for members.list pages
        self.audit_faults = ListingFaults()  # the same faults, for activities.list pages (#25)
        self.list_pages: Counter[str] = Counter()  # listing pages served, by the `customer` they asked for
        self._fault_lock = threading.Lock()
        self._item_rng = random.Random(0)
        self._item_hits: Counter[str] = Counter()
        self.server = EmulatorServer(self._serve, self._error, faults)

    @property
    def endpoint(self) -> str:
        return self.server.base_url

    def reset_counts(self) -> None:
        """Zero the request, listing-page and batch-part counters."""
        super().reset_counts()
        with self.server._lock:
            self.part_counts.clear()
            self.list_pages.clear()
            self.directory.reports.pages.clear()

    @property
    def customer_id(self) -> str:
        return self.directory.customer_id

    @property
    def token(self) -> str:
        return self.directory.token

    def config(self) -> dict[str, Any]:
        """The `[providers.google_workspace]` keys that point the adapter here, with the token in `token_env`."""
        return {"customer": "my_customer", "endpoint": self.endpoint, "auth": "access_token",
                "token_env": self.token_env}

    def env(self) -> dict[str, str]:
        return {self.token_env: self.token}

    def set_item_faults(self, faults: ItemFaults) -> None:
        with self._fault_lock:
            self.item_faults = faults
            self._item_rng = random.Random(faults.seed)
            self._item_hits.clear()

    def user(self, key: str) -> dict[str, Any] | None:
        """A copy of the stored user with this id or primary email."""
        found = self.directory.find(key)
        return dict(found) if found else None

    def deleted_user(self, key: str) -> dict[str, Any] | None:
        """A copy of the deleted (not yet purged) user with this id or primary email."""
        with self.directory.lock:
            found = self.directory.recycle.find(key)
            return dict(found) if found else None

    def purge(self, key: str | None = None, *, now: datetime | None = None) -> list[str]:
        """End the undelete window: for the deleted user `key`, or for every user deleted more than
        20 days before `now`. The ids purged."""
        return self.directory.recycle.purge(key, now)

    @property
    def list_requests(self) -> int:
        return self.server.counts[f"GET {USERS}"]

    @property
    def member_requests(self) -> int:
        """members.list requests of any group, whatever they were answered."""
        with self.server._lock:
            return sum(n for k, n in self.server.counts.items() if k.startswith(f"GET {group_members.GROUPS}/"))

    @property
    def audit_requests(self) -> int:
        """activities.list requests (the admin audit log, #25), whatever they were answered."""
        with self.server._lock:
            return sum(n for k, n in self.server.counts.items() if k.startswith(f"GET {audit_reports.PREFIX}"))

    @property
    def report_requests(self) -> int:
        """Usage report requests of any date, whatever they were answered."""
        with self.server._lock:
            return sum(n for k, n in self.server.counts.items() if k.startswith(f"GET {usage_reports.PREFIX}"))

    def _error(self, status: int, reason: str) -> Response:
        return wire.error(status, self.fault_reasons.get(status, reason) if reason == "injected" else reason)

    # --- routing -------------------------------------------------------------------------------

    def _serve(self, req: Request) -> Response:
        resp = self._answer(req)
        self._record(req, resp)
        return resp

    def _record(self, req: Request, resp: Response) -> None:
        exchanges = self.exchanges
        if exchanges is not None:
            with self.server._lock:
                exchanges.append((req, resp))

    def _answer(self, req: Request) -> Response:
        batch = req.method == "POST" and req.path in BATCH_PATHS
        redirect = self.listing_faults.redirect
        if redirect and (batch or _list_page(req)):
            return Response(redirect[0], b"", {"Location": redirect[1]})
        redirect = self.report_faults.redirect
        if redirect and req.path.startswith(usage_reports.PREFIX):
            return Response(redirect[0], b"", {"Location": redirect[1]})
        if batch:
            return self._batch(req)
        return self._route(req, bearer_token(req))

    def _route(self, req: Request, token: str | None) -> Response:
        d = self.directory
        if token != d.token and token not in d.readonly_tokens:
            return wire.error(401, "authError", "Request had invalid authentication credentials. Expected "
                              "OAuth 2 access token, login cookie or other valid authentication credential.")
        if req.path == USERS and req.method == "GET":
            return self._list(req)
        if req.path.startswith(USERS + "/"):
            key = unquote(req.path[len(USERS) + 1:])
            write = req.method in ("PUT", "PATCH", "DELETE", "POST")
            if write and token in d.readonly_tokens:
                return wire.error(403, "insufficientPermissions")
            if req.method == "POST" and key.endswith("/undelete"):
                return d.recycle.undelete(key[:-len("/undelete")], req.body)
            if req.method == "DELETE":
                return d.recycle.delete(key)
            if req.method in ("GET", "PUT", "PATCH") and d.recycle.is_deleted(key):
                return wire.error(412, *recycle.DELETED)
            if req.method == "GET":
                return self._get(key, req)
            if req.method in ("PUT", "PATCH"):
                return self._update(key, req)
        if req.path.startswith(audit_reports.PREFIX):
            payload = d.audit.serve(req, token)
            return payload if isinstance(payload, Response) else self._page(req, payload, self.audit_faults)
        if req.path.startswith(usage_reports.PREFIX):
            if not d.reports.may_read(token):
                return wire.error(403, "insufficientPermissions")
            return self._report(req)
        if req.method == "GET" and req.path.startswith(group_members.GROUPS + "/") and req.path.endswith("/members"):
            return self._members(req, token)
        return wire.error(404, "notFound", f"Method not found: {req.method} {req.path}")

    def _report(self, req: Request) -> Response:
        """A usage report page, as `report_faults` make it."""
        f, reports = self.report_faults, self.directory.reports
        reports.foreign_customer = f.foreign_customer
        payload = reports.serve(req)
        return payload if isinstance(payload, Response) else self._page(req, payload, f)

    def _members(self, req: Request, token: str | None) -> Response:
        """A members.list page, as `member_faults` make it."""
        payload = self.directory.groups.serve(req, token)
        return payload if isinstance(payload, Response) else self._page(req, payload, self.member_faults)

    def _page(self, req: Request, payload: dict[str, Any], f: ListingFaults) -> Response:
        """A page of a report or of group members with the faults that apply to them (a repeated
        token, padding, dripping)."""
        if f.repeat_token and req.arg("pageToken"):
            payload["nextPageToken"] = req.arg("pageToken")
        resp = self._fields(req, payload)
        if resp.status == 200:
            resp.body += b" " * f.oversize_bytes
            resp.drip_seconds = f.drip_seconds
        return resp

    def _fields(self, req: Request, payload: dict[str, Any]) -> Response:
        fields = req.arg("fields")
        if fields:
            try:
                payload = wire.select(payload, wire.parse_fields(fields))  # type: ignore[assignment]
            except wire.FieldsError as err:
                return wire.error(400, "invalidParameter", str(err))
        return Response.json(200, payload)

    def _list(self, req: Request) -> Response:
        d = self.directory
        customer, domain = req.arg("customer"), req.arg("domain")
        if not customer and not domain:
            return wire.error(400, "badRequest")
        if customer and customer not in ("my_customer", d.customer_id) or domain and domain != d.domain:
            return wire.error(403, "forbidden")
        if req.arg("projection", "basic") not in ("basic", "custom", "full"):
            return wire.error(400, "invalidParameter", "Invalid value for projection")
        try:
            size = int(req.arg("maxResults", "100") or "")
        except ValueError:
            size = 0
        if not 1 <= size <= 500:
            return wire.error(400, "invalid", f"Invalid value '{req.arg('maxResults')}'. "
                              "Values must be within the range: [1, 500]")
        text = req.arg("query", "") or ""
        deleted = (req.arg("showDeleted") or "").lower() == "true"  # deleted users only, as the API lists them
        try:
            match = _query(text)
            start = _untoken(page_token, text + " deleted" * deleted) if (page_token := req.arg("pageToken")) else 0
        except ValueError as err:
            return wire.error(400, "invalid", f"Invalid Input: {err}")
        page: list[Any]
        users = d.recycle.users if deleted else d.users
        page, i = [], start
        while i < len(users) and len(page) < size:
            if match(users[i]):
                page.append(_public(users[i], d.customer_id))
            i += 1
        while i < len(users) and not match(users[i]):  # so the last page has no token
            i += 1
        payload: dict[str, Any] = {"kind": "admin#directory#users", "etag": f'"{uuid.uuid4().hex}"'}
        if page:  # the real API leaves `users` out of an empty page
            payload["users"] = page
        if i < len(users):
            payload["nextPageToken"] = _token(i, text + " deleted" * deleted)
        if size == 1:
            return self._fields(req, payload)
        with self.server._lock:
            self.list_pages[customer or domain or ""] += 1
        return self._hostile(req, payload, page_token)

    def _hostile(self, req: Request, payload: dict[str, Any], page_token: str | None) -> Response:
        """A listing page as `listing_faults` make it."""
        f = self.listing_faults
        page = payload.get("users", [])
        if f.duplicate_ids and page:
            page.insert(1, page[0])
        if f.foreign_customer and page and isinstance(page[-1], dict):
            page[-1] = {**page[-1], "customerId": f.foreign_customer}
        if f.repeat_token and page_token:
            payload["nextPageToken"] = page_token
        resp = self._fields(req, payload)
        if resp.status == 200:
            resp.body += b" " * f.oversize_bytes
            resp.drip_seconds = f.drip_seconds
        return resp

    def _get(self, key: str, req: Request) -> Response:
        user = self.directory.find(key)
        if user is None:
            return wire.error(404, "notFound")
        return self._fields(req, _public(user, self.directory.customer_id))

    def _update(self, key: str, req: Request) -> Response:
        d = self.directory
        try:
            body = req.json()
        except ValueError:
            return wire.error(400, "parseError", "Parse Error")
        if not isinstance(body, dict):
            return wire.error(400, "invalid", "Invalid Input")
        with d.lock:
            user = d.find(key)
            if user is None:
                return wire.error(404, "notFound")
            if d.delegated_admin and "suspended" in body and user.get("isAdmin") is True:
                return wire.error(403, "forbidden")
            for name, value in body.items():
                if name in _WRITABLE:
                    user[name] = value
            if "suspended" in body:
                if body["suspended"]:
                    user["suspensionReason"] = "ADMIN"
                else:
                    user.pop("suspensionReason", None)
            d.writes[str(user.get("id"))] += 1
            answer = _public(user, d.customer_id)
        return self._fields(req, answer)

    # --- batch ----------------------------------------------------------------------------------

    def _batch(self, req: Request) -> Response:
        try:
            parts = wire.parse_batch(req.body, req.headers.get("content-type", ""))
        except (wire.BatchFormatError, UnicodeDecodeError) as err:
            return wire.error(400, "badRequest", str(err))
        if len(parts) > MAX_BATCH:
            return wire.error(400, "badRequest", f"A batch request cannot contain more than {MAX_BATCH} requests")
        outer = bearer_token(req)
        answers = []
        for part in parts:
            split = urlsplit(part.target)
            sub = Request(part.method, split.path, parse_qs(split.query, keep_blank_values=True),
                          part.headers, part.body)
            route = USERS + "/{userKey}" if split.path.startswith(USERS + "/") else split.path
            with self.server._lock:  # the base server's counter lock: one lock for all counters
                self.part_counts[f"{part.method} {route}"] += 1
            fault = self._item_fault(split.path)
            if fault:
                answers.append((part.content_id, wire.error(*fault)))
                continue
            token = bearer_token(sub) if "authorization" in part.headers else outer
            try:
                answers.append((part.content_id, self._route(sub, token)))
            except Exception as err:  # one broken part must not take the others down
                answers.append((part.content_id, wire.error(500, "backendError", f"emulator error: {err!r}")))
            self._record(sub, answers[-1][1])
        form = self.batch_ids
        if form == "missing":
            answers = answers[:-1]
        return wire.batch_response(answers, f"batch_{uuid.uuid4().hex}", BATCH_IDS[form] if form else wire.response_id)

    def _item_fault(self, key: str) -> tuple[int, str] | None:
        with self._fault_lock:
            f = self.item_faults
            if f.max_per_user is not None and self._item_hits[key] >= f.max_per_user:
                return None
            roll = self._item_rng.random()
            for fault, rate in (((429, "rateLimitExceeded"), f.rate_429),
                                ((403, "userRateLimitExceeded"), f.rate_403),
                                ((503, "backendError"), f.rate_503)):
                if roll < rate:
                    self._item_hits[key] += 1
                    return fault
                roll -= rate
            return None


def _list_page(req: Request) -> bool:
    """users.list for more than one user: a page of a listing, not a one-user probe."""
    return req.method == "GET" and req.path == USERS and req.arg("maxResults", "100") != "1"


EMULATOR = DirectoryEmulator


def start(scenario: Scenario | str | Path, faults: Faults | None = None,
          latency_ms: float = 0) -> DirectoryEmulator:
    """Start an emulator on 127.0.0.1 (free port) seeded from a scenario dict or JSON file."""
    faults = faults or Faults()
    if latency_ms:
        faults = replace(faults, latency_ms=latency_ms)
    return DirectoryEmulator.seeded(scenario, faults)
