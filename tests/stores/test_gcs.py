"""The GCS backend against gcp-storage-emulator: the object-store contract, the emulator's conditional
writes at the wire, errors mapped and named by URL."""

from __future__ import annotations

import socket
import time
import uuid
from types import SimpleNamespace

import pytest

pytest.importorskip("google.cloud.storage")
pytest.importorskip("gcp_storage_emulator")

import requests  # noqa: E402
from google.api_core import exceptions as api  # noqa: E402

from stores import emulator_gcs  # noqa: E402
from stores.gcs import GcsStore  # noqa: E402
from sweeper.store import (StoreConflict, StoreDenied, StoreError, StoreUnavailable, open_store,  # noqa: E402
                           parse_url)
from sweeper.testing.store_contract import StoreContract  # noqa: E402


@pytest.fixture(scope="module")
def gcs():
    with pytest.MonkeyPatch.context() as mp:
        try:
            emu = emulator_gcs.start()
        except Exception as err:  # the reason is the test report
            pytest.skip(f"gcp-storage-emulator did not start: {type(err).__name__}: {err}")
        for name, value in emu.env().items():
            mp.setenv(name, value)
        with emu:
            emu.make_bucket("journals")
            yield emu


def _open(url: str, emu, **settings) -> GcsStore:
    return open_store(url, SimpleNamespace(**emu.config(), **settings))


class TestGcsContract(StoreContract):
    @pytest.fixture
    def store(self, gcs):
        store = _open(f"gs://journals/{uuid.uuid4().hex}/sweeper", gcs)
        store.page_size = 5
        return store

    @pytest.fixture
    def sibling(self, gcs, store):
        return _open(f"{store.location.url}-other", gcs)

    @pytest.fixture
    def missing(self, gcs):
        return _open("gs://no-such-bucket/x", gcs)


def test_the_emulator_answers_preconditions_like_gcs(gcs) -> None:
    """412 conditionNotMet on ifGenerationMatch 0 and N for uploads and deletes; nothing changes."""
    upload = f"{gcs.endpoint_url}/upload/storage/v1/b/journals/o"
    name = f"raw/{uuid.uuid4().hex}"
    first = requests.post(upload, params={"uploadType": "media", "name": name, "ifGenerationMatch": "0"}, data=b"a")
    assert first.status_code == 200
    generation = first.json()["generation"]
    again = requests.post(upload, params={"uploadType": "media", "name": name, "ifGenerationMatch": "0"}, data=b"b")
    assert again.status_code == 412 and again.json()["error"]["errors"][0]["reason"] == "conditionNotMet"
    stale = requests.post(upload, params={"uploadType": "media", "name": name, "ifGenerationMatch": "1"}, data=b"c")
    assert stale.status_code == 412
    obj = f"{gcs.endpoint_url}/storage/v1/b/journals/o/{requests.utils.quote(name, safe='')}"
    assert requests.delete(obj, params={"ifGenerationMatch": "1"}).status_code == 412
    got = requests.get(f"{gcs.endpoint_url}/download/storage/v1/b/journals/o/{requests.utils.quote(name, safe='')}",
                       params={"alt": "media"})
    assert got.content == b"a" and got.headers["X-Goog-Generation"] == generation
    assert requests.delete(obj, params={"ifGenerationMatch": generation}).status_code in (200, 204)
    assert requests.delete(obj, params={"ifGenerationMatch": generation}).status_code == 404
    listing = f"{gcs.endpoint_url}/storage/v1/b/journals/o"
    for n in range(3):
        requests.post(upload, params={"uploadType": "media", "name": f"{name}/{n}"}, data=b"x")
    page = requests.get(listing, params={"prefix": f"{name}/", "maxResults": "2", "startOffset": f"{name}/1"}).json()
    assert [o["name"] for o in page["items"]] == [f"{name}/1", f"{name}/2"] and "nextPageToken" not in page
    page = requests.get(listing, params={"prefix": f"{name}/", "maxResults": "2"}).json()
    assert len(page["items"]) == 2 and page["nextPageToken"] == f"{name}/2"


def test_nothing_listening_is_unavailable_quickly() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = open_store("gs://journals/x", SimpleNamespace(endpoint_url=f"http://127.0.0.1:{port}", timeout_seconds=0.5))
    for call in (store.list, lambda: store.get("lease.json"), lambda: store.create("lease.json", b"x")):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as err:
            call()
        assert time.monotonic() - started < 5
        message = str(err.value)
        assert message.startswith("gs://journals/x") and "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize(("error", "kind", "words"), [
    (api.PreconditionFailed("412"), StoreConflict, "changed"),
    (api.Forbidden("403"), StoreDenied, "storage.objects.create and storage.objects.delete"),
    (api.Unauthorized("401"), StoreDenied, "rejected"),
    (api.TooManyRequests("429"), StoreUnavailable, "TooManyRequests"),
    (api.ServiceUnavailable("503"), StoreUnavailable, "ServiceUnavailable"),
    (api.RetryError("deadline", requests.ConnectionError("refused")), StoreUnavailable, "ConnectionError"),
    (api.BadRequest("400"), StoreError, "BadRequest 400"),
])
def test_errors_are_typed_and_name_the_url(error, kind, words) -> None:
    store = GcsStore.__new__(GcsStore)  # the mapping only, no client
    store.location = parse_url("gs://journals/team/sweeper")
    mapped = store._fail(error, "replace", "lease.json")
    assert type(mapped) is kind
    assert str(mapped).startswith("gs://journals/team/sweeper/lease.json: ") and words in str(mapped)
