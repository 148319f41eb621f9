"""#21: activity beyond lastLoginTime from the Reports API's user usage report, through the CLI and the
adapter against the Directory emulator's Reports API (its lag, warnings, paging and 403 mode)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from providers.google_workspace import emulator, usage
from providers.google_workspace.adapter import REPORT_TRIES, GoogleWorkspaceAdapter
from providers.google_workspace.client import SCOPE_REPORTS
from providers.google_workspace.emulator import ListingFaults
from providers.google_workspace.scenario import user
from providers.google_workspace.settings import GoogleSettings
from sweeper.cli import app
from sweeper.errors import DataError, ProviderError
from sweeper.kit.times import BadTime
from sweeper.model import Activity, Credential

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
AS_OF = NOW.isoformat()
CUSTOMER = "C0usage01"
TOKEN = "ya29.usage-SECRET-token"
ENV = "SWEEPER_GOOGLE_TOKEN"
REPORTS = "GET /admin/reports/v1/usage/users/all/dates/"


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def people() -> list[dict[str, Any]]:
    """Everyone idle by lastLoginTime (200 days, or never), each with another kind of use, or none."""
    def idle(n: int, name: str, **kw: Any) -> dict[str, Any]:
        kw.setdefault("last_login", ago(days=200))
        return user(f"{500 + n}", f"{name}@usage.test", created=ago(days=900), **kw)

    return [idle(1, "imap.user"), idle(2, "sso.only", last_login=None), idle(3, "pop.fading"),
            idle(4, "drive.user"), idle(5, "webmail.user"), idle(6, "idle"), idle(7, "never", last_login=None)]


USES = {"imap.user@usage.test": {"imap": stamp(ago(days=3))},
        "sso.only@usage.test": {"sso": stamp(ago(days=10))},
        "pop.fading@usage.test": {"pop": stamp(ago(days=25)), "webmail": stamp(ago(days=28))},
        "drive.user@usage.test": {"drive": stamp(ago(days=40))},
        "webmail.user@usage.test": {"webmail": stamp(ago(days=6))},
        "never@usage.test": {"login": "1970-01-01T00:00:00.000Z"}}


def scenario(population: list[dict[str, Any]] | None = None, **reports: Any) -> dict[str, Any]:
    """The report lags: 2025-05-31 is the last date the API accepts, 05-30 and 05-31 are still being
    processed (DATA_NOT_AVAILABLE), so 2025-05-29 is the newest with data (as of 2025-06-01)."""
    section = {"available_through": "2025-05-31", "lag_days": 2, "users": USES, **reports}
    return {"customer_id": CUSTOMER, "domain": "usage.test", "token": TOKEN, "users": population or people(),
            "reports": section}


@pytest.fixture
def emu(clean_env: pytest.MonkeyPatch) -> Iterator[emulator.DirectoryEmulator]:
    em = emulator.start(scenario())
    clean_env.setenv(ENV, TOKEN)
    yield em
    em.stop()


def config(tmp_path: Path, em: emulator.DirectoryEmulator, **google: Any) -> str:
    path = tmp_path / "sweeper.toml"
    path.write_text("[policy]\ninactive_days = 90\nwarn_days = 14\nmax_disable = 100\nmax_disable_percent = 100\n"
                    f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n' + em.config_toml(**google))
    return str(path)


def plan(tmp_path: Path, em: emulator.DirectoryEmulator, **google: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """`sweeper plan -f json`: (the Google provider row, findings by login)."""
    run = CliRunner().invoke(app, ["plan", "-c", config(tmp_path, em, **google), "--as-of", AS_OF, "-f", "json"])
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    [row] = report["providers"]
    return row, {f["identity"]: f for f in report["findings"]}


def adapter(em: emulator.DirectoryEmulator, **settings: Any) -> GoogleWorkspaceAdapter:
    return GoogleWorkspaceAdapter(GoogleSettings(**{**em.config(), **settings}), write=False)


def listed(a: GoogleWorkspaceAdapter) -> dict[str, Credential]:
    [scope] = a.scopes()
    return {i.login: i.credentials[0] for i in a.list_identities(scope)}


# --- kept by a use lastLoginTime does not see ----------------------------------------------------------

def test_mail_client_sso_and_drive_users_are_kept(emu, tmp_path) -> None:
    row, found = plan(tmp_path, emu)
    assert row["status"] == "ok"
    assert "activity also from the usage report of 2025-05-29 (login, sso, imap, pop, webmail, drive)" in row["message"]
    assert "5 user(s) seen in use later than their lastLoginTime" in row["message"]
    # in use over IMAP, through SSO only (never signed in by lastLoginTime), on the web: not findings
    assert not {"imap.user@usage.test", "sso.only@usage.test", "webmail.user@usage.test"} & set(found)
    # POP 25 days and Drive 40 days ago: in use too. The one with no other use is disabled, and its
    # reason says the report was read
    idle = found["idle@usage.test"]
    assert idle["decision"] == "disable"
    assert idle["reason"].startswith("last used 2024-11-13 (lastLoginTime; nothing newer in the usage report of "
                                     "2025-05-29), 200 days ago")
    assert found["never@usage.test"]["decision"] == "disable"  # the report's epoch is no use either
    assert set(found) == {"idle@usage.test", "never@usage.test"}


def test_the_reason_names_the_signal(emu, tmp_path) -> None:
    """A use the report shows that is itself getting old: the warning names it and the report's date."""
    emu.directory.reports.uses["imap.user@usage.test"] = {"imap": stamp(ago(days=80))}  # out of Gmail's window
    emu.directory.reports.uses["pop.fading@usage.test"] = {"pop": stamp(ago(days=27))}
    emu.directory.reports.uses["sso.only@usage.test"] = {"sso": stamp(ago(days=82))}
    _, found = plan(tmp_path, emu, inactive_days=30, warn_days=7)
    warn = found["pop.fading@usage.test"]
    assert warn["decision"] == "warn" and warn["reason"].startswith(
        "last used 2025-05-05 (Gmail over POP: gmail:last_pop_time in the usage report of 2025-05-29), 27 days ago")
    sso = found["sso.only@usage.test"]
    assert sso["decision"] == "disable" and "SSO sign-in: accounts:last_sso_time in the usage report" in sso["reason"]
    # the IMAP use 80 days ago is outside the 30 days a Gmail signal covers: the report shows none
    assert "lastLoginTime; nothing newer" in found["imap.user@usage.test"]["reason"]


def test_the_adapter_joins_by_profile_id_and_reads_both_names(emu) -> None:
    emu.directory.reports.style, emu.directory.reports.int_unit = "timestamps", 1000  # appendix names, ms
    creds = listed(adapter(emu))
    imap = creds["imap.user@usage.test"]
    assert imap.activity is Activity.SEEN and imap.last_used == ago(days=3)
    assert imap.activity_note == "Gmail over IMAP: gmail:timestamp_last_imap in the usage report of 2025-05-29"
    sso = creds["sso.only@usage.test"]
    assert sso.activity is Activity.SEEN and sso.activity_note.startswith("SSO sign-in: accounts:timestamp_last_sso")
    assert creds["never@usage.test"].activity is Activity.NEVER


def test_gmail_window_and_lookback(emu, tmp_path) -> None:
    """Gmail's signals cover only the 30 days before the report: IMAP used 50 days ago is not in the
    newest report, so by lastLoginTime the user would be disabled; activity_lookback_days = 90 reads
    reports 30 days apart and keeps them."""
    emu.directory.reports.uses["imap.user@usage.test"] = {"imap": stamp(ago(days=50))}
    _, found = plan(tmp_path, emu)
    assert found["imap.user@usage.test"]["decision"] == "disable"
    emu.reset_counts()
    row, found = plan(tmp_path, emu, activity_lookback_days=90)
    assert "imap.user@usage.test" not in found
    assert "usage reports of 2025-05-29, 2025-04-29, 2025-03-30" in row["message"]
    assert emu.directory.reports.pages == {"2025-05-29": 1, "2025-04-29": 1, "2025-03-30": 1,
                                           "2025-05-30": 1, "2025-05-31": 1}


# --- the newest date with data ------------------------------------------------------------------------

def test_lag_and_warnings_step_back_to_an_older_date(emu) -> None:
    """The first date asked is yesterday by the real clock: the 400 names the newest accepted date;
    its warnings (still processing, then partial Gmail data) step back one day at a time."""
    emu.directory.reports.partial = {date(2025, 5, 29): ["gmail"]}
    a = adapter(emu)
    a.clock = lambda: NOW + timedelta(days=3)
    creds = listed(a)
    asked = [k[len(REPORTS):] for k in emu.server.request_counts() if k.startswith(REPORTS)]
    assert asked == ["2025-06-02", "2025-05-31", "2025-05-30", "2025-05-29", "2025-05-28"]
    assert a.scope_notes(CUSTOMER)[0].startswith("activity also from the usage report of 2025-05-28")
    assert creds["imap.user@usage.test"].activity_note.endswith("usage report of 2025-05-28")
    # a warning for an application no selected signal comes from does not step back
    emu.reset_counts()
    a = adapter(emu, activity_sources=["sso"])
    a.clock = lambda: NOW
    listed(a)
    assert emu.directory.reports.pages == {"2025-05-30": 1, "2025-05-29": 1}  # 05-29 warns for gmail only


def test_no_report_with_data_falls_back_with_a_note(emu, tmp_path) -> None:
    emu.directory.reports.lag_days = REPORT_TRIES + 5
    row, found = plan(tmp_path, emu)
    assert row["status"] == "ok" and "no usage report with data from" in row["message"]
    assert "activity is lastLoginTime alone" in row["message"]
    assert found["imap.user@usage.test"]["decision"] == "disable"  # judged as before the reports
    assert sum(n for k, n in emu.server.request_counts().items() if k.startswith(REPORTS)) == REPORT_TRIES


# --- without the scope ----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["forbidden", "token"])
def test_403_on_the_report_falls_back_to_last_login_time(emu, tmp_path, how) -> None:
    if how == "forbidden":
        emu.directory.reports.forbidden = True
    else:  # the token was minted without the reports scope
        emu.directory.reports.tokens = {"some-other-token"}
    row, found = plan(tmp_path, emu)
    assert row["status"] == "ok"  # measured by lastLoginTime, never not_measured for the whole customer
    assert "usage reports not readable" in row["message"] and SCOPE_REPORTS in row["message"]
    assert "activity is lastLoginTime alone" in row["message"] and "HTTP 403" in row["message"]
    assert found["idle@usage.test"]["decision"] == "disable"
    assert found["imap.user@usage.test"]["decision"] == "disable"  # what the fallback cannot see
    assert "lastLoginTime;" not in found["idle@usage.test"]["reason"]  # no report was read
    assert TOKEN not in row["message"]
    check = CliRunner().invoke(app, ["check", "-c", config(tmp_path, emu)])
    assert check.exit_code == 0 and "read usage reports" in check.stdout and "not probed" in check.stdout
    asked = CliRunner().invoke(app, ["check", "-c", config(tmp_path, emu, activity_sources=["imap", "sso"])])
    assert asked.exit_code == 4 and "FAILED" in asked.stdout  # asked for in the config: its refusal fails


def test_check_names_the_report_date(emu, tmp_path) -> None:
    run = CliRunner().invoke(app, ["check", "-c", config(tmp_path, emu)])
    assert run.exit_code == 0, run.output
    assert "read usage reports" in run.stdout and "2025-05-29" in run.stdout
    off = CliRunner().invoke(app, ["check", "-c", config(tmp_path, emu, activity_sources=[])])
    assert off.exit_code == 0 and "activity_sources = []" in off.stdout
    emu.reset_counts()
    plan(tmp_path, emu, activity_sources=[])
    assert not any(k.startswith(REPORTS) for k in emu.server.request_counts())


# --- paged, bounded, trusted --------------------------------------------------------------------------

def test_pages_of_1000_and_no_per_user_calls(emu) -> None:
    many = [user(f"{9000 + i}", f"u{i:05d}@usage.test", created=ago(days=900), last_login=ago(days=200))
            for i in range(2500)]
    uses = {f"u{i:05d}@usage.test": {"imap": stamp(ago(days=2))} for i in range(0, 2500, 2)}
    em = emulator.start(scenario(many, users=uses))
    try:
        em.server.reset_counts()
        creds = listed(adapter(em))
        counts = em.server.request_counts()
        assert em.directory.reports.pages == {"2025-05-29": 3, "2025-05-30": 1, "2025-05-31": 1}
        assert counts["GET /admin/directory/v1/users"] == 1 + 5  # the binding probe, 5 pages of 500
        assert sum(counts.values()) == 6 + 1 + 5  # + the first date asked (400), 2 processing, 3 pages
        kept = [c for c in creds.values() if c.activity_note and "IMAP" in c.activity_note]
        assert len(kept) == 1250 and all(c.last_used == ago(days=2) for c in kept)
    finally:
        em.stop()


@pytest.mark.parametrize("faults, settings, says", [
    (ListingFaults(repeat_token=True), {}, "the same next-page link came back twice"),
    (ListingFaults(redirect=(302, "http://127.0.0.1:9/elsewhere")), {}, "refused a redirect (HTTP 302"),
    (ListingFaults(foreign_customer="C0other"), {}, "belongs to customer 'C0other'"),
    (ListingFaults(oversize_bytes=2 * 1024 * 1024), {"max_response_mb": 1}, "larger than max_response_mb = 1"),
])
def test_a_broken_report_fails_the_scope(faults, settings, says, clean_env, tmp_path) -> None:
    many = [user(f"{9000 + i}", f"u{i:05d}@usage.test", created=ago(days=900), last_login=ago(days=200))
            for i in range(1100)]
    em = emulator.start(scenario(many))
    clean_env.setenv(ENV, TOKEN)
    try:
        em.report_faults = faults
        with pytest.raises((DataError, ProviderError), match=re.escape(says)):
            listed(adapter(em, **settings))
        run = CliRunner().invoke(app, ["plan", "-c", config(tmp_path, em, **settings), "--as-of", AS_OF, "-f", "json"])
        assert run.exit_code == 4, run.output
        [row] = json.loads(run.stdout)["providers"]
        assert row["status"] == "failed" and says in row["message"]
        assert not em.directory.writes
    finally:
        em.stop()


def test_an_unplaceable_value_keeps_the_user_unknown(emu, tmp_path) -> None:
    emu.directory.reports.raw = {"idle@usage.test": [{"name": "gmail:last_imap_time", "datetimeValue": "soon"}],
                                 "pop.fading@usage.test": [{"name": "gmail:timestamp_last_pop", "intValue": "12345"}]}
    _, found = plan(tmp_path, emu)
    idle = found["idle@usage.test"]
    assert idle["decision"] == "unknown" and "gmail:last_imap_time 'soon' is not a time (usage report of " \
        "2025-05-29); a use it may show is not known; never disabled" in idle["reason"]
    assert found["pop.fading@usage.test"]["decision"] == "unknown"
    assert "12345 is no timestamp" in found["pop.fading@usage.test"]["reason"]


# --- the pure reading ---------------------------------------------------------------------------------

DAY = date(2025, 5, 29)


@pytest.mark.parametrize("param, want", [
    ({"datetimeValue": "2025-05-20T10:00:00.000Z"}, datetime(2025, 5, 20, 10, tzinfo=timezone.utc)),
    ({"datetimeValue": "1970-01-01T00:00:00.000Z"}, None),
    ({"datetimeValue": ""}, None),
    ({"intValue": "0"}, None),
    ({"intValue": "1747735200"}, datetime(2025, 5, 20, 10, tzinfo=timezone.utc)),  # seconds
    ({"intValue": "1747735200000"}, datetime(2025, 5, 20, 10, tzinfo=timezone.utc)),  # milliseconds
    ({"intValue": 1747735200000000}, datetime(2025, 5, 20, 10, tzinfo=timezone.utc)),  # microseconds
])
def test_values_are_placed(param, want) -> None:
    assert usage.place({"name": "x", **param}, DAY) == want


@pytest.mark.parametrize("param", [
    {"datetimeValue": "2025-05-20T10:00:00"},  # no zone
    {"datetimeValue": 5},
    {"intValue": "17477352000"},  # between seconds and milliseconds: no unit fits
    {"intValue": "twelve"},
    {"intValue": "1800000000"},  # 2027: later than a report of 2025-05-29 can know
    {"boolValue": True},
])
def test_values_that_cannot_be_placed(param) -> None:
    with pytest.raises(BadTime):
        usage.place({"name": "x", **param}, DAY)


def judged(u: usage.Usage, uid: str, login: str, last: datetime | None) -> tuple[Activity, datetime | None, str | None]:
    return u.judge(uid, login, Activity.SEEN if last else Activity.NEVER, last, None if last else "never signed in")


def test_join_by_profile_id_then_by_email_and_unknown_only_when_it_could_matter() -> None:
    u = usage.Usage(["imap", "sso"], CUSTOMER)
    reading = u.reading(DAY)
    reading.page({"usageReports": [
        {"entity": {"profileId": "1", "userEmail": "old.name@x.test"},  # renamed since: joined by its id
         "parameters": [{"name": "gmail:last_imap_time", "datetimeValue": "2025-05-20T10:00:00Z"}]},
        {"entity": {"userEmail": "Mail.Only@x.test"},  # no profileId: joined by email, case-insensitively
         "parameters": [{"name": "accounts:last_sso_time", "datetimeValue": "2025-05-21T10:00:00Z"}]},
        {"entity": {"profileId": "9", "userEmail": "gone@x.test"},  # a deleted user's: joined to nobody else
         "parameters": [{"name": "accounts:last_sso_time", "datetimeValue": "2025-05-22T10:00:00Z"}]},
        {"entity": {"profileId": "3"}, "parameters": [{"name": "gmail:last_imap_time", "datetimeValue": "bad"}]},
        {"entity": {"profileId": "4"}, "parameters": [{"name": "gmail:last_imap_time", "datetimeValue": "bad"},
                                                      {"name": "gmail:last_pop_time", "intValue": "7"}]},
    ]})
    assert u.by_id == {} and judged(u, "1", "new.name@x.test", ago(days=300))[1] == ago(days=300)  # not yet read
    reading.done()
    assert judged(u, "1", "new.name@x.test", ago(days=300)) == (
        Activity.SEEN, datetime(2025, 5, 20, 10, tzinfo=timezone.utc),
        "Gmail over IMAP: gmail:last_imap_time in the usage report of 2025-05-29")
    assert judged(u, "2", "mail.only@x.test", None)[0] is Activity.SEEN
    assert judged(u, "5", "gone@x.test", ago(days=300)) == (
        Activity.SEEN, ago(days=300), "lastLoginTime; not in the usage report of 2025-05-29")
    unsure = judged(u, "3", "c@x.test", ago(days=300))
    assert unsure[0] is Activity.UNKNOWN and "'bad' is not a time" in (unsure[2] or "")
    # signed in after anything the report could say: the unreadable value cannot matter
    assert judged(u, "4", "d@x.test", NOW)[0] is Activity.SEEN
    assert u.judge("6", "e@x.test", Activity.UNKNOWN, None, "lastLoginTime 'x'") == (
        Activity.UNKNOWN, None, "lastLoginTime 'x'")
    assert u.newer == 2
    with pytest.raises(usage.ReportShape):
        u.reading(DAY).page({"usageReports": [{"entity": {"profileId": "1", "customerId": "C0other"}}]})
    with pytest.raises(usage.ReportShape):
        u.reading(DAY).page({"usageReports": [{"parameters": []}]})
    with pytest.raises(usage.ReportShape):
        usage.warned_apps({"warnings": "soon"}, {"gmail"})
    assert usage.warned_apps({"warnings": [{"code": "PARTIAL_DATA_AVAILABLE", "data": [
        {"key": "application", "value": "docs"}]}]}, {"gmail"}) == []


def test_the_cost_benchmark_counts_the_report_requests() -> None:
    """bench/usage.py at a tiny size: the same users are stale with and without the report, and the
    report costs its pages plus the dates stepped past, nothing per user."""
    from bench import usage as bench_usage

    found = bench_usage.point(1500, 0, 1)
    on, off = found["median"]["on"], found["median"]["off"]
    assert off["report_requests"] == 0 and on["list_pages"] == off["list_pages"] == 3
    assert on["report_requests"] == 1 + 1 + 2  # a 400, a date still processed, 2 pages of 1,000
    assert on["requests"] - off["requests"] == 4
    assert "activity also from the usage report of 2025-05-30" in found["message_on"]
