"""The shipped adapter contract suite runs on the in-process fake too (a real, registered adapter),
the way fsspec's abstract tests run on its memory filesystem: the suite itself is tested on a
provider with no network in between."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sweeper import registry
from sweeper.model import Activity, CredentialKind
from sweeper.testing.contract import AdapterContract, ContractSetup
from tests.fakes import FakeCloud, FakeSettings, FakeUser

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)


class TestFakeContract(AdapterContract):
    @pytest.fixture
    def contract(self, cloud: FakeCloud) -> ContractSetup:
        for n in range(5):
            cloud.add(FakeUser(f"user{n}@example.com", NOW - timedelta(days=n * 40), NOW - timedelta(days=900),
                               keys=n % 3))
        cloud.add(FakeUser("garbled@example.com", None, NOW - timedelta(days=900),
                           activity=Activity.UNKNOWN,
                           note="lastLogin 'yesterday-ish' is not a date"))
        settings = FakeSettings(cloud="default")

        def wrong_binding():
            cloud.credentials_for = "tenant-evil"
            return registry.create("fake", settings, write=False)

        def bad_auth():
            cloud.reject_auth = True
            return registry.create("fake", settings, write=True)

        return ContractSetup(
            adapter=registry.create("fake", settings, write=True), identity_count=6,
            target_login="user1@example.com", target_kind=CredentialKind.ACCOUNT,
            break_listing=lambda: setattr(cloud, "fail_listing_after", 2), bad_auth=bad_auth,
            read_only=lambda: registry.adapter_class("fake")(settings, write=False),
            garbled_login="garbled@example.com", wrong_binding=wrong_binding)
