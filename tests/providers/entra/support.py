"""Shared helpers for the Entra tests: seeded emulators and adapters pointed at them by configuration."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import pytest

from providers.entra import emulator, scenario
from providers.entra.adapter import EntraAdapter
from providers.entra.settings import EntraSettings

TOKEN_ENV = "SWEEPER_TEST_ENTRA_TOKEN"


def settings(emu: emulator.GraphEmulator, **overrides: Any) -> EntraSettings:
    """What a user would write: the endpoint and auth = access_token with the token in an env var."""
    return EntraSettings(endpoint=emu.endpoint, auth="access_token", token_env=TOKEN_ENV, **overrides)


@contextmanager
def running(scn: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *, write: bool = True,
            **overrides: Any) -> Iterator[tuple[emulator.GraphEmulator, EntraAdapter]]:
    emu = emulator.start(scn)
    monkeypatch.setenv(TOKEN_ENV, emu.token)
    adapter = EntraAdapter(settings(emu, **overrides), write=write)
    try:
        yield emu, adapter
    finally:
        adapter.close()
        emu.stop()


def tenant(users: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"tenant_id": "11111111-2222-3333-4444-555555555555", "token": "emulator-secret-token",
            "licensed": True, "users": users, "role_assignments": [], "groups": {}, **extra}


def listing(adapter: EntraAdapter) -> dict[str, Any]:
    """Identities by login."""
    [scope] = adapter.scopes()
    return {i.login: i for i in adapter.list_identities(scope)}


user = scenario.user
generate = scenario.generate
