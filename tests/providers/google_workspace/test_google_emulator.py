"""The Directory emulator answers in the real API's shapes (raw HTTP, no client library)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from providers.google_workspace import emulator, wire
from providers.google_workspace.scenario import synthetic, user

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
TOKEN = "emu-secret-token"


def _scenario(**extra: object) -> dict:
    users = [
        user("1", "a@x.test", created=NOW - timedelta(days=10), last_login=NOW),
        user("2", "b@x.test", created=NOW - timedelta(days=10), suspended=True),
        user("3", "c@x.test", created=NOW - timedelta(days=10), isAdmin=True),
        user("4", "bot@x.test", created=NOW, orgUnitPath="/Service Accounts/bots"),
        user("5", "old@x.test", created=NOW, orgUnitPath="/Service Accounts Legacy"),
        user("6", "sa@x.test", created=NOW, orgUnitPath="/Service Accounts"),
    ]
    return {"customer_id": "C123", "domain": "x.test", "token": TOKEN, "users": users, **extra}


@pytest.fixture
def emu():
    em = emulator.start(_scenario())
    yield em
    em.stop()


def call(em, method: str, path: str, body: object = None, token: str | None = TOKEN,
         headers: dict | None = None, raw: bytes | None = None) -> tuple[int, dict, bytes]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(em.endpoint + path, data=data, method=method, headers=headers or {})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def users_of(em, query: str) -> list[str]:
    status, _, body = call(em, "GET", f"/admin/directory/v1/users?customer=my_customer&{query}")
    assert status == 200, body
    return [u["primaryEmail"] for u in json.loads(body).get("users", [])]


def test_errors_have_googles_shape(emu) -> None:
    status, _, body = call(emu, "GET", "/admin/directory/v1/users?customer=my_customer", token=None)
    error = json.loads(body)["error"]
    assert status == 401 and error["code"] == 401 and error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["reason"] == "authError" and error["errors"][0]["domain"] == "global"
    for size in ("0", "501", "x"):
        status, _, body = call(emu, "GET", f"/admin/directory/v1/users?customer=my_customer&maxResults={size}")
        assert status == 400 and json.loads(body)["error"]["errors"][0]["reason"] == "invalid"
    status, _, body = call(emu, "GET", "/admin/directory/v1/users?customer=C999")
    assert status == 403 and json.loads(body)["error"]["errors"][0]["reason"] == "forbidden"


def test_paging_fields_and_queries(emu) -> None:
    status, _, body = call(emu, "GET", "/admin/directory/v1/users?customer=C123&maxResults=4"
                           "&fields=nextPageToken,users(id,name/fullName)")
    page = json.loads(body)
    assert set(page) == {"users", "nextPageToken"}
    assert page["users"][0] == {"id": "1", "name": {"fullName": "a User"}}
    status, _, body = call(emu, "GET", "/admin/directory/v1/users?customer=C123&maxResults=4&pageToken="
                           + page["nextPageToken"])
    last = json.loads(body)
    assert [u["id"] for u in last["users"]] == ["5", "6"] and "nextPageToken" not in last
    assert users_of(emu, "query=isSuspended%3Dtrue") == ["b@x.test"]
    assert users_of(emu, "query=isAdmin%3Dtrue") == ["c@x.test"]
    # sub-units are included; a look-alike sibling is not
    assert users_of(emu, "query=orgUnitPath%3D%27%2FService%20Accounts%27") == ["bot@x.test", "sa@x.test"]
    assert users_of(emu, "domain=x.test&query=isSuspended%3Dfalse%20isAdmin%3Dfalse&maxResults=500") == [
        "a@x.test", "bot@x.test", "old@x.test", "sa@x.test"]
    status, _, _ = call(emu, "GET", "/admin/directory/v1/users?customer=C123&query=bogus%3D1")
    assert status == 400


def test_my_customer_answers_the_callers_customer_id(emu) -> None:
    """What the adapter binds with: one user, only its customerId, the scenario's customer."""
    status, _, body = call(emu, "GET", "/admin/directory/v1/users?customer=my_customer&maxResults=1"
                           "&projection=basic&fields=users(customerId)")
    assert status == 200 and json.loads(body) == {"users": [{"customerId": "C123"}]}
    status, _, body = call(emu, "GET", "/admin/directory/v1/users/a%40x.test?fields=customerId")
    assert json.loads(body) == {"customerId": "C123"}


def test_listing_faults_shape_only_the_listing_pages(emu) -> None:
    emu.listing_faults = emulator.ListingFaults(repeat_token=True, duplicate_ids=True, foreign_customer="C0other",
                                                oversize_bytes=1000)
    status, _, body = call(emu, "GET", "/admin/directory/v1/users?customer=my_customer&maxResults=1")
    assert [u["customerId"] for u in json.loads(body)["users"]] == ["C123"]  # a one-user probe: untouched
    _, _, body = call(emu, "GET", "/admin/directory/v1/users?customer=C123&maxResults=2")
    first = json.loads(body)
    assert len(body) > 1000 and [u["id"] for u in first["users"]] == ["1", "1", "2"]
    assert first["users"][-1]["customerId"] == "C0other"
    token = first["nextPageToken"]
    _, _, body = call(emu, "GET", f"/admin/directory/v1/users?customer=C123&maxResults=2&pageToken={token}")
    assert json.loads(body)["nextPageToken"] == token  # the loop
    assert emu.list_pages == {"C123": 2}
    emu.listing_faults = emulator.ListingFaults(redirect=(307, "http://127.0.0.1:9/elsewhere"))
    for method, path in (("GET", "/admin/directory/v1/users?customer=C123&maxResults=500"), ("POST", "/batch")):
        conn = http.client.HTTPConnection("127.0.0.1", emu.server.port, timeout=5)  # urllib would follow
        conn.request(method, path, body=b"" if method == "POST" else None)
        answer = conn.getresponse()
        assert answer.status == 307 and answer.getheader("Location") == "http://127.0.0.1:9/elsewhere"
        conn.close()


def test_empty_page_has_no_users_key() -> None:
    em = emulator.start({"token": TOKEN, "users": []})
    try:
        status, _, body = call(em, "GET", "/admin/directory/v1/users?customer=my_customer")
        assert status == 200 and "users" not in json.loads(body)
    finally:
        em.stop()


def test_get_and_update_by_id_or_email(emu) -> None:
    status, _, body = call(emu, "GET", "/admin/directory/v1/users/A%40x.test?fields=id,suspended")
    assert status == 200 and json.loads(body) == {"id": "1", "suspended": False}
    status, _, body = call(emu, "PUT", "/admin/directory/v1/users/1", {"suspended": True})
    assert status == 200 and json.loads(body)["suspensionReason"] == "ADMIN"
    status, _, body = call(emu, "PATCH", "/admin/directory/v1/users/a@x.test", {"suspended": False})
    assert status == 200 and emu.user("1")["suspended"] is False and emu.directory.writes["1"] == 2
    status, _, body = call(emu, "GET", "/admin/directory/v1/users/nobody")
    assert status == 404 and json.loads(body)["error"]["errors"][0]["reason"] == "notFound"


def test_delegated_admin_cannot_suspend_super_admin() -> None:
    em = emulator.start(_scenario(delegated_admin=True))
    try:
        status, _, body = call(em, "PUT", "/admin/directory/v1/users/3", {"suspended": True})
        assert status == 403 and json.loads(body)["error"]["errors"][0]["reason"] == "forbidden"
        assert em.user("3")["suspended"] is False
        assert call(em, "PUT", "/admin/directory/v1/users/1", {"suspended": True})[0] == 200
    finally:
        em.stop()


def _batch_body(n: int, boundary: str = "b0undary") -> bytes:
    parts = [f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\n"
             f"GET /admin/directory/v1/users/{1 + i % 6}?fields=id HTTP/1.1\r\n\r\n" for i in range(n)]
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


def test_batch_in_multipart_mixed(emu) -> None:
    headers = {"Content-Type": 'multipart/mixed; boundary="b0undary"'}
    status, head, body = call(emu, "POST", "/batch", raw=_batch_body(3), headers=headers)
    assert status == 200 and head["Content-Type"].startswith("multipart/mixed; boundary=")
    text = body.decode()
    assert text.count("Content-ID: <response-item") == 3 and text.count("HTTP/1.1 200 OK") == 3
    assert emu.part_counts["GET /admin/directory/v1/users/{userKey}"] == 3
    assert emu.server.counts["POST /batch"] == 1
    status, _, _ = call(emu, "POST", "/batch", raw=_batch_body(1001), headers=headers)
    assert status == 400
    status, _, body = call(emu, "POST", "/batch", raw=_batch_body(2), headers=headers, token="wrong")
    assert body.decode().count("HTTP/1.1 401") == 2  # parts inherit the outer Authorization


def test_batch_item_faults_are_capped_per_user(emu) -> None:
    emu.set_item_faults(emulator.ItemFaults(rate_429=0.5, rate_403=0.5, max_per_user=1, seed=3))
    headers = {"Content-Type": "multipart/mixed; boundary=b0undary"}
    first = call(emu, "POST", "/batch", raw=_batch_body(6), headers=headers)[2].decode()
    assert first.count("HTTP/1.1 429") + first.count("HTTP/1.1 403") == 6
    assert "userRateLimitExceeded" in first and "rateLimitExceeded" in first
    second = call(emu, "POST", "/batch", raw=_batch_body(6), headers=headers)[2].decode()
    assert second.count("HTTP/1.1 200") == 6


def test_fields_parser() -> None:
    tree = wire.parse_fields("nextPageToken,users(id,name/fullName),users(primaryEmail)")
    assert tree == {"nextPageToken": None, "users": {"id": None, "name": {"fullName": None}, "primaryEmail": None}}
    with pytest.raises(wire.FieldsError):
        wire.parse_fields("users(id")


def test_serves_100k_users_in_linear_time() -> None:
    em = emulator.start(synthetic(100_000, now=NOW))
    try:
        started, token, seen = time.perf_counter(), "", 0
        while True:
            status, _, body = call(em, "GET", "/admin/directory/v1/users?customer=my_customer&maxResults=500"
                                   "&query=isAdmin%3Dtrue" + (f"&pageToken={token}" if token else ""),
                                   token="synthetic-token")
            page = json.loads(body)
            seen += len(page.get("users", []))
            token = page.get("nextPageToken")
            if not token:
                break
        assert seen == sum(1 for u in em.directory.users if u["isAdmin"])
        assert time.perf_counter() - started < 10
    finally:
        em.stop()


# --- the usage report (Reports API) -------------------------------------------------------------------

REPORT = "/admin/reports/v1/usage/users/all/dates/"


def _reporting(**reports: object) -> dict:
    base = {"available_through": "2025-05-31", "lag_days": 2, "partial": {"2025-05-29": ["gmail"]},
            "users": {"a@x.test": {"imap": "2025-05-20T10:00:00Z"}, "2": {"sso": "2025-04-01T00:00:00Z"}}}
    return _scenario(reports={**base, **reports})


def report(em, day: str, query: str = "", token: str | None = TOKEN) -> tuple[int, dict]:
    status, _, body = call(em, "GET", REPORT + day + query, token=token)
    return status, json.loads(body)


def test_usage_report_lags_warns_and_pages() -> None:
    em = emulator.start(_reporting())
    try:
        status, body = report(em, "2025-06-01")  # later than the newest date: 400 naming it
        assert status == 400 and body["error"]["message"].startswith("Data for dates later than 2025-05-31 is "
                                                                     "not yet available")
        status, body = report(em, "2025-05-30")  # processing: warnings per application, no entries
        assert status == 200 and "usageReports" not in body
        assert {w["code"] for w in body["warnings"]} == {"DATA_NOT_AVAILABLE"}
        assert {w["data"][0]["value"] for w in body["warnings"]} == {"accounts", "gmail", "drive"}
        assert all(w["data"][0]["key"] == "application" and "2025-05-30" in w["message"] for w in body["warnings"])
        status, body = report(em, "2025-05-29")  # partial: entries, and a warning for gmail
        assert status == 200 and [w["code"] for w in body["warnings"]] == ["PARTIAL_DATA_AVAILABLE"]
        assert len(body["usageReports"]) == 6
        status, first = report(em, "2025-05-28", "?maxResults=4&parameters=gmail:last_imap_time,accounts:last_sso_time")
        assert status == 200 and "warnings" not in first and len(first["usageReports"]) == 4
        entry = first["usageReports"][0]
        assert entry["kind"] == "admin#reports#usageReport" and entry["date"] == "2025-05-28"
        assert entry["entity"] == {"customerId": "C123", "userEmail": "a@x.test", "profileId": "1", "type": "USER"}
        assert entry["parameters"] == [{"name": "gmail:last_imap_time", "datetimeValue": "2025-05-20T10:00:00.000Z"}]
        assert first["usageReports"][1]["parameters"] == [{"name": "accounts:last_sso_time",
                                                           "datetimeValue": "2025-04-01T00:00:00.000Z"}]
        status, second = report(em, "2025-05-28", f"?maxResults=4&pageToken={first['nextPageToken']}")
        assert status == 200 and len(second["usageReports"]) == 2 and "nextPageToken" not in second
        assert report(em, "2025-05-28", "?maxResults=1001")[0] == 400
        assert report(em, "2025-05-27", f"?pageToken={first['nextPageToken']}")[0] == 400  # another date's token
        assert em.directory.reports.pages == {"2025-05-29": 1, "2025-05-28": 2, "2025-05-30": 1}
    finally:
        em.stop()


def test_usage_report_windows_styles_and_refusals() -> None:
    em = emulator.start(_reporting(style="timestamps", int_unit="us", tokens=[TOKEN]))
    try:
        # the IMAP use of 2025-05-20 is in the report of 2025-06-10's window, not in that of 2025-05-19,
        # and has left the 30-day Gmail window of 2025-06-25
        em.directory.reports.available_through = datetime(2025, 7, 1).date()
        em.directory.reports.lag_days = 0

        def imap(day: str) -> str | None:
            status, body = report(em, day, "?parameters=gmail:timestamp_last_imap")
            assert status == 200
            return next((p["intValue"] for p in body["usageReports"][0].get("parameters", [])), None)

        assert imap("2025-06-10") == str(int(datetime(2025, 5, 20, 10, tzinfo=timezone.utc).timestamp()) * 10**6)
        assert imap("2025-05-19") is None and imap("2025-06-25") == "0"
        em.directory.readonly_tokens.add("reader")
        status, body = report(em, "2025-06-10", token="reader")  # a Directory token without the reports scope
        assert status == 403 and body["error"]["errors"][0]["reason"] == "insufficientPermissions"
        assert report(em, "2025-06-10", "?customerId=C999")[0] == 403
        assert report(em, "2025-06-10", token="wrong")[0] == 401
        em.directory.reports.forbidden = True
        assert report(em, "2025-06-10")[0] == 403
    finally:
        em.stop()
