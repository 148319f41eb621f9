"""Directory and Reports API answers in the real shape (tests/fixtures/google, sources named there):
the 1970 "never signed in" value, every field the API sends beside the ones read, both report styles;
mapped directly and served through the Directory emulator."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from providers.google_workspace import emulator, mapping, usage
from providers.google_workspace.adapter import GoogleWorkspaceAdapter
from providers.google_workspace.settings import GoogleSettings
from sweeper.model import Activity, Identity

FIXTURES = Path(__file__).parents[2] / "fixtures" / "google"
PAGE = json.loads((FIXTURES / "users_list_page.json").read_text())
REPORT = json.loads((FIXTURES / "usage_report_page.json").read_text())
CUSTOMER = "C03az79cb"
RULES = mapping.Rules.of(["/Offboarding"], True, None)
UTC = timezone.utc
TOKEN = "ya29.fixture-token"


def by_login(identities: list[Identity]) -> dict[str, Identity]:
    return {i.login: i for i in identities}


def mapped(report: usage.Usage | None = None) -> dict[str, Identity]:
    return by_login([mapping.identity(raw, CUSTOMER, RULES, n, report) for n, raw in enumerate(PAGE["users"])])


def test_the_1970_value_is_never_signed_in_and_judged_by_age() -> None:
    users = mapped()
    liz, old = users["liz@example.com"].credentials[0], users["old.hire@example.com"].credentials[0]
    assert liz.activity is old.activity is Activity.NEVER and liz.last_used is old.last_used is None
    assert liz.created == datetime(2024, 1, 24, 17, 35, 54, tzinfo=UTC)
    assert old.created == datetime(2018, 8, 15, 20, 54, 52, tzinfo=UTC)
    assert liz.enabled and old.enabled
    assert not any(i.credentials[0].activity is Activity.UNKNOWN for i in users.values())  # nothing unread


def test_the_other_users_of_the_page() -> None:
    users = mapped()
    leaver = users["leaver@example.com"]
    assert not leaver.enabled and leaver.excluded_by == "org unit /Offboarding"
    admin = users["admin@example.com"]
    assert admin.protected_by == "super admin" and admin.credentials[0].activity is Activity.SEEN
    assert admin.credentials[0].last_used == datetime(2025, 5, 30, 7, 45, 12, tzinfo=UTC)
    helpdesk = users["helpdesk@example.com"]
    assert helpdesk.protected_by == "delegated admin" and helpdesk.credentials[0].activity is Activity.NEVER
    assert not users["alumni@example.com"].enabled  # archived
    assert users["liz@example.com"].display_name == "Elizabeth Smith"
    assert users["liz@example.com"].id == "103582519378064212001" and users["liz@example.com"].owner == "liz@example.com"


def read_report(sources: list[str]) -> usage.Usage:
    report = usage.Usage(sources, CUSTOMER)
    reading = report.reading(date.fromisoformat(REPORT["usageReports"][0]["date"]))
    reading.page(REPORT)
    reading.done()
    return report


def test_the_report_page_1970_and_zero_are_no_use_and_a_later_imap_use_counts() -> None:
    users = mapped(read_report(["login", "sso", "imap", "pop"]))
    liz = users["liz@example.com"].credentials[0]
    assert liz.activity is Activity.NEVER  # 1970 and "0" in the report are no use either
    old = users["old.hire@example.com"].credentials[0]  # never signed in, but reads mail over IMAP
    assert old.activity is Activity.SEEN and old.last_used == datetime(2025, 5, 20, 8, 30, tzinfo=UTC)
    assert "gmail:timestamp_last_imap" in (old.activity_note or "")
    admin = users["admin@example.com"].credentials[0]  # the report's login is older than lastLoginTime
    assert admin.last_used == datetime(2025, 5, 30, 7, 45, 12, tzinfo=UTC)


def test_the_report_warning_names_its_application() -> None:
    assert usage.warned_apps(REPORT, {"accounts", "gmail", "drive"}) == ["drive"]
    assert usage.warned_apps(REPORT, {"accounts", "gmail"}) == []


# -- served by the emulator --------------------------------------------------------------------------

@pytest.fixture
def served(clean_env: pytest.MonkeyPatch) -> Iterator[emulator.DirectoryEmulator]:
    em = emulator.start({"customer_id": CUSTOMER, "domain": "example.com", "token": TOKEN,
                         "users": copy.deepcopy(PAGE["users"])})
    clean_env.setenv("SWEEPER_GOOGLE_TOKEN", TOKEN)
    yield em
    em.stop()


def test_the_page_through_the_emulator_maps_as_the_page_does(served: emulator.DirectoryEmulator) -> None:
    adapter = GoogleWorkspaceAdapter(GoogleSettings(**served.config(), activity_sources=[],
                                                    exclude_org_units=["/Offboarding"]), write=False)
    assert adapter.scopes() == [CUSTOMER]
    listed = by_login(list(adapter.list_identities(CUSTOMER)))
    direct = mapped()
    assert listed.keys() == direct.keys()
    for login, identity in listed.items():
        want = direct[login]
        assert (identity.id, identity.enabled, identity.protected_by, identity.excluded_by, identity.credentials) == \
            (want.id, want.enabled, want.protected_by, want.excluded_by, want.credentials), login
    adapter.close()


def test_what_the_listing_asks_for_is_all_the_mapping_reads() -> None:
    """The `fields=` selection keeps every field the mapping reads: mapping the selected users gives
    the same identities as mapping the whole objects."""
    from providers.google_workspace import wire

    selection = wire.parse_fields(mapping.LIST_FIELDS)
    trimmed: Any = wire.select(PAGE, selection)
    assert set(trimmed) == {"users"} and len(trimmed["users"]) == len(PAGE["users"])
    assert "emails" not in trimmed["users"][0] and "lastLoginTime" in trimmed["users"][0]
    again = by_login([mapping.identity(raw, CUSTOMER, RULES, n) for n, raw in enumerate(trimmed["users"])])
    assert {k: v.credentials for k, v in again.items()} == {k: v.credentials for k, v in mapped().items()}
