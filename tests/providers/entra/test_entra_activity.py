"""Every signInActivity form Graph shows, judged through the emulator and the adapter's listing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from providers.entra.scenario import NO_SIGN_IN
from providers.entra.users import CREATED_NULL_BEFORE, RECORDED_SINCE, SUCCESS_SINCE, parse_time, sign_in
from sweeper.model import Activity
from tests.providers.entra.support import listing, running, tenant, user

UTC = timezone.utc
CREATED = datetime(2021, 5, 3, tzinfo=UTC)  # after Graph's sign-in record began (2020-05-01)
RECENT = datetime(2025, 5, 20, 8, 30, tzinfo=UTC)
OLD = datetime(2023, 6, 1, 12, 0, tzinfo=UTC)

CASES = {
    # login: (user keyword arguments, expected activity, expected last_used)
    "success": (dict(success=RECENT, interactive=RECENT), Activity.SEEN, RECENT),
    "success-then-failed-attempts": (dict(success=OLD.replace(year=2024), interactive=RECENT, non_interactive=RECENT),
                                     Activity.SEEN, OLD.replace(year=2024)),
    "seven-digit-fraction": (dict(success="2025-05-20T08:30:00.1234567Z"), Activity.SEEN,
                             datetime(2025, 5, 20, 8, 30, 0, 123456, tzinfo=UTC)),
    "sentinel": (dict(success=NO_SIGN_IN, interactive=NO_SIGN_IN, non_interactive=NO_SIGN_IN), Activity.NEVER, None),
    "empty-string": (dict(success="", interactive=""), Activity.NEVER, None),
    "null": (dict(success=None, interactive=None, non_interactive=None), Activity.NEVER, None),
    "empty-object": (dict(), Activity.NEVER, None),
    "property-absent": (dict(sign_in=False), Activity.NEVER, None),
    "sprayed-dormant": (dict(success=None, interactive=RECENT, non_interactive=RECENT), Activity.NEVER, None),
    "sprayed-with-old-attempt": (dict(success=NO_SIGN_IN, interactive=OLD, non_interactive=RECENT),
                                 Activity.SEEN, OLD),
    "pre-2023-12-only-attempts": (dict(interactive=OLD), Activity.SEEN, OLD),
    "attempts-no-success-field": (dict(interactive=RECENT, non_interactive=OLD), Activity.SEEN, SUCCESS_SINCE),
    "unparseable-success": (dict(success="last tuesday", interactive=RECENT), Activity.UNKNOWN, None),
    "unparseable-attempt": (dict(success=None, interactive="2025-13-45T00:00:00Z"), Activity.UNKNOWN, None),
    "naive-time": (dict(success="2025-05-20T08:30:00"), Activity.UNKNOWN, None),
    "number-instead-of-time": (dict(success=1716192000), Activity.UNKNOWN, None),
    "disabled": (dict(enabled=False, success=OLD), Activity.SEEN, OLD),
}


@pytest.fixture(scope="module")
def identities():
    users = [user(f"{login}@example.test", created=CREATED, **kwargs) for login, (kwargs, _, _) in CASES.items()]
    never_no_created = user("never-absent-created@example.test", created=None, sign_in=False)
    del never_no_created["createdDateTime"]  # not Graph's documented null: a property missing from the answer
    never_bad_created = user("never-bad-created@example.test", created="not a date", sign_in=False)
    seen_no_created = user("seen-no-created@example.test", created=None, success=RECENT)
    odd = user("odd@example.test", created=CREATED, success=RECENT)
    odd["accountEnabled"] = "yes"
    nameless = user("nameless@example.test", created=CREATED, success=RECENT)
    del nameless["id"]
    pending = user("p#EXT#@example.test", created=CREATED, user_type="Guest", external_state="PendingAcceptance",
                   success=None)
    scn = tenant(users + [never_no_created, never_bad_created, seen_no_created, odd, nameless, pending])
    with pytest.MonkeyPatch.context() as mp, running(scn, mp) as (_, adapter):
        yield listing(adapter)


@pytest.mark.parametrize("login", list(CASES))
def test_sign_in_forms(identities, login):
    _, activity, last_used = CASES[login]
    [cred] = identities[f"{login}@example.test"].credentials
    assert cred.activity is activity, cred.activity_note
    assert cred.last_used == last_used
    assert cred.created == CREATED
    if activity is Activity.UNKNOWN:
        assert cred.activity_note


def test_notes_explain_the_2023_cutoff(identities):
    capped = identities["attempts-no-success-field@example.test"].credentials[0]
    assert "2023-12-01" in capped.activity_note and "2025-05-20" in capped.activity_note
    sprayed = identities["sprayed-dormant@example.test"].credentials[0]
    assert "not activity" in sprayed.activity_note


def test_never_needs_a_creation_date(identities):
    for login in ("never-absent-created", "never-bad-created"):
        cred = identities[f"{login}@example.test"].credentials[0]
        assert cred.activity is Activity.UNKNOWN and "createdDateTime" in cred.activity_note
    seen = identities["seen-no-created@example.test"].credentials[0]
    assert seen.activity is Activity.SEEN and seen.created is None


# -- Graph's documented gaps: no sign-in on record before 2020-05-01, createdDateTime null before 2018-06-01 --

EMPTY_FORMS = {"absent": dict(sign_in=False), "null-property": dict(sign_in=None), "empty-object": dict(),
               "sentinels": dict(success=NO_SIGN_IN, interactive=NO_SIGN_IN, non_interactive=NO_SIGN_IN),
               "blank": dict(success="", interactive="", non_interactive=None)}
RECORDING = datetime(2020, 5, 1, tzinfo=UTC)


def _graph_user(login: str, created: object, form: dict) -> dict:
    """A user as Graph shows it; `sign_in=None` sends `"signInActivity": null`."""
    if form.get("sign_in", True) is None:
        raw = user(login, created=created, sign_in=False)
        raw["signInActivity"] = None
        return raw
    return user(login, created=created, **form)


@pytest.fixture(scope="module")
def old_accounts():
    ages = {"created-null": None, "created-2017": datetime(2017, 3, 9, tzinfo=UTC), "created-on-the-day": RECORDING,
            "created-a-second-later": RECORDING.replace(second=1)}
    users = [_graph_user(f"{age}.{form}@example.test", created, kw)
             for age, created in ages.items() for form, kw in EMPTY_FORMS.items()]
    users.append(user("guest.created-null@example.test", created=None, user_type="Guest",
                      external_state="PendingAcceptance", sign_in=False))
    sprayed = user("sprayed.created-null@example.test", created=None, success=None, interactive=RECENT)
    users.append(sprayed)
    with pytest.MonkeyPatch.context() as mp, running(tenant(users), mp) as (_, adapter):
        yield listing(adapter)


@pytest.mark.parametrize("form", list(EMPTY_FORMS))
@pytest.mark.parametrize("age", ["created-null", "created-2017", "created-on-the-day"])
def test_nothing_on_record_for_an_old_account_is_at_most_2020_05_01(old_accounts, age, form):
    """Graph has no sign-in before April 2020 (non-interactive: May 2020): an account that existed then
    and shows none may have signed in up to 2020-05-01, so that is its last activity, never "never"."""
    cred = old_accounts[f"{age}.{form}@example.test"].credentials[0]
    assert cred.activity is Activity.SEEN and cred.last_used == RECORDED_SINCE == RECORDING, cred.activity_note
    assert "at most 2020-05-01" in cred.activity_note and "April 2020" in cred.activity_note
    if age == "created-null":
        assert cred.created is None and "createdDateTime is null" in cred.activity_note
        assert "2018-06-01" in cred.activity_note
    else:
        assert cred.created is not None and f"created {cred.created:%Y-%m-%d}" in cred.activity_note


@pytest.mark.parametrize("form", list(EMPTY_FORMS))
def test_nothing_on_record_for_a_newer_account_is_never(old_accounts, form):
    cred = old_accounts[f"created-a-second-later.{form}@example.test"].credentials[0]
    assert cred.activity is Activity.NEVER and cred.last_used is None and cred.created == RECORDING.replace(second=1)


def test_never_with_created_null_is_created_at_most_2018_06_01(old_accounts):
    """A reading that says "never used" needs the creation date; null means before 2018-06-01 (Graph's
    user reference), so the account has not been used since then at the latest."""
    for login, why in (("guest.created-null", "guest invitation never redeemed"),
                       ("sprayed.created-null", "failed attempts")):
        cred = old_accounts[f"{login}@example.test"].credentials[0]
        assert cred.activity is Activity.SEEN and cred.last_used == CREATED_NULL_BEFORE, cred.activity_note
        assert why in cred.activity_note and "createdDateTime is null" in cred.activity_note
        assert "2018-06-01" in cred.activity_note


def test_the_dates_are_the_ones_graph_documents():
    """The bounds come from the reference text msgraph-sdk ships with its generated models."""
    import inspect

    from msgraph.generated.models import sign_in_activity, user as user_model

    said = inspect.getsource(user_model) + inspect.getsource(sign_in_activity)
    assert "last signed in before April 2020" in said  # User.signInActivity
    assert "non-interactive sign-ins going back to May 2020" in said  # SignInActivity
    assert "null for some users created before June 2018" in said  # User.createdDateTime
    assert (RECORDED_SINCE, CREATED_NULL_BEFORE) == (datetime(2020, 5, 1, tzinfo=UTC), datetime(2018, 6, 1, tzinfo=UTC))


def test_disabled_account_is_a_disabled_credential(identities):
    ident = identities["disabled@example.test"]
    assert not ident.enabled and not ident.credentials[0].enabled
    assert identities["success@example.test"].credentials[0].enabled


def test_malformed_records_become_unknown_not_crashes(identities):
    odd = identities["odd@example.test"].credentials[0]
    assert odd.activity is Activity.UNKNOWN and "accountEnabled" in odd.activity_note
    nameless = [i for i in identities.values() if "user without an id" in (i.credentials[0].activity_note or "")]
    assert len(nameless) == 1 and nameless[0].id and nameless[0].credentials[0].activity is Activity.UNKNOWN


def test_pending_guest_is_never_even_with_sign_in_fields(identities):
    cred = identities["p#EXT#@example.test"].credentials[0]
    assert cred.activity is Activity.NEVER and "never redeemed" in cred.activity_note


def test_parse_time_forms():
    assert parse_time(None) is parse_time("") is parse_time(NO_SIGN_IN) is None
    assert parse_time("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("2024-01-02T04:04:05+01:00") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("2024-01-02")


def test_signin_activity_of_wrong_type_is_unknown():
    assert sign_in("2024-01-01").activity is Activity.UNKNOWN
    assert sign_in(None).activity is Activity.NEVER


def test_a_new_hire_being_sprayed_is_not_judged_from_2023(monkeypatch, tmp_path):
    """Issue #29's reproduction, through the CLI: created 2026-11-20, attempts only, no success key.

    Every "no such sign-in" form of the success field (absent, null, "", 0001-01-01) gives the same
    answer: never signed in successfully, 10 days old, so not a finding.
    """
    import json

    from typer.testing import CliRunner

    from providers.entra import emulator
    from sweeper.cli import app

    created = datetime(2026, 11, 20, tzinfo=UTC)
    attempt = datetime(2026, 11, 29, 3, 12, tzinfo=UTC)
    forms = {"absent": {}, "null": dict(success=None), "empty": dict(success=""), "sentinel": dict(success=NO_SIGN_IN)}
    users = [user(f"hire-{name}@example.test", created=created, interactive=attempt, non_interactive=None, **kw)
             for name, kw in forms.items()]
    users.append(user("old-timer@example.test", created=datetime(2020, 1, 1, tzinfo=UTC), interactive=attempt))
    scn = tenant(users)
    with emulator.start(scn) as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        cfg = tmp_path / "sweeper.toml"
        cfg.write_text("[policy]\nmax_disable_percent = 100\n" + emu.config_toml())
        r = CliRunner().invoke(app, ["plan", "-c", str(cfg), "--as-of", "2026-11-30", "-f", "json"])
    assert r.exit_code == 0, r.output
    findings = {f["identity"]: f for f in json.loads(r.stdout)["findings"]}
    assert not [login for login in findings if login.startswith("hire-")], findings
    old = findings["old-timer@example.test"]  # existed before 2023-12-01: a bound, judged from it
    assert old["decision"] == "disable" and old["last_used"].startswith("2023-12-01")
