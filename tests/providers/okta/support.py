"""Okta test helpers: a population in the API's shapes, an emulator per test, adapters configured as a
user would (endpoint, org_id, a token from a SWEEPER_* variable or a service app's private key)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from providers.okta.adapter import OktaAdapter
from providers.okta.emulator import OktaEmulator
from providers.okta.scenario import ORG_ID, user
from providers.okta.settings import OktaSettings

NOW = datetime.now(timezone.utc).replace(microsecond=0)
TOKEN = "00TestOktaApiToken-SECRET-do-not-leak"
ENV = "SWEEPER_TEST_OKTA_TOKEN"
DOMAIN = "x.test"


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def population(n: int) -> list[dict[str, Any]]:
    """`n` users, user00000 .. ; the first twelve are the special cases the tests name."""
    users = [user(f"user{i:05d}@{DOMAIN}", created=ago(days=400), last_login=ago(days=i % 300, hours=1))
             for i in range(n)]
    users[0].update(lastLogin=None, created=user(f"a@{DOMAIN}", created=ago(days=400))["created"])  # never, old
    users[1].update(lastLogin=None, created=user(f"a@{DOMAIN}", created=ago(days=3))["created"])  # never, new
    users[2].update(lastLogin=None, activated=user(f"a@{DOMAIN}", created=ago(days=5))["created"])  # old, activated now
    users[3].update(status="SUSPENDED")
    users[4].update(status="LOCKED_OUT")
    users[5].update(status="PROVISIONED", lastLogin=None)
    users[6].update(status="STAGED", lastLogin=None, activated=None)
    users[7].update(status="DEPROVISIONED")
    users[8].update(lastLogin="last tuesday")
    users[9].update(lastLogin=None, created="2024-13-45T00:00:00.000Z")
    users[10].update(status="PASSWORD_EXPIRED")
    return users


def scenario(n: int = 30, **extra: Any) -> dict[str, Any]:
    users = population(n)
    runner = user(f"sweeper@{DOMAIN}", created=ago(days=900), last_login=ago(days=200))
    admin = users[11]["id"]
    return {"org_id": ORG_ID, "users": [runner, *users], "admins": [runner["id"], admin],
            "api_tokens": {TOKEN: runner["id"]}, **extra}


def login(i: int) -> str:
    return f"user{i:05d}@{DOMAIN}"


class Clock:
    """Sleeps that move the emulator's clock on instead of waiting; each wait is recorded."""

    def __init__(self, emu: OktaEmulator) -> None:
        self.emu = emu
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.emu.advance(seconds)


@pytest.fixture
def make(monkeypatch):
    """make(scenario, write=True, **settings) -> (emulator, adapter); make(None, ...) reuses the last
    emulator. The adapter never really sleeps: its waits move the emulator's clock on."""
    monkeypatch.setenv(ENV, TOKEN)
    started: list[OktaEmulator] = []
    adapters: list[OktaAdapter] = []

    def build(scn: dict[str, Any] | None = None, *, write: bool = True, **settings: Any):
        emu = started[-1] if scn is None and started else OktaEmulator(scn or scenario()).start()
        if emu not in started:
            started.append(emu)
        opts = {**emu.config(), "token_env": ENV, "retries": 3, **settings}
        adapter = OktaAdapter(OktaSettings(**opts), write=write)
        adapter.client.sleep = Clock(emu)
        adapter.client.now = emu.clock
        adapters.append(adapter)
        return emu, adapter

    yield build
    for adapter in adapters:
        adapter.close()
    for emu in started:
        emu.stop()


def listing(adapter: OktaAdapter) -> dict[str, Any]:
    return {i.login: i for scope in adapter.scopes() for i in adapter.list_identities(scope)}
