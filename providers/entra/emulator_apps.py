"""The Graph emulator's machine identities (#17): service principals, applications and the two beta reports.

Served in Graph's shapes, seeded from the scenario's "service_principals", "applications",
"sp_sign_in_activities" and "app_credential_sign_in_activities" (raw report rows, as
`scenario.sp_activity` and `scenario.credential_activity` write them):

- `GET /v1.0/servicePrincipals` and `GET /v1.0/applications`: `$select` checked against the properties
  served, `$expand=owners` (with a nested `$select`) resolved from the tenant's users and service
  principals, pages of `$top` (100 unless asked, at most 999) with `@odata.nextLink`; `GET .../{id}`.
- `PATCH /v1.0/servicePrincipals/{id}` (also inside `$batch`): accountEnabled; "sp_write" in "denied"
  answers 403, as Graph does without Application.ReadWrite.All.
- `GET /beta/reports/servicePrincipalSignInActivities` and `GET /beta/reports/appCredentialSignInActivities`:
  the report rows, `$filter` on appId or keyId (equality), pages of `$top` (100 unless asked; a larger
  ask than 999 is clamped, not refused) with `@odata.nextLink` under /beta. "report_errors" (scenario
  key or `MachineState.fail_report`) makes a report answer 403 Authorization_RequestDenied, 403 without a
  licence (the no-premium code), 404, or 400 "Resource not found for the segment" (a cloud without it).
- "applications" and "service_principals" in "denied" answer 403 to those listings (no Application.Read.All).

`createdDateTime` is served on service principals although msgraph-sdk's v1.0 model lacks it: Graph
answers it when selected (tests/providers/entra/test_entra_definitions.py says so where it checks).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any, Callable

FIRST_PARTY = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"  # Microsoft's own tenant: its apps' owner organisation
MAX_TOP = 999
REPORT_MAX_TOP = 999
DEFAULT_TOP = 100
SP_PROPERTIES = frozenset(("id", "appId", "displayName", "accountEnabled", "servicePrincipalType",
                           "appOwnerOrganizationId", "createdDateTime", "appDisplayName", "tags",
                           "servicePrincipalNames", "deletedDateTime"))
SP_DEFAULT = ("id", "appId", "displayName", "accountEnabled", "servicePrincipalType", "appOwnerOrganizationId")
APP_PROPERTIES = frozenset(("id", "appId", "displayName", "createdDateTime", "passwordCredentials",
                            "keyCredentials", "signInAudience", "deletedDateTime"))
APP_DEFAULT = ("id", "appId", "displayName", "createdDateTime", "signInAudience")
OWNER_PROPERTIES = frozenset(("id", "mail", "userPrincipalName", "displayName", "appId"))
REPORTS = {"servicePrincipalSignInActivities": ("sp_sign_in_activities", "appId"),
           "appCredentialSignInActivities": ("app_credential_sign_in_activities", "keyId")}
DENIED = ("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
REPORT_REFUSALS = {
    403: (403, *DENIED),
    "unlicensed": (403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                   "Neither tenant is B2C or tenant doesn't have premium license"),
    404: (404, "ResourceNotFound", "The requested resource was not found."),
    400: (400, "BadRequest", "Resource not found for the segment '{name}'."),
}


class Refused(Exception):
    """An answer other than 200: (status, code, message), turned into Graph's error body by the emulator."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def patch_changes(body: bytes) -> dict[str, Any]:
    """A PATCH body (a user's or a service principal's) as Graph reads it; Refused with Graph's answer
    when it is not JSON, empty, or sets accountEnabled to something other than a boolean."""
    try:
        changes = json.loads(body or b"null")
    except ValueError:
        raise Refused(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(changes, dict) or not changes:
        raise Refused(400, "BadRequest", "Empty Payload. JSON content expected.")
    if "accountEnabled" in changes and not isinstance(changes["accountEnabled"], bool):
        raise Refused(400, "Request_BadRequest", "Invalid value specified for property 'accountEnabled'.")
    return changes


class MachineState:
    """Service principals, applications and the beta report rows of one emulated tenant."""

    def __init__(self, scenario: dict[str, Any], denied: set[str], users: Callable[[str], dict[str, Any] | None],
                 lock: threading.Lock) -> None:
        self.sps: list[dict[str, Any]] = [dict(s) for s in scenario.get("service_principals", ())]
        self.apps: list[dict[str, Any]] = [dict(a) for a in scenario.get("applications", ())]
        self.rows: dict[str, list[dict[str, Any]]] = {
            report: [dict(r) for r in scenario.get(key, ())] for report, (key, _) in REPORTS.items()}
        self.report_errors: dict[str, Any] = dict(scenario.get("report_errors", {}))
        self.denied = denied
        self.user = users
        self.lock = lock
        self.patches: Counter[str] = Counter()
        self.events: list[tuple[str, str]] = []  # ("disable" | "enable", service principal id), in order

    def fail_report(self, report: str, refusal: Any) -> None:
        """Answer `report` (e.g. "servicePrincipalSignInActivities") with 403, "unlicensed", 404 or 400 from
        now on; None answers it again."""
        if report not in REPORTS:
            raise KeyError(report)
        with self.lock:
            if refusal is None:
                self.report_errors.pop(report, None)
            else:
                self.report_errors[report] = refusal

    def sp(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            return next((dict(s) for s in self.sps if s.get("id") == key), None)

    def _owner(self, oid: str, select: list[str]) -> dict[str, Any]:
        found = self.user(oid)
        kind = "user"
        if found is None:
            found = next((s for s in self.sps if s.get("id") == oid), None)
            kind = "servicePrincipal"
        view: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{kind}", "id": oid}
        for name in select or (["displayName", "mail", "userPrincipalName"] if kind == "user" else ["displayName"]):
            if found is not None and name in found and name != "id":
                view[name] = found[name]
        return view

    def view(self, obj: dict[str, Any], select: tuple[str, ...], expand: list[str] | None) -> dict[str, Any]:
        out = {k: obj[k] for k in select if k in obj}
        if select and "id" not in select and "id" in obj:
            out = {"id": obj["id"], **out}
        if expand is not None:
            out["owners"] = [self._owner(o, expand) for o in obj.get("owners", ())][:20]  # Graph expands 20 at most
        return out


def select_of(arg: dict[str, str], known: frozenset[str], default: tuple[str, ...], kind: str) -> tuple[str, ...]:
    select = tuple(s.strip() for s in arg.get("$select", "").split(",") if s.strip()) or default
    for name in select:
        if name not in known:
            raise Refused(400, "Request_BadRequest",
                          f"Could not find a property named '{name}' on type 'Microsoft.DirectoryServices.{kind}'.")
    return select


def expand_of(arg: dict[str, str], kind: str) -> list[str] | None:
    """The owners' nested $select (possibly empty) when `$expand=owners`, None without $expand."""
    raw = arg.get("$expand", "").strip()
    if not raw:
        return None
    name, _, rest = raw.partition("(")
    if name.strip() != "owners":
        raise Refused(400, "BadRequest", f"Could not find a property named '{name.strip()}' on type "
                      f"'microsoft.graph.{kind}'.")
    nested = rest.rstrip(")").strip()
    select: list[str] = []
    if nested:
        key, _, names = nested.partition("=")
        if key.strip() != "$select":
            raise Refused(400, "BadRequest", f"Query option '{key.strip()}' is not allowed in $expand of owners.")
        select = [n.strip() for n in names.split(",") if n.strip()]
        bad = [n for n in select if n not in OWNER_PROPERTIES]
        if bad:
            raise Refused(400, "Request_BadRequest", f"Could not find a property named '{bad[0]}' on type "
                          "'microsoft.graph.directoryObject'.")
    return select


def top_of(arg: dict[str, str], limit: int, *, clamp: bool = False) -> int:
    raw = arg.get("$top")
    if raw is None:
        return DEFAULT_TOP
    if raw.isdigit() and int(raw) >= 1 and (clamp or int(raw) <= limit):
        return min(int(raw), limit)
    raise Refused(400, "Request_UnsupportedQuery",
                  f"Invalid page size specified: '{raw}'. Must be between 1 and {limit} inclusive.")


def report_filter(arg: dict[str, str], key: str) -> str | None:
    """The value of `$filter=<key> eq '<value>'`, None without a filter; 400 for any other filter."""
    raw = arg.get("$filter")
    if raw is None:
        return None
    field, op, value = (raw.strip().split(" ", 2) + ["", ""])[:3]
    if field != key or op != "eq" or len(value) < 2 or value[0] != "'" or value[-1] != "'":
        raise Refused(400, "BadRequest", f"Invalid filter clause: {raw}")
    return value[1:-1].replace("''", "'")


def refusal_for(state: MachineState, report: str) -> Refused | None:
    with state.lock:
        how = state.report_errors.get(report)
    if how is None:
        return None
    status, code, message = REPORT_REFUSALS[how]
    return Refused(status, code, message.format(name=report))


def json_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class MachineRoutes:
    """The requests of this module, answered from a `MachineState`: `(status, payload or None)` or Refused."""

    def __init__(self, state: MachineState, base: Callable[[], str]) -> None:
        self.state = state
        self.base = base  # http://127.0.0.1:PORT, known once the server has its port

    def route(self, method: str, version: str, parts: list[str], arg: dict[str, str],
              body: bytes) -> tuple[int, dict[str, Any] | None] | None:
        """The answer, or None when the request is not one of this module's."""
        if version == "beta":
            if method == "GET" and len(parts) == 2 and parts[0] == "reports" and parts[1] in REPORTS:
                return 200, self.report(parts[1], arg)
            return None
        if not parts or parts[0] not in ("servicePrincipals", "applications"):
            return None
        sps = parts[0] == "servicePrincipals"
        if method == "GET" and len(parts) == 1:
            return 200, self.listing(parts[0], arg)
        if method == "GET" and len(parts) == 2:
            return 200, self.one(parts[0], parts[1], arg)
        if method == "PATCH" and len(parts) == 2 and sps:
            self.patch(parts[1], body)
            return 204, None
        return None

    def _page(self, version: str, path: str, arg: dict[str, str], total: int, top: int) -> tuple[int, int, str | None]:
        from urllib.parse import quote

        from providers.entra.emulator import _offset, _skiptoken

        start = 0
        if "$skiptoken" in arg:
            found = _offset(arg["$skiptoken"])
            if found is None:
                raise Refused(400, "Directory_ExpiredPageToken", "The specified page token value has expired.")
            start = found
        stop = min(total, start + top)
        if stop >= total:
            return start, stop, None
        keep = "&".join(f"{k}={quote(v, safe=',()=$')}" for k, v in arg.items() if k != "$skiptoken")
        return start, stop, f"{self.base()}/{version}/{path}?{keep}{'&' if keep else ''}$skiptoken={_skiptoken(stop)}"

    def _objects(self, kind: str) -> tuple[list[dict[str, Any]], frozenset[str], tuple[str, ...], str, str]:
        if kind == "servicePrincipals":
            if "service_principals" in self.state.denied:
                raise Refused(403, *DENIED)
            return self.state.sps, SP_PROPERTIES, SP_DEFAULT, "ServicePrincipal", "servicePrincipal"
        if "applications" in self.state.denied:
            raise Refused(403, *DENIED)
        return self.state.apps, APP_PROPERTIES, APP_DEFAULT, "Application", "application"

    def listing(self, kind: str, arg: dict[str, str]) -> dict[str, Any]:
        objects, known, default, long_name, short = self._objects(kind)
        select = select_of(arg, known, default, long_name)
        expand = expand_of(arg, short)
        top = top_of(arg, MAX_TOP)
        with self.state.lock:
            start, stop, link = self._page("v1.0", kind, arg, len(objects), top)
            rows = [self.state.view(o, select, expand) for o in objects[start:stop]]
        out: dict[str, Any] = {"@odata.context": f"{self.base()}/v1.0/$metadata#{kind}", "value": rows}
        if link:
            out["@odata.nextLink"] = link
        return out

    def one(self, kind: str, key: str, arg: dict[str, str]) -> dict[str, Any]:
        objects, known, default, long_name, short = self._objects(kind)
        select = select_of(arg, known, default, long_name)
        expand = expand_of(arg, short)
        with self.state.lock:
            found = next((o for o in objects if o.get("id") == key), None)
            if found is None:
                raise Refused(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its "
                              "queried reference-property objects are not present.")
            view = self.state.view(found, select, expand)
        return {"@odata.context": f"{self.base()}/v1.0/$metadata#{kind}/$entity", **view}

    def patch(self, key: str, body: bytes) -> None:
        if "sp_write" in self.state.denied:
            raise Refused(403, *DENIED)
        changes = patch_changes(body)
        with self.state.lock:
            found = next((s for s in self.state.sps if s.get("id") == key), None)
            if found is None:
                raise Refused(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its "
                              "queried reference-property objects are not present.")
            found.update(changes)
            self.state.patches[key] += 1
            if "accountEnabled" in changes:
                self.state.events.append(("enable" if changes["accountEnabled"] else "disable", key))

    def report(self, name: str, arg: dict[str, str]) -> dict[str, Any]:
        refused = refusal_for(self.state, name)
        if refused:
            raise refused
        if "signInActivity" in self.state.denied or "reports" in self.state.denied:
            raise Refused(403, *DENIED)
        _, key = REPORTS[name]
        wanted = report_filter(arg, key)
        top = top_of(arg, REPORT_MAX_TOP, clamp=True)
        with self.state.lock:
            rows = [dict(r) for r in self.state.rows[name] if wanted is None or r.get(key) == wanted]
        start, stop, link = self._page("beta", f"reports/{name}", arg, len(rows), top)
        out: dict[str, Any] = {"@odata.context": f"{self.base()}/beta/$metadata#reports/{name}",
                               "value": rows[start:stop]}
        if link:
            out["@odata.nextLink"] = link
        return out
