"""Issue #18 item 4: every Graph listing ends, whatever the server does.

A next-page link seen twice, a listing past listing_deadline_seconds, an answer larger than
max_response_mb, an answer dripped a byte at a time past timeout_seconds, a listing that repeats a
user: each fails its scope with a clear message, exit 4, and nothing in it is disabled. The deadlines
here are small so that each test takes a second or two.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import datetime, timezone

import httpx
import pytest

from providers.emulator import Faults
from providers.entra import emulator
from providers.entra.emulator import Hostile
from providers.entra.transport import BoundedTransport, Refused
from sweeper.errors import DataError, ProviderError
from tests.providers.entra.support import generate, listing, running, sweep, tenant, user

UTC = timezone.utc
STALE = [user(f"stale{i:03d}@example.test", created=datetime(2020, 1, 1, tzinfo=UTC),
              success=datetime(2021, 1, 1, tzinfo=UTC)) for i in range(30)]


def failed_scope_and_nothing_disabled(tmp_path, monkeypatch, emu, **keys) -> str:
    """`sweeper apply` against a misbehaving emulator: exit 4, its scope failed; returns the message."""
    r = sweep(tmp_path, monkeypatch, emu, "apply", "--yes", "-f", "json", "--as-of", "2025-06-01", **keys)
    assert r.exit_code == 4, r.output
    assert "Traceback" not in r.output
    [scope] = json.loads(r.stdout)["providers"]
    assert scope["status"] == "failed" and scope["message"], scope
    assert not emu.server.request_counts().get("POST /v1.0/$batch") and not emu.state.patches
    assert all(emu.enabled(u["id"]) for u in STALE)
    return str(scope["message"])


# -- a next-page link that comes back ---------------------------------------------------------------

def test_a_repeated_next_link_is_an_error_not_a_loop(monkeypatch):
    with running(tenant(list(STALE)), monkeypatch) as (emu, adapter):
        adapter.scopes()
        emu.set_hostile(Hostile(repeat_next_link=True))
        with pytest.raises(DataError, match="same next-page link came back twice"):
            listing(adapter)
        assert emu.server.request_counts()["GET /v1.0/users"] == 2  # the first page, and its link once


def test_a_repeated_next_link_fails_the_scope(tmp_path, monkeypatch):
    with emulator.start(tenant(list(STALE), hostile={"repeat_next_link": True})) as emu:
        message = failed_scope_and_nothing_disabled(tmp_path, monkeypatch, emu)
    assert "next-page link came back twice" in message


def test_a_looping_role_listing_fails_too(monkeypatch):
    scn = tenant(list(STALE), role_assignments=[{"principalId": STALE[0]["id"], "roleDefinitionId": "r"}],
                 hostile={"repeat_next_link": True, "only": ["GET /v1.0/roleManagement"]})
    with running(scn, monkeypatch) as (_, adapter):
        with pytest.raises(DataError, match="list directory role assignments.*came back twice"):
            listing(adapter)


# -- the whole listing's deadline -----------------------------------------------------------------

def test_the_listing_deadline_ends_a_slow_listing(monkeypatch):
    """Each page is answered in time (0.3 s), but the pages together take longer than the deadline."""
    with running(generate(2500, seed=4), monkeypatch, skip_role_holders=False, listing_deadline_seconds=0.8,
                 timeout_seconds=5) as (emu, adapter):
        adapter.scopes()
        emu.server.set_faults(Faults(latency_ms=300, only=("GET /v1.0/users",)))
        started = time.monotonic()
        with pytest.raises(ProviderError, match="listing_deadline_seconds = 0.8"):
            listing(adapter)
        assert time.monotonic() - started < 3
        assert emu.server.request_counts()["GET /v1.0/users"] < 5  # 5 pages, not all reached


def test_the_listing_deadline_cuts_a_request_in_flight(monkeypatch):
    with running(tenant(list(STALE)), monkeypatch, listing_deadline_seconds=0.5, timeout_seconds=30) as (emu, adapter):
        adapter.scopes()
        emu.server.set_faults(Faults(latency_ms=4000, only=("GET /v1.0/users",)))
        started = time.monotonic()
        with pytest.raises(ProviderError, match="listing_deadline_seconds = 0.5"):
            listing(adapter)
        assert time.monotonic() - started < 2.5  # not the 4 s answer, nor the 30 s timeout


# -- one answer: its size and its deadline ----------------------------------------------------------

def test_an_oversized_answer_is_refused(monkeypatch):
    with running(tenant(list(STALE)), monkeypatch, max_response_mb=0.05) as (emu, adapter):
        adapter.scopes()
        emu.set_hostile(Hostile(pad_bytes=200_000))
        with pytest.raises(DataError, match="larger than max_response_mb = 0.05"):
            listing(adapter)
        emu.set_hostile(Hostile())
        assert len(listing(adapter)) == len(STALE)  # the same limit lets a normal page through


def test_an_oversized_answer_fails_the_scope(tmp_path, monkeypatch):
    with emulator.start(tenant(list(STALE), hostile={"pad_bytes": 300_000})) as emu:
        message = failed_scope_and_nothing_disabled(tmp_path, monkeypatch, emu, max_response_mb=0.1)
    assert "max_response_mb" in message


def test_a_dripping_server_hits_the_request_deadline(monkeypatch):
    """One byte every 0.02 s never trips httpx's per-read timeout of 0.6 s; the whole-answer deadline does."""
    with running(tenant(list(STALE)), monkeypatch, timeout_seconds=0.6, max_retries=1) as (emu, adapter):
        adapter.scopes()
        emu.set_hostile(Hostile(drip_seconds=0.02))
        started = time.monotonic()
        with pytest.raises(ProviderError, match="timeout_seconds = 0.6.*a little at a time"):
            listing(adapter)
        assert time.monotonic() - started < 3


def test_a_dripping_server_fails_the_scope(tmp_path, monkeypatch):
    with emulator.start(tenant(list(STALE), hostile={"drip_seconds": 0.02})) as emu:
        message = failed_scope_and_nothing_disabled(tmp_path, monkeypatch, emu, timeout_seconds=0.6)
    assert "timeout_seconds" in message


# -- duplicates -----------------------------------------------------------------------------------

def test_a_listing_that_repeats_a_user_fails_the_scope(tmp_path, monkeypatch):
    with emulator.start(tenant(list(STALE), hostile={"duplicate_ids": True})) as emu:
        message = failed_scope_and_nothing_disabled(tmp_path, monkeypatch, emu)
    assert STALE[0]["id"] in message and "twice" in message


# -- the transport itself -------------------------------------------------------------------------

def _bounded(handler, **kw) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=BoundedTransport(httpx.MockTransport(handler), **kw))


async def _get(client: httpx.AsyncClient) -> httpx.Response:
    async with client:
        return await client.get("http://127.0.0.1:1/v1.0/users")


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_compressed_answer_is_measured_as_it_inflates(declared):
    """A gzip body of a few KB that inflates to 2 MB is refused at 1 MB, whether or not its length is declared."""
    import asyncio

    body = gzip.compress(b" " * (2 * 1024 * 1024))

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Encoding": "gzip"}
        if not declared:
            return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))
        return httpx.Response(200, headers={**headers, "Content-Length": str(len(body))}, content=body)

    assert len(body) < 1024 * 1024
    with pytest.raises(Refused, match="larger than max_response_mb = 1") as caught:
        asyncio.run(_get(_bounded(handler, timeout=5, max_bytes=1024 * 1024)))
    assert caught.value.data


def test_a_small_compressed_answer_is_passed_on_decoded():
    import asyncio

    page = json.dumps({"value": [{"id": "u1"}]}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=gzip.compress(page))

    resp = asyncio.run(_get(_bounded(handler, timeout=5, max_bytes=1024)))
    assert resp.status_code == 200 and resp.json() == {"value": [{"id": "u1"}]}
    assert "content-encoding" not in resp.headers
