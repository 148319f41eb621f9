"""Credential report parsing: every value form, the root row, malformed rows (no emulator needed)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from providers.aws_iam.report import ROOT_LOGIN, Report, Unreadable, parse_when
from sweeper.model import Activity, CredentialKind

FIXTURE = Path(__file__).parent / "fixtures" / "aws_credential_report.csv"
UTC = timezone.utc


def _rows() -> dict[str, object]:
    report = Report(FIXTURE.read_bytes())
    return {login: report.row(fields, f"id-{login}") for login, fields in report.by_login().items()}


def _creds(row: object) -> dict[str, object]:
    return {c.credential_id if c.kind is CredentialKind.ACCESS_KEY else "password": c
            for c in row.credentials}


@pytest.mark.parametrize("value, expected", [
    ("2025-05-30T12:01:02+00:00", datetime(2025, 5, 30, 12, 1, 2, tzinfo=UTC)),
    ("2025-05-30T14:01:02+02:00", datetime(2025, 5, 30, 12, 1, 2, tzinfo=UTC)),
    ("2025-05-30T12:01:02Z", datetime(2025, 5, 30, 12, 1, 2, tzinfo=UTC)),
    ("N/A", None), ("no_information", None), ("not_supported", None), ("", None),
])
def test_parse_when_reads_every_report_form(value: str, expected: datetime | None) -> None:
    assert parse_when(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2025-05-30T12:01:02", "true", "31/05/2025"])
def test_parse_when_refuses_what_it_cannot_read(value: str) -> None:
    with pytest.raises(Unreadable):
        parse_when(value)


def test_root_row_is_read_from_a_real_format_report() -> None:
    rows = _rows()
    assert list(rows)[0] == ROOT_LOGIN  # AWS puts the root row first
    root = rows[ROOT_LOGIN]
    assert root.arn == "arn:aws:iam::123456789012:root"
    assert root.created == datetime(2014, 3, 5, 16, 48, 7, tzinfo=UTC)
    creds = _creds(root)
    assert set(creds) == {"password"}  # both key slots empty: no key credentials
    pw = creds["password"]
    assert pw.enabled and pw.activity is Activity.SEEN  # password_enabled is not_supported for root
    assert pw.last_used == datetime(2025, 5, 20, 8, 14, 55, tzinfo=UTC)


def test_two_keys_are_two_credentials_with_their_own_activity() -> None:
    creds = _creds(_rows()["alice"])
    assert creds["access_key_1"].last_used == datetime(2025, 5, 31, 9, tzinfo=UTC)
    assert creds["access_key_2"].last_used == datetime(2024, 2, 1, tzinfo=UTC)
    assert creds["access_key_2"].created == datetime(2024, 1, 15, tzinfo=UTC)
    assert all(c.activity is Activity.SEEN and c.enabled for c in creds.values())
    assert creds["password"].created == datetime(2019, 2, 11, 10, 5, tzinfo=UTC)  # password_last_changed


def test_never_used_forms() -> None:
    rows = _rows()
    key = _creds(rows["svc-build"])["access_key_1"]
    assert key.activity is Activity.NEVER and key.created == datetime(2013, 6, 1, tzinfo=UTC)
    assert "2015-04-22" in key.activity_note  # older than key-use tracking: said so
    assert not _creds(rows["svc-build"])["password"].enabled  # no login profile: already disabled
    bob = _creds(rows["bob"])
    assert bob["password"].activity is Activity.NEVER and bob["password"].activity_note is None
    assert bob["password"].created == datetime(2020, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert not bob["access_key_1"].enabled and bob["access_key_1"].activity is Activity.SEEN
    ancient = _creds(rows["ancient"])["password"]
    assert ancient.activity is Activity.NEVER and "2014-10-20" in ancient.activity_note


def test_quoted_names_with_commas_and_deleted_passwords() -> None:
    row = _rows()["ops,team"]
    assert row.arn.endswith("user/ops,team")
    pw = _creds(row)["password"]
    assert not pw.enabled and pw.last_used == datetime(2022, 1, 1, tzinfo=UTC)


def test_slots_keep_what_refresh_needs() -> None:
    report = Report(FIXTURE.read_bytes())
    fields = report.by_login()["alice"]
    slots = report.row(fields, "id").slots
    assert [(s.slot, s.last_rotated) for s in slots] == [
        (1, datetime(2019, 2, 11, 10, 6, tzinfo=UTC)), (2, datetime(2024, 1, 15, tzinfo=UTC))]


HEADER = FIXTURE.read_text().splitlines()[0]


def test_malformed_rows_become_unknown_with_a_note_never_a_crash() -> None:
    text = "\n".join([
        HEADER,
        "short,arn:aws:iam::1:user/short,2020-01-01T00:00:00+00:00",
        "garbled,arn:aws:iam::1:user/garbled,2020-01-01T00:00:00+00:00,true,last tuesday,N/A,N/A,false,"
        "maybe,2020-01-01T00:00:00+00:00,N/A,N/A,N/A,true,soon,N/A,N/A,N/A,false,N/A,false,N/A",
        "weird,arn:aws:iam::1:user/weird,2020-01-01T00:00:00+00:00,true,N/A,N/A,N/A,false,"
        "true,2020-01-01T00:00:00+00:00,not_supported,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
    ])
    report = Report(text)
    rows = {login: report.row(f, login) for login, f in report.by_login().items()}
    for row in rows.values():
        assert row.credentials
        assert all(c.activity_note for c in row.credentials if c.activity is Activity.UNKNOWN)
    assert rows["short"].credentials[0].activity is Activity.UNKNOWN
    garbled = _creds(rows["garbled"])
    assert garbled["password"].activity is Activity.UNKNOWN
    assert garbled["access_key_1"].activity is Activity.UNKNOWN  # "maybe" is not true/false
    assert garbled["access_key_2"].activity is Activity.UNKNOWN  # "soon" is not a date
    weird = _creds(rows["weird"])
    assert weird["password"].activity is Activity.UNKNOWN  # enabled but last used "N/A"
    assert weird["access_key_1"].activity is Activity.UNKNOWN  # not_supported is not "never"


def test_a_report_without_the_needed_columns_is_unreadable() -> None:
    with pytest.raises(Unreadable):
        Report("user,arn\nalice,arn:aws:iam::1:user/alice\n")
    with pytest.raises(Unreadable):
        Report(b"")


def test_password_reset_after_last_use_is_judged_from_the_reset() -> None:
    line = (f"{HEADER}\nreset,arn:aws:iam::1:user/reset,2020-01-01T00:00:00+00:00,true,"
            "2021-01-01T00:00:00+00:00,2025-05-20T00:00:00+00:00,N/A,false,false,N/A,N/A,N/A,N/A,"
            "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A")
    report = Report(line)
    pw = report.row(report.by_login()["reset"], "id").credentials[0]
    assert pw.activity is Activity.NEVER and pw.created == datetime(2025, 5, 20, tzinfo=UTC)
    assert "last sign-in 2021-01-01" in pw.activity_note
