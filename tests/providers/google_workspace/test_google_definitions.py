"""#14.5 for Google: the Directory emulator answers only with fields and JSON types the Directory API's
discovery document defines (admin.reports_v1 for the usage report), and the adapter asks only for what
the documents know: methods, parameters and their limits, `fields=` selections, written fields, the
batch path. Both documents are the ones google-api-python-client ships (tests/.../definitions.py)."""

from __future__ import annotations

import json
import urllib.request
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from providers.emulator import Request
from providers.google_workspace import adapter as adapter_module
from providers.google_workspace import emulator, scenario
from providers.google_workspace.adapter import GoogleWorkspaceAdapter
from providers.google_workspace.settings import GoogleSettings
from sweeper.model import Action, CredentialRef
from tests.providers.google_workspace import definitions as d

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
CUSTOMER = "C0defs001"
TOKEN = "ya29.definitions-token"
FIXTURES = Path(__file__).parents[2] / "fixtures" / "google"
DIRECTORY, REPORTS = d.document(d.DIRECTORY), d.document(d.REPORTS)


def world() -> dict[str, Any]:
    """Users in every form the emulator makes (scenario.user, the fixture's), reports in both styles."""
    users = [scenario.user(f"{900 + i}", f"u{i}@defs.test", created=NOW - timedelta(days=500),
                           last_login=NOW - timedelta(days=200 * (i % 2)) if i % 3 else None, customer_id=CUSTOMER)
             for i in range(6)]
    users[1].update(isAdmin=True)
    users[2].update(suspended=True, suspensionReason="ADMIN")
    users[3].update(orgUnitPath="/Service Accounts")
    users += json.loads((FIXTURES / "users_list_page.json").read_text())["users"]
    for u in users:
        u["customerId"] = CUSTOMER
    reports = {"available_through": "2025-05-30", "lag_days": 1, "partial": {"2025-05-29": ["drive"]},
               "users": {"u0@defs.test": {"imap": "2025-05-20T08:00:00.000Z", "sso": "2025-05-21T08:00:00.000Z"},
                         "u4@defs.test": {"drive": "2025-05-10T08:00:00.000Z", "pop": "2025-05-11T08:00:00.000Z"}}}
    return {"customer_id": CUSTOMER, "domain": "defs.test", "token": TOKEN, "users": users, "reports": reports}


@pytest.fixture
def emu(clean_env: pytest.MonkeyPatch) -> Iterator[emulator.DirectoryEmulator]:
    em = emulator.start(world())
    em.exchanges = []
    clean_env.setenv("SWEEPER_GOOGLE_TOKEN", TOKEN)
    yield em
    em.stop()


def get(em: emulator.DirectoryEmulator, target: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(em.endpoint + target, data=data, method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def doc_for(req: Request) -> d.Doc:
    return REPORTS if req.path.startswith("/admin/reports/") else DIRECTORY


def answer_problems(em: emulator.DirectoryEmulator) -> list[str]:
    assert em.exchanges
    return [p for req, resp in em.exchanges if req.path not in emulator.BATCH_PATHS
            for p in d.answer_problems(doc_for(req), req, resp.status, resp.body)]


def sweep(em: emulator.DirectoryEmulator, **settings: Any) -> GoogleWorkspaceAdapter:
    """Everything the adapter does to a customer: bind, list (with usage reports), check, refresh,
    suspend and unsuspend."""
    adapter = GoogleWorkspaceAdapter(GoogleSettings(**em.config(), activity_lookback_days=60, **settings), write=True)
    adapter.clock = lambda: datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
    adapter.client.sleep = lambda seconds: None
    [scope] = adapter.scopes()
    found = {i.id: i for i in adapter.list_identities(scope)}
    assert adapter.check()
    refs = [CredentialRef.of(found[uid], found[uid].credentials[0]) for uid in ("900", "904")]
    assert adapter.refresh(refs[0]) is not None
    assert all(o.ok for o in adapter.apply(Action.DISABLE, refs))
    assert all(o.ok for o in adapter.apply(Action.ENABLE, refs))
    return adapter


# -- the emulator's answers ----------------------------------------------------------------------------

def test_the_emulators_full_answers_are_defined(emu: emulator.DirectoryEmulator) -> None:
    """Without `fields=`: whole users, a whole page, an update's answer, and usage reports in both
    styles, with warnings and without."""
    page = get(emu, f"/admin/directory/v1/users?customer={CUSTOMER}&maxResults=5")
    assert page["nextPageToken"] and len(page["users"]) == 5
    get(emu, f"/admin/directory/v1/users?customer=my_customer&maxResults=500&pageToken={page['nextPageToken']}")
    get(emu, "/admin/directory/v1/users/902")
    get(emu, "/admin/directory/v1/users/u0@defs.test", "PUT", {"suspended": True})
    get(emu, "/admin/directory/v1/users/u0@defs.test", "PATCH", {"suspended": False})
    for style in ("names", "timestamps"):
        emu.directory.reports.style = style
        for day in ("2025-05-30", "2025-05-29", "2025-05-28"):  # lagging, partial, whole
            get(emu, f"/admin/reports/v1/usage/users/all/dates/{day}?customerId={CUSTOMER}&maxResults=3")
    assert answer_problems(emu) == []
    assert len(emu.exchanges) == 11


def test_the_answers_to_a_whole_sweep_are_defined(emu: emulator.DirectoryEmulator) -> None:
    sweep(emu).close()
    assert answer_problems(emu) == []


def test_the_fixtures_are_in_the_documented_shape() -> None:
    page = json.loads((FIXTURES / "users_list_page.json").read_text())
    report = json.loads((FIXTURES / "usage_report_page.json").read_text())
    assert d.shape_problems(DIRECTORY, page, {"$ref": "Users"}) == []
    assert d.shape_problems(REPORTS, report, {"$ref": "UsageReports"}) == []


def test_the_emulator_writes_only_what_the_api_lets_a_caller_write(emu: emulator.DirectoryEmulator) -> None:
    """isAdmin is output only (makeAdmin changes it; an update's edit is ignored by the API)."""
    user = d.schema(DIRECTORY, "User")["properties"]
    assert {name for name in emulator._WRITABLE if user[name].get("readOnly")} == set()
    get(emu, "/admin/directory/v1/users/u0@defs.test", "PUT", {"isAdmin": True, "suspended": True})
    assert emu.user("900")["isAdmin"] is False and emu.user("900")["suspended"] is True


# -- the adapter's requests ----------------------------------------------------------------------------

def test_every_request_of_a_sweep_is_known_to_the_documents(emu: emulator.DirectoryEmulator) -> None:
    sweep(emu).close()
    assert emu.exchanges
    problems, seen = [], set()
    for req, _ in emu.exchanges:
        if req.path in emulator.BATCH_PATHS:
            seen.add("batch")
            problems += [] if req.path == "/" + DIRECTORY["batchPath"] else [f"batch sent to {req.path}"]
            continue
        doc = doc_for(req)
        found = d.find(doc, req.method, req.path)
        seen.add(found[0]["id"] if found else f"{req.method} {req.path}")
        problems += d.request_problems(doc, req)
    assert problems == []
    assert seen == {"directory.users.list", "directory.users.get", "directory.users.update",
                    "reports.userUsageReport.get", "batch"}


def test_the_adapters_page_sizes_are_the_documents_maximums() -> None:
    listing = d.method(DIRECTORY, "directory.users.list")["parameters"]["maxResults"]
    report = d.method(REPORTS, "reports.userUsageReport.get")["parameters"]["maxResults"]
    assert adapter_module.PAGE == int(listing["maximum"]) and adapter_module.REPORT_PAGE == int(report["maximum"])
    assert GoogleSettings.model_fields["batch_size"].metadata[-1].le == emulator.MAX_BATCH == 1000  # the library's cap


def test_the_emulator_keeps_the_documents_limits(emu: emulator.DirectoryEmulator) -> None:
    listing = d.method(DIRECTORY, "directory.users.list")["parameters"]["maxResults"]
    report = d.method(REPORTS, "reports.userUsageReport.get")["parameters"]["maxResults"]
    top, report_top = int(listing["maximum"]), int(report["maximum"])
    assert get(emu, f"/admin/directory/v1/users?customer=my_customer&maxResults={top}")["users"]
    with pytest.raises(urllib.error.HTTPError, match="400"):
        get(emu, f"/admin/directory/v1/users?customer=my_customer&maxResults={top + 1}")
    assert get(emu, f"/admin/reports/v1/usage/users/all/dates/2025-05-28?maxResults={report_top}")["usageReports"]
    with pytest.raises(urllib.error.HTTPError, match="400"):
        get(emu, f"/admin/reports/v1/usage/users/all/dates/2025-05-28?maxResults={report_top + 1}")


# -- the checks can fail ---------------------------------------------------------------------------------

def _request(target: str, method: str = "GET", body: Any = None) -> Request:
    path, _, query = target.partition("?")
    from urllib.parse import parse_qs
    return Request(method, path, parse_qs(query), {}, json.dumps(body).encode() if body is not None else b"")


@pytest.mark.parametrize("target, method, body, says", [
    ("/admin/directory/v1/users?customer=my_customer&maxResults=501", "GET", None, "outside [1, 500]"),
    ("/admin/directory/v1/users?customer=my_customer&projection=partial", "GET", None, "not one of"),
    ("/admin/directory/v1/users?customer=my_customer&limit=5", "GET", None, "no query parameter 'limit'"),
    ("/admin/directory/v1/users?customer=my_customer&fields=users(id,lastLogin)", "GET", None,
     "users/lastLogin is not a field"),
    ("/admin/directory/v1/users/1?fields=name/full", "GET", None, "name/full is not a field"),
    ("/admin/directory/v1/users/1", "PUT", {"isAdmin": True}, "isAdmin is read-only"),
    ("/admin/directory/v1/users/1", "PUT", {"suspend": True}, "suspend: no such field"),
    ("/admin/directory/v1/users/1", "PUT", {"suspended": "true"}, "is not a boolean"),
    ("/admin/directory/v1/user/1", "GET", None, "no such method"),
    ("/admin/reports/v1/usage/users/all/dates/2025-5-1", "GET", None, "does not match"),
    ("/admin/reports/v1/usage/users/all/dates/2025-05-01?customerId=D123", "GET", None, "does not match"),
    ("/admin/reports/v1/usage/users/all/dates/2025-05-01?parameters=mail:last_imap_time", "GET", None,
     "does not match"),
])
def test_a_request_the_documents_do_not_know_is_found(target: str, method: str, body: Any, says: str) -> None:
    req = _request(target, method, body)
    problems = d.request_problems(doc_for(req), req)
    assert any(says in p for p in problems), problems


@pytest.mark.parametrize("answer, says", [
    ({"users": [{"id": "1", "lastLogin": "2025-01-01T00:00:00.000Z"}]}, "users[0].lastLogin: no such field"),
    ({"users": [{"id": "1", "suspended": "false"}]}, "is not a boolean"),
    ({"users": [{"id": "1", "lastLoginTime": "yesterday"}]}, "(date-time)"),
    ({"users": [{"id": 1}]}, "is not a string"),
    ({"users": {"id": "1"}}, "where the schema has an array"),
    ({"nextPageToken": 5}, "is not a string"),
])
def test_an_answer_the_document_does_not_define_is_found(answer: Any, says: str) -> None:
    req = _request("/admin/directory/v1/users?customer=my_customer")
    problems = d.answer_problems(DIRECTORY, req, 200, json.dumps(answer).encode())
    assert any(says in p for p in problems), problems


def test_a_report_value_of_the_wrong_kind_is_found() -> None:
    page = {"usageReports": [{"entity": {"profileId": "1", "type": "USER"},
                              "parameters": [{"name": "gmail:timestamp_last_imap", "intValue": 1747729800000}]}]}
    problems = d.shape_problems(REPORTS, page, {"$ref": "UsageReports"})
    assert problems == ["usageReports[0].parameters[0].intValue: 1747729800000 is not a string (int64) as the schema says"]
    assert date.fromisoformat("2025-05-28")  # the dates used above are the documented pattern
