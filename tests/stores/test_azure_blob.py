"""The Azure Blob backend against Azurite: the object-store contract, and errors named by URL (never a key)."""

from __future__ import annotations

import socket
import time
import uuid
from types import SimpleNamespace

import pytest

from stores import emulator_azurite
from sweeper.store import StoreDenied, StoreError, StoreUnavailable, open_store
from sweeper.testing.store_contract import StoreContract

ENV = "SWEEPER_TEST_AZURE_CONNECTION_STRING"


@pytest.fixture(scope="module")
def azurite():
    try:
        emu = emulator_azurite.start()
    except RuntimeError as err:
        pytest.skip(f"Azurite unavailable: {err}")
    with emu, pytest.MonkeyPatch.context() as mp:
        for name, value in emu.env(ENV).items():
            mp.setenv(name, value)
        emu.make_container("journals")
        yield emu


def _open(url: str, **settings: object):
    return open_store(url, SimpleNamespace(connection_string_env=ENV, **settings))


class TestAzureBlobContract(StoreContract):
    @pytest.fixture
    def store(self, azurite):
        store = _open(f"az://journals/{uuid.uuid4().hex}/sweeper")
        store.page_size = 5
        yield store
        store.close()

    @pytest.fixture
    def sibling(self, azurite, store):
        return _open(f"{store.location.url}-other")

    @pytest.fixture
    def missing(self, azurite):
        return _open("az://no-such-container/x")


def test_a_wrong_key_is_denied_and_the_key_is_not_shown(azurite, monkeypatch) -> None:
    wrong = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk="  # base64, so the client accepts it
    monkeypatch.setenv(ENV, azurite.connection_string(key=wrong))
    store = _open("az://journals/denied")
    with pytest.raises(StoreDenied) as err:
        store.create("lease.json", b"x")
    message = str(err.value)
    assert "az://journals/denied" in message and "creating" in message
    assert wrong not in message and emulator_azurite.KEY not in message and "\n" not in message


def test_nothing_listening_is_unavailable_quickly(monkeypatch) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = (f"DefaultEndpointsProtocol=http;AccountName={emulator_azurite.ACCOUNT};"
            f"AccountKey={emulator_azurite.KEY};BlobEndpoint=http://127.0.0.1:{port}/{emulator_azurite.ACCOUNT};")
    monkeypatch.setenv(ENV, conn)
    store = _open("az://journals/x", timeout_seconds=1, retries=1)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as err:
        store.list()
    assert time.monotonic() - started < 5
    assert "az://journals/x" in str(err.value) and emulator_azurite.KEY not in str(err.value)


def test_settings_must_name_one_credential_source(monkeypatch) -> None:
    with pytest.raises(StoreError, match="az://journals/x: set exactly one of"):
        open_store("az://journals/x", None)
    monkeypatch.delenv("SWEEPER_UNSET_FOR_TEST", raising=False)
    with pytest.raises(StoreError, match=r"\$SWEEPER_UNSET_FOR_TEST, which is not set"):
        open_store("az://journals/x", SimpleNamespace(connection_string_env="SWEEPER_UNSET_FOR_TEST"))
