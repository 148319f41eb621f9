"""The S3 backend against moto's S3 server: the object-store contract, and errors named by URL."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from sweeper.store import StoreUnavailable, open_store
from sweeper.testing.store_contract import StoreContract


class TestS3Contract(StoreContract):
    @pytest.fixture
    def store(self, s3):
        store = open_store(f"s3://journals/{uuid.uuid4().hex}/sweeper", SimpleNamespace(**s3.config()))
        store.page_size = 5
        return store

    @pytest.fixture
    def sibling(self, s3, store):
        return open_store(f"{store.location.url}-other", SimpleNamespace(**s3.config()))

    @pytest.fixture
    def missing(self, s3):
        return open_store("s3://no-such-bucket/x", SimpleNamespace(**s3.config()))


def test_nothing_listening_is_unavailable(s3) -> None:
    store = open_store("s3://journals/x", SimpleNamespace(endpoint_url="http://127.0.0.1:9", region="us-east-1",
                                                         timeout_seconds=1))
    with pytest.raises(StoreUnavailable) as err:
        store.list()
    assert "s3://journals/x" in str(err.value)
