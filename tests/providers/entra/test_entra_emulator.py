"""The Graph emulator answers in Graph's shapes and enforces Graph's limits (plain HTTP, no adapter)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from providers.emulator import Faults
from providers.entra import emulator
from providers.entra.scenario import generate, user
from providers.entra.users import SELECT


@pytest.fixture(scope="module")
def emu():
    e = emulator.start(generate(1200, seed=1) | {"groups": {"g1": ["g2", generate(1)["users"][0]["id"]],
                                                          "g2": ["u-deep", "g1"]}})
    yield e
    e.stop()


def call(emu, method: str, path: str, body: object = None, token: str | None = "default") -> tuple[int, dict, dict]:
    url = path if path.startswith("http") else f"{emu.endpoint}{path}"
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {emu.token if token == 'default' else token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}, dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def assert_graph_error(body: dict, code: str) -> None:
    assert body["error"]["code"] == code and body["error"]["message"]
    assert set(body["error"]["innerError"]) >= {"date", "request-id", "client-request-id"}


def test_bearer_token_is_required(emu):
    status, body, _ = call(emu, "GET", "/organization", token=None)
    assert status == 401
    assert_graph_error(body, "InvalidAuthenticationToken")
    assert call(emu, "GET", "/organization", token="wrong")[0] == 401


def test_paging_with_absolute_next_links(emu):
    url, seen, pages = f"/users?$select={SELECT}&$top=500", [], 0
    while url:
        status, body, _ = call(emu, "GET", url)
        assert status == 200 and body["@odata.context"].endswith("$metadata#users")
        seen += [u["id"] for u in body["value"]]
        url = body.get("@odata.nextLink")
        pages += 1
        if url:
            assert url.startswith(emu.endpoint + "/users?") and "$skiptoken=" in url and "$top=500" in url
    assert pages == 3 and len(seen) == len(set(seen)) == 1200
    assert set(body["value"][0]) <= set(SELECT.split(","))


def test_page_size_limits(emu):
    status, body, _ = call(emu, "GET", "/users?$top=1000")
    assert status == 400
    assert_graph_error(body, "Request_UnsupportedQuery")
    assert call(emu, "GET", "/users?$top=999")[0] == 200
    assert call(emu, "GET", f"/users?$select={SELECT}&$top=501")[0] == 400
    assert call(emu, "GET", "/users?$select=id")[1]["value"].__len__() == 100  # Graph's default page


def test_filter_keeps_paging(emu):
    flt = quote("userType eq 'Guest' and accountEnabled eq true")
    status, body, _ = call(emu, "GET", f"/users?$filter={flt}&$select=id,userType,accountEnabled&$top=5")
    assert status == 200 and all(u["userType"] == "Guest" and u["accountEnabled"] for u in body["value"])
    assert "$filter=" in body["@odata.nextLink"]
    status, nxt, _ = call(emu, "GET", body["@odata.nextLink"])
    assert all(u["userType"] == "Guest" for u in nxt["value"])
    assert not {u["id"] for u in nxt["value"]} & {u["id"] for u in body["value"]}


def test_user_get_patch_and_404(emu):
    uid = emu.state.users[0]["id"]
    assert call(emu, "PATCH", f"/users/{uid}", {"accountEnabled": False})[0] == 204
    assert emu.enabled(uid) is False
    status, body, _ = call(emu, "GET", f"/users/{uid}?$select=id,accountEnabled")
    assert status == 200 and body["accountEnabled"] is False and "@odata.context" in body
    assert call(emu, "PATCH", f"/users/{uid}", {"accountEnabled": True})[0] == 204
    status, body, _ = call(emu, "GET", "/users/nobody")
    assert status == 404
    assert_graph_error(body, "Request_ResourceNotFound")


def test_batch_shapes_and_limits(emu):
    a, b = emu.state.users[1]["id"], emu.state.users[2]["id"]
    status, body, _ = call(emu, "POST", "/$batch", {"requests": [
        {"id": "1", "method": "PATCH", "url": f"/users/{a}", "headers": {"Content-Type": "application/json"},
         "body": {"accountEnabled": False}},
        {"id": "2", "method": "POST", "url": f"/users/{b}/revokeSignInSessions"},
        {"id": "3", "method": "PATCH", "url": f"{emu.endpoint}/users/{b}", "headers": {"Content-Type": "application/json"},
         "body": {"accountEnabled": False}},
        {"id": "4", "method": "PATCH", "url": f"/users/{b}", "body": {"accountEnabled": False}},
        {"id": "5", "method": "PATCH", "url": "/users/nobody", "headers": {"Content-Type": "application/json"},
         "body": {"accountEnabled": False}}]})
    assert status == 200
    by_id = {r["id"]: r for r in body["responses"]}
    assert by_id["1"]["status"] == 204 and emu.enabled(a) is False
    assert by_id["2"]["status"] == 200 and by_id["2"]["body"]["value"] is True and emu.state.revoked[b] == 1
    assert by_id["3"]["status"] == 400  # absolute URL inside a batch
    assert by_id["4"]["status"] == 400  # body without Content-Type
    assert by_id["5"]["status"] == 404 and by_id["5"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert emu.enabled(b) is True
    too_many = [{"id": str(n), "method": "GET", "url": "/organization"} for n in range(21)]
    status, body, _ = call(emu, "POST", "/$batch", {"requests": too_many})
    assert status == 400
    assert_graph_error(body, "BadRequest")


def test_batch_item_throttling_carries_retry_after(emu):
    emu.set_item_faults(Faults(rate_429=1.0, retry_after=7))
    try:
        _, body, _ = call(emu, "POST", "/$batch", {"requests": [{"id": "1", "method": "GET", "url": "/organization"}]})
    finally:
        emu.set_item_faults(Faults())
    [item] = body["responses"]
    assert item["status"] == 429 and item["headers"]["Retry-After"] == "7"
    assert item["body"]["error"]["code"] == "TooManyRequests"


def test_nested_groups_and_roles(emu):
    status, body, _ = call(emu, "GET", "/groups/g1/transitiveMembers?$select=id")
    ids = {m["id"] for m in body["value"]}
    assert status == 200 and {"g2", "u-deep"} <= ids and "g1" not in ids
    assert call(emu, "GET", "/groups/missing/transitiveMembers")[0] == 404
    assert call(emu, "GET", "/roleManagement/directory/roleAssignments")[1]["value"] == []


def test_unlicensed_tenant_refuses_sign_in_activity():
    e = emulator.start({"token": "t", "licensed": False, "users": [user("a@example.test")]})
    try:
        status, body, _ = call(e, "GET", f"/users?$select={SELECT}")
        assert status == 403
        assert_graph_error(body, "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
        assert call(e, "GET", "/users?$select=id,accountEnabled")[0] == 200
    finally:
        e.stop()


def test_injected_faults_use_graph_bodies_and_counters():
    e = emulator.start({"token": "t", "users": []}, faults=Faults(rate_429=1.0, retry_after=3), latency_ms=20)
    try:
        started = time.perf_counter()
        status, body, headers = call(e, "GET", "/organization", token="t")
        assert time.perf_counter() - started >= 0.02
        assert status == 429 and headers["Retry-After"] == "3"
        assert_graph_error(body, "TooManyRequests")
        assert e.server.counts["GET /v1.0/organization"] == 1 and e.server.injected["429"] == 1
    finally:
        e.stop()


def test_serves_100k_users_quickly():
    scn = generate(100_000, seed=9)
    e = emulator.start(scn)
    try:
        started, url, n = time.perf_counter(), f"/users?$select={SELECT}&$top=500", 0
        while url:
            _, body, _ = call(e, "GET", url)
            n += len(body["value"])
            url = body.get("@odata.nextLink")
        assert n == 100_000 and e.server.counts["GET /v1.0/users"] == 200
        assert time.perf_counter() - started < 30
    finally:
        e.stop()


def test_organization_answers_the_scenario_tenant_and_domains():
    e = emulator.start({"token": "t", "tenant_id": "tid-1", "domains": ["contoso.test", "contoso.example"], "users": []})
    try:
        _, body, _ = call(e, "GET", "/organization", token="t")
        [org] = body["value"]
        assert org["id"] == "tid-1" == e.tenant_id
        assert [(d["name"], d["isDefault"]) for d in org["verifiedDomains"]] == [("contoso.test", True),
                                                                                  ("contoso.example", False)]
    finally:
        e.stop()


def test_hostile_modes_misbehave_as_told():
    """Each `Hostile` mode, seen with a plain HTTP client (the adapter's side is in test_entra_bounds)."""
    e = emulator.start(generate(30, seed=1) | {"token": "t"})
    try:
        e.set_hostile(emulator.Hostile(repeat_next_link=True))
        _, first, _ = call(e, "GET", "/users?$top=10", token="t")
        _, second, _ = call(e, "GET", first["@odata.nextLink"], token="t")
        assert second["@odata.nextLink"] == first["@odata.nextLink"]
        e.set_hostile(emulator.Hostile(duplicate_ids=True))
        _, page, _ = call(e, "GET", "/users?$top=10", token="t")
        assert len(page["value"]) == 11 and page["value"][0] == page["value"][-1]
        e.set_hostile(emulator.Hostile(pad_bytes=5000))
        req = urllib.request.Request(f"{e.endpoint}/users?$top=1", headers={"Authorization": "Bearer t"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            raw = resp.read()
        assert len(raw) > 5000 and json.loads(raw)["value"]
        e.set_hostile(emulator.Hostile(drip_seconds=0.004, only=("GET /v1.0/organization",)))
        started = time.perf_counter()
        _, org, _ = call(e, "GET", "/organization", token="t")
        assert org["value"] and time.perf_counter() - started > 0.5  # over 200 bytes, 4 ms apart
        assert e.server.request_counts()["GET /v1.0/organization"] == 1
    finally:
        e.stop()


def test_hostile_redirect_names_another_server_and_nothing_of_the_request():
    e = emulator.start({"token": "t", "users": [], "hostile": {"redirect_to": "http://127.0.0.1:9", "redirect_status": 302}})

    class NoFollow(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        req = urllib.request.Request(f"{e.endpoint}/users?$top=5", headers={"Authorization": "Bearer t"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.build_opener(NoFollow).open(req, timeout=5)
        assert caught.value.code == 302
        assert caught.value.headers["Location"] == "http://127.0.0.1:9/v1.0/users?$top=5"
    finally:
        e.stop()


def _patch(rid: str, uid: str, **extra: object) -> dict:
    return {"id": rid, "method": "PATCH", "url": f"/users/{uid}", "headers": {"Content-Type": "application/json"},
            "body": {"accountEnabled": False}, **extra}


def test_batch_items_run_in_any_order_and_depends_on_orders_them():
    e = emulator.start(generate(6, seed=9))
    try:
        ids = [u["id"] for u in e.state.users]
        e.app.batch_order = "reversed"
        three = [_patch(str(n), uid) for n, uid in enumerate(ids[:3])]
        status, body, _ = call(e, "POST", "/$batch", {"requests": three})
        assert status == 200 and [r["id"] for r in body["responses"]] == ["2", "1", "0"]
        assert [uid for _, uid in e.state.events] == ids[2::-1]  # run in that order too
        chain = [_patch("1", ids[3]), {"id": "2", "method": "POST", "url": f"/users/{ids[3]}/revokeSignInSessions",
                                       "dependsOn": ["1"]}]
        call(e, "POST", "/$batch", {"requests": chain})
        assert e.state.events[-2:] == [("disable", ids[3]), ("revoke", ids[3])]
        failing = [_patch("1", "nobody"), {"id": "2", "method": "POST", "url": f"/users/{ids[4]}/revokeSignInSessions",
                                            "dependsOn": ["1"]}]
        _, body, _ = call(e, "POST", "/$batch", {"requests": failing})
        by_id = {r["id"]: r for r in body["responses"]}
        assert by_id["1"]["status"] == 404 and by_id["2"]["status"] == 424 and not e.state.revoked[ids[4]]
        mixed = [_patch("1", ids[4]), {"id": "2", "method": "POST", "url": f"/users/{ids[4]}/revokeSignInSessions",
                                        "dependsOn": ["1"]},
                 _patch("3", ids[5]), {"id": "4", "method": "POST", "url": f"/users/{ids[5]}/revokeSignInSessions",
                                        "dependsOn": ["3"]}]
        status, body, _ = call(e, "POST", "/$batch", {"requests": mixed})
        assert status == 400 and "dependsOn" in body["error"]["message"] and e.enabled(ids[4])
        status, body, _ = call(e, "POST", "/$batch", {"requests": [_patch("1", ids[5], dependsOn=["9"])]})
        assert status == 400 and e.enabled(ids[5])
    finally:
        e.stop()


def test_licence_refusals_that_come_and_go_and_an_item_error_without_a_code():
    e = emulator.start(generate(1100, seed=9))
    try:
        e.refuse_licence(1)
        assert call(e, "GET", f"/users?$select={SELECT}&$top=500")[0] == 403
        status, page, _ = call(e, "GET", f"/users?$select={SELECT}&$top=500")
        assert status == 200 and call(e, "GET", "/users?$select=id")[0] == 200
        e.refuse_licence(from_page=2)
        status, body, _ = call(e, "GET", page["@odata.nextLink"])
        assert status == 403 and body["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
        assert call(e, "GET", f"/users?$select={SELECT}&$top=500")[0] == 200  # the first page still answers
        uid = e.state.users[0]["id"]
        e.fail_batch_items({f"PATCH /users/{uid}": (403, "", "Insufficient privileges.")})
        _, body, _ = call(e, "POST", "/$batch", {"requests": [_patch("1", uid)]})
        [item] = body["responses"]
        assert item["status"] == 403 and item["body"]["error"] == {**item["body"]["error"], "code": "",
                                                                   "message": "Insufficient privileges."}
        assert e.enabled(uid)
    finally:
        e.stop()
