"""The in-process memory store runs the object-store contract (it stands in for the clouds in the
journal's own tests)."""

from __future__ import annotations

import uuid

import pytest

from stores.memory import MemoryStore
from sweeper.store import open_store
from sweeper.testing.store_contract import StoreContract


class TestMemoryContract(StoreContract):
    @pytest.fixture
    def store(self):
        MemoryStore.make_bucket("journals")
        return open_store(f"memory://journals/{uuid.uuid4().hex}/sweeper")

    @pytest.fixture
    def sibling(self, store):
        return open_store(f"{store.location.url}-other")

    @pytest.fixture
    def missing(self):
        return open_store("memory://no-such-bucket/x")
