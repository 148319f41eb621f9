"""The object-store contract suite: every backend's tests subclass `StoreContract` and run it against
their emulator (moto's S3 server, gcp-storage-emulator, Azurite, or the in-process memory store).

A subclass provides two fixtures: `store`, an `ObjectStore` rooted at a fresh, empty prefix of an
existing bucket (with `page_size` set small, e.g. 5, where the backend has one, so paging is
exercised), and `missing`, a store whose bucket or container does not exist.
"""

from __future__ import annotations

import pytest

from sweeper.store import ObjectStore, StoreConflict, StoreMissing


class StoreContract:
    def test_is_an_object_store(self, store: ObjectStore) -> None:
        assert isinstance(store, ObjectStore)

    def test_get_of_an_absent_object_is_none(self, store: ObjectStore) -> None:
        assert store.get("nothing-here.json") is None

    def test_create_then_get_round_trips_bytes_and_version(self, store: ObjectStore) -> None:
        data = bytes(range(256)) * 4
        version = store.create("log/0000000001.json", data)
        assert isinstance(version, str) and version
        got = store.get("log/0000000001.json")
        assert got is not None and got[0] == data and got[1] == version

    def test_create_never_overwrites(self, store: ObjectStore) -> None:
        store.create("lease.json", b"first")
        with pytest.raises(StoreConflict):
            store.create("lease.json", b"second")
        got = store.get("lease.json")
        assert got is not None and got[0] == b"first"

    def test_replace_only_at_the_version_read(self, store: ObjectStore) -> None:
        v1 = store.create("lease.json", b"one")
        v2 = store.replace("lease.json", b"two", v1)
        assert v2 != v1
        with pytest.raises(StoreConflict):
            store.replace("lease.json", b"stale writer", v1)
        got = store.get("lease.json")
        assert got is not None and got == (b"two", v2)

    def test_replace_of_an_absent_object_is_a_conflict(self, store: ObjectStore) -> None:
        with pytest.raises(StoreConflict):
            store.replace("gone.json", b"x", "1")

    def test_delete_is_conditional_and_idempotent(self, store: ObjectStore) -> None:
        v1 = store.create("lease.json", b"one")
        v2 = store.replace("lease.json", b"two", v1)
        with pytest.raises(StoreConflict):
            store.delete("lease.json", v1)
        assert store.get("lease.json") is not None
        store.delete("lease.json", v2)
        assert store.get("lease.json") is None
        store.delete("lease.json")  # absent: not an error

    def test_put_overwrites_unconditionally(self, store: ObjectStore) -> None:
        store.put("reports/run.json", b"{}")
        store.put("reports/run.json", b'{"a": 1}')
        got = store.get("reports/run.json")
        assert got is not None and got[0] == b'{"a": 1}'

    def test_list_is_sorted_relative_and_follows_every_page(self, store: ObjectStore) -> None:
        names = [f"log/{n:010d}.json" for n in range(12, 0, -1)]
        for name in names:
            store.create(name, name.encode())
        store.create("snapshot/0000000005.json.gz", b"s")
        store.create("lease.json", b"l")
        assert store.list("log/") == sorted(names)
        assert store.list("log/", after="log/0000000009.json") == [
            "log/0000000010.json", "log/0000000011.json", "log/0000000012.json"]
        assert store.list() == sorted([*names, "snapshot/0000000005.json.gz", "lease.json"])
        assert store.list("nothing/") == []

    def test_prefixes_do_not_see_each_other(self, store: ObjectStore, sibling: ObjectStore) -> None:
        store.create("lease.json", b"mine")
        assert sibling.get("lease.json") is None and sibling.list() == []
        sibling.create("lease.json", b"theirs")  # no conflict across prefixes

    def test_a_missing_bucket_is_named(self, missing: ObjectStore) -> None:
        for call in (lambda: missing.get("x"), lambda: missing.create("x", b"x"), lambda: missing.list()):
            with pytest.raises(StoreMissing) as err:
                call()
            assert missing.location.url in str(err.value)
