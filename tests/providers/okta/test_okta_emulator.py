"""The Okta emulator answers in the API's shapes: user records, Link headers, error bodies, rate-limit
headers, lifecycle status codes and the token endpoint's checks of a client assertion."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt

from providers.okta.emulator import OktaEmulator
from tests.providers.okta.support import TOKEN, login, scenario
from tests.providers.okta.test_okta_auth import CLIENT, OTHER_PRIVATE, PRIVATE, PUBLIC

FIELDS = {"id", "status", "created", "activated", "statusChanged", "lastLogin", "lastUpdated", "passwordChanged",
          "type", "profile", "credentials", "_links"}


def test_users_pages_errors_and_rate_limit_headers() -> None:
    with OktaEmulator(scenario(250)) as emu:
        ssws = {"Authorization": f"SSWS {TOKEN}"}
        first = httpx.get(f"{emu.base_url}/api/v1/users", params={"limit": 200}, headers=ssws)
        assert first.status_code == 200 and len(first.json()) == 200
        assert set(first.json()[0]) == FIELDS and set(first.json()[0]["profile"]) >= {"login", "email", "firstName"}
        assert first.links["next"]["url"].startswith(f"{emu.base_url}/api/v1/users?after=")
        assert int(first.headers["x-rate-limit-remaining"]) == int(first.headers["x-rate-limit-limit"]) - 1
        assert int(first.headers["x-rate-limit-reset"]) > time.time()
        second = httpx.get(first.links["next"]["url"], headers=ssws)
        assert len(second.json()) == 50 and "next" not in second.links  # 250 + the token's user - 1 deactivated
        missing = httpx.get(f"{emu.base_url}/api/v1/users/00unope", headers=ssws)
        assert missing.status_code == 404 and missing.json()["errorCode"] == "E0000007"
        assert set(missing.json()) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
        unauth = httpx.get(f"{emu.base_url}/api/v1/users", headers={"Authorization": "SSWS nope"})
        assert unauth.status_code == 401 and unauth.json()["errorCode"] == "E0000011"
        uid = next(u["id"] for u in first.json() if u["profile"]["login"] == login(20))
        ok = httpx.post(f"{emu.base_url}/api/v1/users/{uid}/lifecycle/suspend", headers=ssws)
        assert ok.status_code == 200 and ok.json() == {}
        again = httpx.post(f"{emu.base_url}/api/v1/users/{uid}/lifecycle/suspend", headers=ssws)
        assert again.status_code == 400 and again.json()["errorCode"] == "E0000001"
        emu.throttle(1)
        limited = httpx.get(f"{emu.base_url}/api/v1/users/{uid}", headers=ssws)
        assert limited.status_code == 429 and limited.json()["errorCode"] == "E0000047"
        assert "x-rate-limit-reset" in limited.headers and "retry-after" not in limited.headers


def _assertion(base: str, key: str, **claims: object) -> str:
    now = int(time.time())
    body = {"iss": CLIENT, "sub": CLIENT, "aud": f"{base}/oauth2/v1/token", "iat": now, "exp": now + 300,
            "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(body, key, algorithm="RS256")


def test_the_token_endpoint_checks_the_assertion() -> None:
    scn = scenario(12, clients=[{"client_id": CLIENT, "public_key": PUBLIC, "scopes": ["okta.users.read"]}])
    with OktaEmulator(scn) as emu:
        url = f"{emu.base_url}/oauth2/v1/token"

        def ask(assertion: str, scope: str = "okta.users.read") -> httpx.Response:
            return httpx.post(url, data={"grant_type": "client_credentials", "scope": scope, "client_assertion":
                                         assertion, "client_assertion_type":
                                         "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})

        good = _assertion(emu.base_url, PRIVATE)
        answer = ask(good)
        assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
        token = answer.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{emu.base_url}/api/v1/users", headers=bearer).status_code == 200
        roles = httpx.get(f"{emu.base_url}/api/v1/iam/assignees/users", headers={"Authorization": f"Bearer {token}"})
        assert roles.status_code == 403 and roles.json()["errorCode"] == "E0000006"  # no okta.roles.read
        assert ask(good).json()["error"] == "invalid_client"  # a jti used twice
        assert ask(_assertion(emu.base_url, OTHER_PRIVATE)).status_code == 401  # another key
        assert ask(_assertion(emu.base_url, PRIVATE, aud="https://elsewhere/oauth2/v1/token")).status_code == 401
        assert ask(_assertion(emu.base_url, PRIVATE, exp=int(time.time()) - 10)).status_code == 401
        assert ask(_assertion(emu.base_url, PRIVATE), "okta.users.manage").json()["error"] == "invalid_scope"
