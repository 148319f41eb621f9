"""Incomplete and bad data: a listing that breaks part-way fails its provider and disables nothing there;
a malformed identity record is UNKNOWN with a reason, never a crash and never a disable."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings, strategies as st

from providers.aws_iam import report as aws_report
from providers.entra import scenario as graph
from providers.google_workspace import scenario as directory
from sweeper.model import Activity
from tests.reliability import world
from tests.reliability.harness import provider_status, record, sweeper, written

GRAPH_USERS = "GET /v1.0/users"
DIRECTORY_USERS = "GET /admin/directory/v1/users"


def fillers(at: datetime, n: int) -> tuple[list[dict], list[dict]]:
    """n active users per provider after the interesting ones: listings of two pages (500 a page)."""
    entra = [graph.user(f"filler{i}@{world.DOMAIN}", created=at - timedelta(days=400),
                        success=at - timedelta(days=i % 30)) for i in range(n)]
    google = [directory.user(f"30{i:019d}", f"filler{i}@{world.DOMAIN}", created=at - timedelta(days=400),
                             last_login=at - timedelta(days=i % 30), customer_id=world.CUSTOMER) for i in range(n)]
    return entra, google


def two_pages(served):
    at = world.now()
    entra, google = fillers(at, 600)
    return served.reset(world.scenario(at, entra_extra=entra, google_extra=google))


def nothing_written(state: dict) -> None:
    assert written(state) == {"aws": {}, "entra": {}, "google_workspace": {}}


def test_listings_broken_part_way_fail_and_disable_nothing(served, tmp_path):
    """Page 2 of Graph drops the connection, page 2 of Directory is malformed, AWS's user pages are
    malformed after the credential report (the root row is already out): all three fail."""
    ep = two_pages(served)
    cfg, env = ep.config(tmp_path), ep.env()
    served.faults(entra={"fail_after": 1, "fail_status": 0, "only": [GRAPH_USERS]},
                  google={"fail_after": 2, "fail_status": -1, "only": [DIRECTORY_USERS]},  # 1: customer id
                  aws={"rate_malformed": 1.0, "only": ["GetAccountAuthorizationDetails"]})
    run = sweeper("apply", "-c", cfg, "--yes", "-f", "json", env=env)
    state = served.state()
    served.faults(entra={}, google={}, aws={})
    assert run.code == 4, run
    report = run.json()
    assert provider_status(report) == {"aws": "failed", "entra": "failed", "google_workspace": "failed"}
    nothing_written(state)
    assert report["findings"] == [] and report["summary"]["disabled"] == 0
    messages = {p["name"]: p["message"] for p in report["providers"]}
    assert "listing failed after 1 identities" in messages["aws"]  # the root row, then the bad page
    assert "listing failed after 500 identities" in messages["entra"]
    assert "listing failed after 500 identities" in messages["google_workspace"]
    assert all("nothing here is disabled" in m for m in messages.values()), messages
    record("listing broken part-way (drop, malformed)", seconds=run.seconds, messages=messages)


def test_listings_that_time_out_or_fail_part_way_fail_and_disable_nothing(served, tmp_path):
    """Directory's page 2 answers after the adapter's timeout; Graph's page 2 is malformed; AWS's user
    pages answer 503 until the retry budget is spent."""
    ep = two_pages(served)
    cfg = ep.config(tmp_path, google_workspace={"timeout_seconds": 1, "num_retries": 1},
                    aws={"max_attempts": 2})
    served.call("/slow", {"google": {"only": DIRECTORY_USERS, "after": 2, "seconds": 3}})
    served.faults(entra={"fail_after": 1, "fail_status": -1, "only": [GRAPH_USERS]})
    served.call("/inject", {"action": "GetAccountAuthorizationDetails", "code": "ServiceUnavailable"})
    run = sweeper("apply", "-c", cfg, "--yes", "-f", "json", env=ep.env())
    state = served.state()
    served.call("/slow", {"google": {}})
    served.faults(entra={})
    served.call("/inject", {"action": "GetAccountAuthorizationDetails", "code": "ServiceUnavailable", "times": 0})
    assert run.code == 4, run
    report = run.json()
    assert provider_status(report) == {"aws": "failed", "entra": "failed", "google_workspace": "failed"}
    nothing_written(state)
    messages = {p["name"]: p["message"] for p in report["providers"]}
    assert "timed out" in messages["google_workspace"] or "timeout" in messages["google_workspace"], messages
    assert "malformed" in messages["entra"], messages
    record("listing broken part-way (timeout, malformed, 503)", seconds=run.seconds, messages=messages)


# -- malformed records, end to end --------------------------------------------------------------

def entra_garbage(at: datetime) -> list[dict]:
    old = at - timedelta(days=900)
    stale = at - timedelta(days=300)
    bad = [
        graph.user(f"feb30@{world.DOMAIN}", created=old, success="2023-02-30T00:00:00Z"),
        graph.user(f"bad-created@{world.DOMAIN}", created="2023-02-30T10:00:00Z", sign_in=False),
        graph.user(f"enabled-yes@{world.DOMAIN}", created=old, success=stale),
        graph.user(f"number-date@{world.DOMAIN}", created=old, success=12345),
        graph.user(f"activity-string@{world.DOMAIN}", created=old, success=stale),
        graph.user(f"no-id@{world.DOMAIN}", created=old, success=stale),
        graph.user(f"created-number@{world.DOMAIN}", created=old, sign_in=False),
    ]
    bad[2]["accountEnabled"] = "yes"
    bad[4]["signInActivity"] = "garbage"
    del bad[5]["id"]
    bad[6]["createdDateTime"] = 20230101
    return bad


def google_garbage(at: datetime) -> list[dict]:
    old = at - timedelta(days=900)
    stale = at - timedelta(days=300)

    def user(n: int, local: str, **kw) -> dict:
        return directory.user(f"40{n:019d}", f"{local}@{world.DOMAIN}", created=old, last_login=stale,
                              customer_id=world.CUSTOMER, **kw)

    bad = [user(1, "g-feb30", lastLoginTime="2023-02-30T00:00:00.000Z"),
           user(2, "g-bad-created", lastLoginTime=directory.NEVER, creationTime="2023-02-30T00:00:00.000Z"),
           user(3, "g-suspended-no", suspended="no"),
           user(4, "g-no-id"),
           user(5, "g-naive-time", lastLoginTime="2024-01-01T00:00:00"),
           user(6, "g-no-isadmin"),
           user(7, "g-login-number", lastLoginTime=1700000000)]
    del bad[3]["id"]
    del bad[5]["isAdmin"]
    return bad


AWS_GARBAGE = {
    "stale-key-0": {"access_key_1_last_used_date": "2023-02-30T00:00:00+00:00"},
    "stale-key-1": {"access_key_1_active": "maybe"},
    "stale-key-2": {"*row*": "stale-key-2,arn:aws:iam::111111111111:user/stale-key-2,garbage"},
    "stale-key-3": {"user_creation_time": "yesterday", "access_key_1_last_rotated": "2023-13-45T00:00:00+00:00"},
    "console-user": {"password_last_used": "2023-02-30T00:00:00+00:00"},
}


def test_malformed_records_are_unknown_with_a_reason_and_never_disabled(served, tmp_path):
    at = world.now()
    ep = served.reset(world.scenario(at, entra_extra=entra_garbage(at), google_extra=google_garbage(at)))
    served.call("/report", AWS_GARBAGE)
    run = sweeper("apply", "-c", ep.config(tmp_path), "--yes", "-f", "json", env=ep.env())
    state = served.state()
    served.call("/report", {})
    assert run.code == 0, run
    report = run.json()
    assert provider_status(report) == {"aws": "ok", "entra": "ok", "google_workspace": "ok"}
    unknown = {(f["provider"], f["identity"]): f for f in report["findings"] if f["decision"] == "unknown"}
    garbled = {("aws", u) for u in AWS_GARBAGE} | {("entra", u["userPrincipalName"]) for u in entra_garbage(at)} \
        | {("google_workspace", u["primaryEmail"]) for u in google_garbage(at)}
    assert set(unknown) == garbled, sorted(set(unknown) ^ garbled)
    for f in unknown.values():
        assert f["action"] == "none" and f["reason"].startswith("activity unknown: "), f
        assert "never disabled on unknown data" in f["reason"]
    disabled = {(f["provider"], f["identity"]) for f in report["findings"] if f["action"] == "disabled"}
    assert disabled == {("aws", "mixed-keys")} | {("entra", u) for u in world.entra_targets()} | \
        {("google_workspace", u) for u in world.google_targets()}
    writes = written(state)
    assert {k.split("/")[0] for k in writes["aws"]} == {"mixed-keys"}
    assert set(writes["entra"]) == world.entra_targets()
    assert set(writes["google_workspace"]) == world.google_targets()
    assert state["aws"]["passwords"] == ["console-user"]  # nothing deleted
    record("malformed records", unknown={f"{p}/{i}": f["reason"] for (p, i), f in unknown.items()})


# -- the credential report parser, fuzzed ---------------------------------------------------------

HEADER = aws_report.REQUIRED + ("password_next_rotation", "mfa_active", "access_key_1_last_used_region",
                                "access_key_1_last_used_service", "access_key_2_last_used_region",
                                "access_key_2_last_used_service", "cert_1_active", "cert_1_last_rotated",
                                "cert_2_active", "cert_2_last_rotated")
GOOD = {"user": "alice", "arn": "arn:aws:iam::111111111111:user/alice",
        "user_creation_time": "2020-01-01T00:00:00+00:00", "password_enabled": "true",
        "password_last_used": "2024-01-01T00:00:00+00:00", "password_last_changed": "2020-01-02T00:00:00+00:00",
        "access_key_1_active": "true", "access_key_1_last_rotated": "2020-01-03T00:00:00+00:00",
        "access_key_1_last_used_date": "2024-02-01T00:00:00+00:00", "access_key_2_active": "true",
        "access_key_2_last_rotated": "2021-01-03T00:00:00+00:00", "access_key_2_last_used_date": "N/A"}
DATES = {"password_last_used": "console_password", "password_last_changed": "console_password",
         "access_key_1_last_rotated": "access_key_1", "access_key_1_last_used_date": "access_key_1",
         "access_key_2_last_used_date": "access_key_2"}
# "" is the report's own "no value" (e.g. no password change recorded), so garbage is non-empty.
NOT_A_DATE = st.text(min_size=1, max_size=30).filter(lambda s: s not in ("N/A", "no_information", "not_supported")
                                          and "," not in s and '"' not in s and "\n" not in s and "\r" not in s)


def parse_row(values: dict[str, str]):
    line = ",".join(values.get(c, "N/A") for c in HEADER)
    rep = aws_report.Report(",".join(HEADER) + "\n" + line + "\n")
    return rep.row(rep.by_login()[values["user"]], "AIDAEXAMPLE")


@pytest.mark.aws
@settings(max_examples=300, deadline=None)
@given(column=st.sampled_from(sorted(DATES)), garbage=NOT_A_DATE)
def test_report_parser_turns_any_unreadable_date_into_unknown(column, garbage):
    try:
        datetime.fromisoformat(garbage)
        return  # a real ISO date is not garbage
    except ValueError:
        pass
    row = parse_row({**GOOD, column: garbage})
    creds = {c.credential_id if c.kind == "access_key" else "console_password": c for c in row.credentials}
    hit = creds.get(DATES[column])
    assert hit is None or hit.activity is Activity.UNKNOWN and hit.activity_note, (column, garbage, hit)


@pytest.mark.aws
@settings(max_examples=300, deadline=None)
@given(values=st.fixed_dictionaries({c: st.one_of(st.just(v), NOT_A_DATE) for c, v in GOOD.items() if c != "user"}))
def test_report_parser_never_raises_on_any_row(values):
    row = parse_row({"user": "alice", **values})
    for cred in row.credentials:
        assert cred.activity is not Activity.UNKNOWN or cred.activity_note
        if cred.activity is Activity.SEEN:
            assert cred.last_used is not None and cred.last_used.tzinfo is not None
