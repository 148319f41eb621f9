"""The adapters' shared toolkit (sweeper/kit): retries, status errors, timestamps, secrets, settings."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from pydantic import Field

from sweeper.config import ProviderSettings
from sweeper.errors import (AuthError, NotFound, PermissionDenied, ProviderError, ThrottledError)
from sweeper.kit import secrets
from sweeper.kit.retry import Budget, chunks, retry_after, retry_items
from sweeper.kit.settings import Retrying
from sweeper.kit.status import error_for_status
from sweeper.kit.times import BadTime, Unreadable, parse_utc

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --- retry ------------------------------------------------------------------------------------

def test_items_are_retried_until_settled_and_never_sent_again_once_done():
    sent: list[list[str]] = []
    answers = iter([{"b": 1.0, "c": None}, {"c": 0.5}, {}])

    def send(pending):
        sent.append(pending)
        return next(answers)

    sleeps = Sleeps()
    left, tries = retry_items(["a", "b", "c"], send, Budget(retries=5), sleeps)
    assert left == [] and tries == 3
    assert sent == [["a", "b", "c"], ["b", "c"], ["c"]]
    assert sleeps == [1.0, 0.5]  # the longest Retry-After of the round


def test_retries_bound_the_rounds_and_the_leftovers_come_back():
    sleeps = Sleeps()
    left, tries = retry_items([1, 2], lambda p: {k: None for k in p}, Budget(retries=2), sleeps)
    assert left == [1, 2] and tries == 3 and sleeps == [1.0, 2.0]  # 2^(n-1) without Retry-After
    left, tries = retry_items([1], lambda p: {1: 9.0}, Budget(retries=0), sleeps)
    assert left == [1] and tries == 1


def test_a_retry_after_longer_than_longest_ends_the_loop_without_waiting():
    sleeps = Sleeps()
    left, tries = retry_items(["x"], lambda p: {"x": 61.0}, Budget(retries=5, longest=60, cap=60), sleeps)
    assert left == ["x"] and tries == 1 and sleeps == []


def test_the_total_budget_and_the_cap_bound_the_waiting():
    sleeps = Sleeps()
    budget = Budget(retries=10, total=70, cap=32)
    left, tries = retry_items(["x"], lambda p: {"x": 100.0}, budget, sleeps)
    assert sleeps == [32, 32] and left == ["x"] and tries == 3  # a third 32 s wait would pass 70 s


def test_jittered_backoff_stays_below_two_to_the_n():
    budget = Budget(retries=5, jitter=True)
    assert all(0 <= budget.backoff(n) < 2 ** n for n in range(1, 6) for _ in range(50))
    assert Budget(retries=5).backoff(3) == 4.0


def test_waits_serve_a_single_call_too():
    sleeps = Sleeps()
    waits = Budget(retries=2).start(sleeps)
    assert waits.again(0.25) and waits.again() and not waits.again()
    assert sleeps == [0.25, 2.0] and waits.tries == 3


def test_send_raising_propagates():
    def send(pending):
        raise AuthError("p", "op", "no")

    with pytest.raises(AuthError):
        retry_items([1], send, Budget(retries=3), Sleeps())


@pytest.mark.parametrize("headers, seconds", [
    ({"Retry-After": "2"}, 2.0), ({"retry-after": "2.128"}, 2.128), ({"RETRY-AFTER": 3}, 3.0),
    ({"Retry-After": "-4"}, 0.0), ({"Retry-After": "soon"}, None), ({"Retry-After": "nan"}, None),
    ({"Retry-After": None}, None), ({}, None), (None, None), ("Retry-After: 2", None),
    ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),
])
def test_retry_after_reads_seconds_in_any_case(headers, seconds):
    assert retry_after(headers) == seconds


def test_chunks():
    assert [list(c) for c in chunks([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
    assert list(chunks([], 3)) == []


# --- status -----------------------------------------------------------------------------------

@pytest.mark.parametrize("status, kind", [(401, AuthError), (403, PermissionDenied), (404, NotFound),
                                          (429, ThrottledError), (500, ProviderError), (503, ProviderError),
                                          (400, ProviderError), (409, ProviderError)])
def test_status_maps_to_its_typed_error(status, kind):
    err = error_for_status("p", "list users", status, "code: words", needs="Read.All", hint="check the token")
    assert type(err) is kind and err.status == status and err.provider == "p" and err.operation == "list users"
    assert f"HTTP {status} code: words" in err.detail
    assert ("needs Read.All" in err.detail) is (status == 403)
    assert ("check the token" in err.detail) is (status == 401)


def test_throttling_with_another_status_is_throttled():
    err = error_for_status("p", "op", 403, "rateLimitExceeded: slow down", throttled=True)
    assert isinstance(err, ThrottledError) and err.status == 403 and "still throttled" in err.detail


def test_provider_error_keeps_its_old_signature_and_status_defaults_to_none():
    err = ProviderError("aws", "who am I", "boom")
    assert err.status is None and str(err) == "aws: who am I: boom" and err.detail == "boom"
    assert issubclass(NotFound, ProviderError) and NotFound("p", "o", "m", status=404).exit_code == 4


# --- times ------------------------------------------------------------------------------------

AWS_NO_VALUE = frozenset(("N/A", "no_information", "not_supported", ""))


@pytest.mark.parametrize("value, expected", [
    ("2026-02-28T23:59:59+00:00", datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC)),
    ("2026-03-01T01:29:59+01:30", datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC)),
    ("2026-02-28T23:59:59Z", datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC)),
    ("2025-05-20T08:30:00.1234567Z", datetime(2025, 5, 20, 8, 30, 0, 123456, tzinfo=UTC)),
    (datetime(2025, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), datetime(2025, 1, 1, tzinfo=UTC)),
    ("N/A", None), ("not_supported", None), ("", None),
])
def test_parse_utc_reads_aware_times_and_sentinels(value, expected):
    got = parse_utc(value, AWS_NO_VALUE)
    assert got == expected and (got is None or got.tzinfo is UTC)


@pytest.mark.parametrize("value", ["yesterday", "2025-05-30T12:01:02", "2024-01-02", "2025-13-45T00:00:00Z",
                                   None, 1714567890, {"t": 1}, datetime(2025, 1, 1),
                                   "0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_parse_utc_refuses_naive_garbled_and_out_of_range_times(value):
    with pytest.raises(BadTime) as err:
        parse_utc(value, AWS_NO_VALUE)
    assert isinstance(err.value, Unreadable) and isinstance(err.value, ValueError)


def test_instant_sentinels_match_the_parsed_time_whatever_its_form():
    for form in ("1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00"):
        assert parse_utc(form, (None, "", EPOCH)) is None
    assert parse_utc("1970-01-01T00:00:01Z", (EPOCH,)) == EPOCH + timedelta(seconds=1)
    assert parse_utc(None, (None,)) is None


def test_floor_reads_any_time_written_before_it_as_no_value():
    for form in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "0001-06-01T00:00:00Z"):
        assert parse_utc(form, floor=date(2, 1, 1)) is None
    with pytest.raises(BadTime):
        parse_utc("0001-01-01T00:00:00", floor=date(2, 1, 1))  # naive is refused before anything else


# --- secrets ----------------------------------------------------------------------------------

def test_remembered_secrets_are_scrubbed_everywhere():
    secret, longer = "kit-test-secret-0123", "kit-test-secret-0123-and-more"
    secrets.remember(secret, longer, None, "", "short")
    text = f"token {longer} and {secret}; short stays"
    assert secrets.scrub(text) == "token [redacted] and [redacted]; short stays"
    assert secrets.scrub(text, limit=12) == "token [redac"
    err = ProviderError("p", "op", f"rejected {secret}")
    assert secret not in str(err) and secret not in err.detail and "[redacted]" in err.detail


# --- settings ---------------------------------------------------------------------------------

class Counted(ProviderSettings, Retrying):
    RETRIES_WAS = ("max_attempts", 1)
    retries: int = Field(7, ge=0, le=19)


class Renamed(ProviderSettings, Retrying):
    RETRIES_WAS = ("max_retries", 0)
    retries: int = Field(5, ge=0, le=10)
    timeout_seconds: float = Field(100, gt=0, le=600)


def test_new_names_and_their_older_aliases_read_the_same():
    assert Counted().retries == 7 and Counted(max_attempts=8).retries == 7
    assert Counted.model_validate({"retries": 2}).retries == 2
    assert Counted.model_validate({"max_attempts": 1}).retries == 0
    assert Renamed(max_retries=3) == Renamed(retries=3) and Renamed().timeout_seconds == 100
    assert "max_retries" not in Renamed(max_retries=3).model_dump()


@pytest.mark.parametrize("model, data, needle", [
    (Counted, {"max_attempts": 0}, "max_attempts = 0 means retries = -1"),
    (Counted, {"max_attempts": 21}, "less than or equal to 19"),
    (Counted, {"max_attempts": "8"}, "max_attempts = '8'"),
    (Counted, {"max_attempts": True}, "max_attempts = True"),
    (Renamed, {"max_retries": 11}, "max_retries = 11: Input should be less than or equal to 10"),
    (Renamed, {"max_retries": 1, "retries": 1}, "not both"),
    (Renamed, {"num_retries": 1}, "num_retries"),
])
def test_bad_values_under_either_name_are_errors_naming_the_key(model, data, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        model.model_validate(data)
