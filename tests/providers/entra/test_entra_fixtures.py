"""Graph users in the real shape (tests/fixtures/entra, each with its public source) through the adapter.

The oldest dormant accounts of a tenant show neither `createdDateTime` (null for some users created
before June 2018) nor `signInActivity` (absent with no sign-in since April 2020). They are judged by
those documented bounds, disabled when the bound is past the threshold, and the reason says so.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from providers.entra import emulator
from providers.entra.users import to_identity
from sweeper.model import Activity
from tests.providers.entra.support import sweep, tenant

UTC = timezone.utc
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "entra"
AS_OF = "2025-06-01"


def page() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "users_pre_2018.json").read_text(encoding="utf-8"))
    return loaded


def users() -> list[dict[str, Any]]:
    return list(page()["value"])


BOUND_2020 = datetime(2020, 5, 1, tzinfo=UTC)
# login: (activity, last_used, words the note must hold)
EXPECTED = {
    "Adams@contoso.com": (Activity.SEEN, BOUND_2020, ("createdDateTime is null", "at most 2020-05-01")),
    "admin@contoso.com": (Activity.SEEN, BOUND_2020, ("createdDateTime is null", "at most 2020-05-01")),
    "AdeleV@contoso.com": (Activity.SEEN, datetime(2021, 6, 17, 16, 41, 33, tzinfo=UTC), ("at most 2021-06-17",)),
    "AlexW@contoso.com": (Activity.SEEN, BOUND_2020, ("created 2017-03-09", "at most 2020-05-01")),
    "AdeleV_adatum.com#EXT#@contoso.com": (Activity.SEEN, datetime(2018, 6, 1, tzinfo=UTC),
                                           ("never redeemed", "createdDateTime is null", "2018-06-01")),
    "EricS@contoso.com": (Activity.SEEN, datetime(2021, 7, 29, 17, 53, 42, tzinfo=UTC), ("2021-07-29", "predates")),
}


def test_the_fixture_is_the_shape_the_adapter_selects():
    from providers.entra.users import SELECT

    fixture = page()
    assert fixture["@odata.context"].endswith(f"#users({SELECT})")
    assert {u["userPrincipalName"] for u in fixture["value"]} == set(EXPECTED)
    for raw in fixture["value"]:
        assert set(raw) <= set(SELECT.split(",")), raw["userPrincipalName"]
    absent = [u["userPrincipalName"] for u in fixture["value"] if "signInActivity" not in u]
    assert len(absent) == 4 and sum(u["createdDateTime"] is None for u in fixture["value"]) == 5


@pytest.mark.parametrize("login", list(EXPECTED))
def test_each_user_maps_to_its_documented_bound(login):
    [raw] = [u for u in users() if u["userPrincipalName"] == login]
    ident = to_identity(raw, "tenant", protect={}, exclude={}, skip_synced=True)
    [cred] = ident.credentials
    activity, last_used, words = EXPECTED[login]
    assert (cred.activity, cred.last_used) == (activity, last_used), cred.activity_note
    for word in words:
        assert word in (cred.activity_note or ""), (word, cred.activity_note)
    if raw["createdDateTime"] is None:
        assert cred.created is None  # a bound is not a creation date
    assert (ident.protected_by is not None) == (raw["onPremisesSyncEnabled"] is True)


def _plan(tmp_path, monkeypatch, emu, *command: str) -> tuple[Any, dict[str, Any]]:
    r = sweep(tmp_path, monkeypatch, emu, *command, "-f", "json", "--as-of", AS_OF)
    return r, json.loads(r.stdout)


def test_served_by_the_emulator_the_oldest_dormant_accounts_are_disabled(tmp_path, monkeypatch):
    """Issue #23.1: created before June 2018 (createdDateTime null) and no sign-in since April 2020
    (signInActivity absent) was `unknown`, so these accounts were never swept."""
    with emulator.start(tenant(users())) as emu:
        r, report = _plan(tmp_path, monkeypatch, emu, "plan")
        assert r.exit_code == 0, r.output
        findings = {f["identity"]: f for f in report["findings"]}
        assert not [f for f in findings.values() if f["decision"] == "unknown"], findings
        adams = findings["Adams@contoso.com"]
        assert adams["decision"] == "disable"
        assert "last used 2020-05-01" in adams["reason"] and "createdDateTime is null" in adams["reason"]
        assert "2018-06-01" in adams["reason"] and adams["last_used"].startswith("2020-05-01")
        assert findings["admin@contoso.com"]["decision"] == "protected"  # synced from on-premises
        guest = findings["AdeleV_adatum.com#EXT#@contoso.com"]
        assert guest["decision"] == "disable" and "never redeemed" in guest["reason"]

        r, report = _plan(tmp_path, monkeypatch, emu, "apply", "--yes")
        assert r.exit_code == 0, r.output
        disabled = {u["userPrincipalName"] for u in users() if not emu.enabled(u["id"])}
    assert disabled == set(EXPECTED) - {"admin@contoso.com"}
