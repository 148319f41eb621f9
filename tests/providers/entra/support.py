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


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT with these claims: the emulator compares tokens as strings, the adapter reads claims."""
    import base64
    import json

    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"


class Recorder:
    """A server on another loopback port that records every request it gets (method, path, headers)
    and answers an empty Graph page: where a redirect would lead, and it must receive nothing."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str, str, dict[str, str]]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _record(self) -> None:
                seen.append((self.command, self.path, dict(self.headers.items())))
                body = b'{"value": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = _record

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def sweep(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, emu: emulator.GraphEmulator, *args: str,
          **keys: Any) -> Any:
    """Run `sweeper ARGS -c CONFIG` with the emulator's [providers.entra] section plus `keys`
    (a key set to None is left out). The result has .exit_code, .stdout and .stderr."""
    from typer.testing import CliRunner

    from providers.emulator import toml_section
    from sweeper.cli import app

    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "400")  # check's table on one line a row
    section = {k: v for k, v in {**emu.config(), **keys}.items() if v is not None}
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text("[policy]\nmax_disable_percent = 100\nmax_disable = 1000\n"
                   + toml_section("providers.entra", section))
    return CliRunner().invoke(app, [*args[:1], "-c", str(cfg), *args[1:]])
