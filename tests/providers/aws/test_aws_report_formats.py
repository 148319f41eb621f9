"""Credential reports in the real format (tests/fixtures/aws, each with its public source): the IAM User
Guide's `TRUE`/`FALSE` and the lowercase AWS serves both read the same, mapped and through the emulator."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from providers.aws_iam import emulator, scenarios
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.report import ROOT_LOGIN, Report, flag
from providers.aws_iam.settings import AwsSettings
from sweeper.model import Activity, Credential, CredentialKind

FIXTURES = Path(__file__).parents[2] / "fixtures" / "aws"
USER_GUIDE = (FIXTURES / "credential_report_user_guide.csv").read_text()
RECORDED = (FIXTURES / "credential_report_recorded.csv").read_text()
ACCOUNT = "111122223333"
UTC = timezone.utc


def mapped(text: str) -> dict[str, dict[str, Credential]]:
    """Each user's credentials by "password" / "access_key_N"."""
    report = Report(text)
    out = {}
    for login, line in report.by_login().items():
        row = report.row(line, f"id-{login}")
        out[login] = {c.credential_id if c.kind is CredentialKind.ACCESS_KEY else "password": c
                      for c in row.credentials}
    return out


def recase(text: str, change: Callable[[str], str]) -> str:
    """The report with every boolean cell rewritten by `change` (names and ARNs left alone)."""
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(rows[0])
    for row in rows[1:]:
        writer.writerow(row[:2] + [change(v) if v.lower() in ("true", "false") else v for v in row[2:]])
    return out.getvalue()


def state(creds: dict[str, Credential]) -> dict[str, tuple[Any, ...]]:
    return {k: (c.enabled, c.activity, c.created, c.last_used) for k, c in creds.items()}


@pytest.mark.parametrize("value, expected", [
    ("TRUE", True), ("FALSE", False), ("true", True), ("false", False), ("True", True), ("fAlSe", False),
    ("", None), ("yes", None), ("1", None), ("not_supported", None), (" true", None),
])
def test_report_booleans_in_either_case(value: str, expected: bool | None) -> None:
    assert flag(value) is expected


def test_the_user_guide_format_with_uppercase_booleans() -> None:
    users = mapped(USER_GUIDE)
    assert list(users)[0] == ROOT_LOGIN and set(users) == {ROOT_LOGIN, "Mary", "ci-deploy", "Arnav"}
    root = users[ROOT_LOGIN]
    assert set(root) == {"password"} and root["password"].enabled  # not_supported: the root user's password
    assert root["password"].last_used == datetime(2025, 4, 29, 9, 12, 40, tzinfo=UTC)
    mary = users["Mary"]
    assert set(mary) == {"password", "access_key_1"}  # key 2: FALSE with N/A is an empty slot
    assert mary["password"].enabled and mary["password"].activity is Activity.SEEN
    assert mary["access_key_1"].enabled and mary["access_key_1"].last_used == datetime(2025, 5, 30, 16, 5, tzinfo=UTC)
    ci = users["ci-deploy"]
    assert not ci["password"].enabled  # FALSE: no console password
    assert ci["access_key_1"].enabled and ci["access_key_1"].activity is Activity.SEEN
    assert ci["access_key_2"].enabled and ci["access_key_2"].activity is Activity.NEVER
    assert ci["access_key_2"].created == datetime(2024, 6, 10, 9, 30, tzinfo=UTC)
    arnav = users["Arnav"]
    assert arnav["password"].enabled and arnav["password"].activity is Activity.NEVER  # no_information
    assert arnav["password"].created == datetime(2023, 2, 14, 8, 0, 1, tzinfo=UTC)
    assert not arnav["access_key_1"].enabled and arnav["access_key_1"].activity is Activity.SEEN
    assert not any(c.activity is Activity.UNKNOWN for creds in users.values() for c in creds.values())


@pytest.mark.parametrize("change", [str.lower, str.capitalize], ids=["lower", "capitalized"])
def test_every_case_of_the_booleans_maps_the_same(change: Callable[[str], str]) -> None:
    upper = mapped(USER_GUIDE)
    other = mapped(recase(USER_GUIDE, change))
    assert {u: state(c) for u, c in other.items()} == {u: state(c) for u, c in upper.items()}
    assert mapped(recase(RECORDED, str.upper)).keys() == mapped(RECORDED).keys()
    assert {u: state(c) for u, c in mapped(recase(RECORDED, str.upper)).items()} == \
        {u: state(c) for u, c in mapped(RECORDED).items()}


def test_a_boolean_that_is_neither_is_unknown_never_a_guess() -> None:
    text = USER_GUIDE.replace("user/Mary,2019-03-05T10:02:11+00:00,TRUE,", "user/Mary,2019-03-05T10:02:11+00:00,Y,")
    password = mapped(text)["Mary"]["password"]
    assert password.activity is Activity.UNKNOWN and "password_enabled" in (password.activity_note or "")


def test_the_recorded_forms() -> None:
    users = mapped(RECORDED)
    assert list(users)[0] == ROOT_LOGIN and users[ROOT_LOGIN]["password"].enabled
    eli = users["eli"]["access_key_1"]  # used through a global endpoint: region N/A, service named
    assert eli.activity is Activity.SEEN and eli.last_used == datetime(2016, 11, 15, 21, 36, tzinfo=UTC)
    dana = users["dana"]
    assert dana["access_key_1"].activity is Activity.NEVER and dana["access_key_2"].activity is Activity.SEEN
    assert dana["password"].last_used == datetime(2016, 11, 16, 14, 10, tzinfo=UTC)  # next_rotation is not use
    assert set(users["idle"]) == {"password"} and not users["idle"]["password"].enabled
    assert users["fay"]["password"].activity is Activity.NEVER and users["fay"]["password"].enabled
    assert users["svc-test"]["access_key_1"].activity is Activity.NEVER


def test_a_root_row_that_says_false_has_no_password() -> None:
    text = USER_GUIDE.replace("root,2019-03-04T17:20:43+00:00,not_supported,", "root,2019-03-04T17:20:43+00:00,FALSE,")
    assert not mapped(text)[ROOT_LOGIN]["password"].enabled


# -- through the emulator ---------------------------------------------------------------------------

def _scenario() -> dict[str, Any]:
    """The fixture's users in moto, so that the fixture can be served as the account's report."""
    users = [{"name": "sweeper", "created": "2020-01-01T00:00:00+00:00",
              "keys": [{"created": "2020-01-01T00:00:00+00:00", "last_used": None, "caller": True}]},
             {"name": "Mary", "created": "2019-03-05T10:02:11+00:00"},
             {"name": "ci-deploy", "created": "2021-07-19T12:00:05+00:00"},
             {"name": "Arnav", "created": "2023-02-14T08:00:00+00:00"}]
    return {"accounts": {ACCOUNT: {"users": users}}}


def _listing(emu: emulator.AwsEmulator, scope: str = ACCOUNT) -> dict[str, dict[str, tuple[Any, ...]]]:
    """(enabled, activity, last use) of each credential of each user, as the adapter lists `scope`."""
    settings = AwsSettings.model_validate({**emu.config(), "report_poll_seconds": 0.01,
                                           "report_timeout_seconds": 5, "max_attempts": 1})
    adapter = AwsIamAdapter(settings, write=False)
    found = {}
    for identity in adapter.list_identities(scope):
        found[identity.login] = {c.credential_id if c.kind is CredentialKind.ACCESS_KEY else "password":
                                 (c.enabled, c.activity, c.last_used) for c in identity.credentials}
    return found


def test_the_user_guide_report_served_by_the_emulator(start_emulator: Callable[..., emulator.AwsEmulator]) -> None:
    emu = start_emulator(_scenario())
    emu.report_hook = lambda _: USER_GUIDE
    upper = _listing(emu)
    assert upper["Mary"]["password"] == (True, Activity.SEEN, datetime(2025, 5, 28, 14, 41, 9, tzinfo=UTC))
    assert upper["ci-deploy"]["password"][0] is False and upper["ci-deploy"]["access_key_2"][:2] == (True, Activity.NEVER)
    assert upper["sweeper"] == {}  # newer than the report: no row, nothing judged
    emu.report_hook = lambda _: recase(USER_GUIDE, str.lower)
    assert _listing(emu) == upper


def test_uppercase_booleans_from_the_emulator_judge_like_lowercase(
        start_emulator: Callable[..., emulator.AwsEmulator]) -> None:
    emu = start_emulator(scenarios.basic(scenarios.DEFAULT_NOW))
    emu.report_hook = None
    lower = _listing(emu, scenarios.MANAGEMENT)
    emu.report_hook = lambda text: recase(text, str.upper)
    upper = _listing(emu, scenarios.MANAGEMENT)
    # the sweeper's own key is used by each listing, so its last use moves on between the two
    assert {k: v for k, v in upper.items() if k != "sweeper-bot"} == {k: v for k, v in lower.items() if k != "sweeper-bot"}
    assert lower["key-inactive"]["access_key_1"][0] is False and lower["mixed-keys"]["access_key_2"][0] is True
