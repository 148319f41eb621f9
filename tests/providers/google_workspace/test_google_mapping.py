"""Raw Directory users → neutral identities: activity, protection, exclusion, malformed records."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from providers.google_workspace import mapping
from providers.google_workspace.scenario import user
from sweeper.model import Activity

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
RULES = mapping.Rules.of(["/Service Accounts/"], True, "Robot@X.test")


def one(raw: object, rules: mapping.Rules = RULES):
    identity = mapping.identity(raw, "C1", rules, position=7)
    return identity, identity.credentials[0]


def test_sentinel_missing_and_empty_last_login_mean_never() -> None:
    for value in ("1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00Z", None, ""):
        raw = user("1", "a@x.test", created=NOW - timedelta(days=400))
        raw["lastLoginTime"] = value
        _, cred = one(raw)
        assert cred.activity is Activity.NEVER, value
        assert cred.created == NOW - timedelta(days=400) and cred.last_used is None
    del raw["lastLoginTime"]
    assert one(raw)[1].activity is Activity.NEVER


def test_seen_is_utc_whatever_the_offset() -> None:
    raw = user("1", "a@x.test", created=NOW, lastLoginTime="2025-05-01T12:00:00.000+02:00")
    _, cred = one(raw)
    assert cred.activity is Activity.SEEN and cred.last_used == datetime(2025, 5, 1, 10, tzinfo=timezone.utc)
    assert cred.last_used.tzinfo is timezone.utc


def test_garbled_dates_are_unknown_never_never() -> None:
    for bad in ("yesterday", "2025-13-45T00:00:00Z", "2025-05-01T12:00:00", 1714567890, {"t": 1}):
        raw = user("1", "a@x.test", created=NOW)
        raw["lastLoginTime"] = bad
        _, cred = one(raw)
        assert cred.activity is Activity.UNKNOWN and cred.activity_note, bad
    raw = user("1", "a@x.test", created=NOW, creationTime="garbage")  # never signed in, age unknown
    _, cred = one(raw)
    assert cred.activity is Activity.UNKNOWN and "creationTime" in cred.activity_note


def test_suspended_or_archived_are_disabled() -> None:
    assert not one(user("1", "a@x.test", created=NOW, suspended=True))[1].enabled
    identity, cred = one(user("1", "a@x.test", created=NOW, archived=True))
    assert not identity.enabled and not cred.enabled
    assert one(user("1", "a@x.test", created=NOW))[1].enabled


def test_admins_and_self_are_protected() -> None:
    assert one(user("1", "a@x.test", created=NOW, isAdmin=True))[0].protected_by == "super admin"
    identity, cred = one(user("1", "a@x.test", created=NOW, isDelegatedAdmin=True))
    assert identity.protected_by == cred.protected_by == "delegated admin"
    assert one(user("1", "robot@x.test", created=NOW))[1].protected_by == mapping.SELF
    relaxed = mapping.Rules.of([], False, None)
    assert one(user("1", "a@x.test", created=NOW, isAdmin=True), relaxed)[0].protected_by is None


def test_org_unit_exclusion_matches_whole_segments() -> None:
    def excluded(path: str) -> str | None:
        return one(user("1", "a@x.test", created=NOW, orgUnitPath=path))[0].excluded_by

    assert excluded("/Service Accounts") == "org unit /Service Accounts"
    assert excluded("/Service Accounts/bots") == "org unit /Service Accounts"
    assert excluded("/service accounts/Bots") == "org unit /Service Accounts"
    assert excluded("/Service Accounts Legacy") is None
    assert excluded("/") is None
    everything = mapping.Rules.of(["/"], True, None)
    assert one(user("1", "a@x.test", created=NOW, orgUnitPath="/Sales"), everything)[0].excluded_by == "org unit /"


def test_malformed_records_are_unknown_and_cannot_be_addressed() -> None:
    identity, cred = one({"primaryEmail": "a@x.test", "lastLoginTime": "2025-01-01T00:00:00Z"})
    assert identity.id == cred.credential_id == "missing-id:a@x.test" and cred.activity is Activity.UNKNOWN
    assert identity.login == "a@x.test" and "id" in cred.activity_note
    identity, cred = one("not a user")
    assert identity.id == "unreadable-record-7" and cred.activity is Activity.UNKNOWN
    for field, value in (("isAdmin", "false"), ("suspended", 0), ("orgUnitPath", 5), ("primaryEmail", None)):
        raw = user("1", "a@x.test", created=NOW, last_login=NOW)
        raw[field] = value
        identity, cred = one(raw)
        assert cred.activity is Activity.UNKNOWN and field in cred.activity_note, field
        assert identity.id == "1" and identity.login


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "primaryEmail", "isAdmin", "isDelegatedAdmin", "lastLoginTime",
                                        "creationTime", "suspended", "archived", "orgUnitPath", "name"]),
                       st.none() | st.booleans() | st.integers() | st.text(max_size=30)
                       | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)))
def test_any_record_maps_without_crashing(raw: dict) -> None:
    identity, cred = one(raw)
    assert identity.id and identity.login
    if cred.activity is Activity.UNKNOWN:
        assert cred.activity_note
    if not isinstance(raw.get("id"), str) or not raw.get("id"):
        assert cred.activity is Activity.UNKNOWN and identity.id.startswith("missing-id:")


def test_a_record_without_isadmin_is_unknown_when_admins_are_protected() -> None:
    raw = user("1", "a@x.test", created=NOW, last_login=NOW)
    del raw["isAdmin"]
    assert one(raw)[1].activity is Activity.UNKNOWN
    assert one(raw, mapping.Rules.of([], False, None))[1].activity is Activity.SEEN
