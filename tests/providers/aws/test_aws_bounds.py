"""Every AWS listing ends: a dripping answer hits its read deadline, an oversize one is refused, a page
token seen twice fails, the whole listing has a deadline, and a user listed twice is never judged
twice. Each fails its scope with one clear line (exit 4), and nothing is disabled there."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from typer.testing import CliRunner

from providers.aws_iam import emulator, scenarios
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.settings import AwsSettings
from providers.emulator import Faults
from sweeper.cli import app
from sweeper.errors import DataError, ProviderError
from tests.providers.aws import hostile

NOW = scenarios.DEFAULT_NOW
HOME = scenarios.MANAGEMENT
Start = Callable[[dict[str, Any]], emulator.AwsEmulator]


@pytest.fixture
def fronts() -> Iterator[Callable[..., hostile.Front]]:
    made: list[hostile.Front] = []

    def make(emu: emulator.AwsEmulator, behaviours: dict[str, hostile.Behaviour]) -> hostile.Front:
        made.append(hostile.Front(emu.endpoint_url, behaviours))
        return made[-1]

    yield make
    for front in made:
        front.stop()


def _adapter(endpoint: str, emu: emulator.AwsEmulator, **extra: Any) -> AwsIamAdapter:
    settings = AwsSettings.model_validate({**emu.config(), "endpoint_url": endpoint, "report_poll_seconds": 0.01,
                                           "retries": 0, **extra})
    return AwsIamAdapter(settings, write=False)


def _listing_fails(adapter: AwsIamAdapter) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        list(adapter.list_identities(HOME))
    assert "\n" not in str(raised.value) and "Traceback" not in str(raised.value)
    return raised.value


# -- slow drip --------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["GetAccountAuthorizationDetails", "GetCredentialReport"])
@pytest.mark.parametrize("head", [False, True], ids=["body", "headers"])
def test_a_dripping_answer_hits_the_read_deadline(emu: emulator.AwsEmulator, fronts: Any, action: str,
                                                  head: bool) -> None:
    """One byte every 0.25 s never trips a 1 s socket timeout; the answer's deadline does."""
    front = fronts(emu, {action: hostile.drip(0.25, head=head)})
    started = time.monotonic()
    error = _listing_fails(_adapter(front.url, emu, timeout_seconds=1))
    took = time.monotonic() - started
    assert 0.9 < took < 4, took
    assert "no complete answer within timeout_seconds" in str(error)
    assert front.hits[action] == 1


def test_a_drip_is_retried_like_any_read_timeout_each_try_bounded(emu: emulator.AwsEmulator, fronts: Any) -> None:
    front = fronts(emu, {"GetAccountAuthorizationDetails": hostile.drip(0.2)})
    started = time.monotonic()
    _listing_fails(_adapter(front.url, emu, timeout_seconds=0.6, retries=1))
    assert front.hits["GetAccountAuthorizationDetails"] == 2 and time.monotonic() - started < 4


def test_the_listing_deadline_cuts_a_slow_answer(emu: emulator.AwsEmulator, fronts: Any) -> None:
    front = fronts(emu, {"GetAccountAuthorizationDetails": hostile.drip(0.2)})
    started = time.monotonic()
    error = _listing_fails(_adapter(front.url, emu, timeout_seconds=60, retries=3, listing_deadline_seconds=1))
    assert time.monotonic() - started < 4
    assert "listing_deadline_seconds = 1" in str(error)
    assert front.hits["GetAccountAuthorizationDetails"] == 1  # no retry once the listing is out of time


# -- oversize --------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["GetAccountAuthorizationDetails", "GetCredentialReport"])
def test_an_oversize_answer_is_refused_at_once(emu: emulator.AwsEmulator, fronts: Any, action: str) -> None:
    front = fronts(emu, {action: hostile.oversize(50)})
    started = time.monotonic()
    error = _listing_fails(_adapter(front.url, emu, max_response_mb=1, retries=3))
    assert isinstance(error, DataError) and "larger than max_response_mb = 1" in str(error)
    assert front.hits[action] == 1  # the same answer would come again: not retried
    assert time.monotonic() - started < 5


def test_a_report_larger_than_the_limit_is_refused(emu: emulator.AwsEmulator) -> None:
    """The credential report's own content counts too (here moto's, padded past the limit)."""
    emu.report_hook = lambda text: text + "\n" * (1024 * 1024 + 10)
    error = _listing_fails(_adapter(emu.endpoint_url, emu, max_response_mb=1))
    assert isinstance(error, DataError) and "max_response_mb = 1" in str(error)


def test_answers_under_the_limit_are_read_whole(start_emulator: Start) -> None:
    emu = start_emulator(scenarios.bulk(1100, NOW))
    identities = list(_adapter(emu.endpoint_url, emu, max_response_mb=2).list_identities(HOME))
    assert len(identities) == 1101


# -- page tokens, deadlines, duplicates -------------------------------------------------------

def test_a_repeated_marker_fails_the_listing(emu: emulator.AwsEmulator, fronts: Any) -> None:
    front = fronts(emu, {"GetAccountAuthorizationDetails": hostile.same_marker()})
    error = _listing_fails(_adapter(front.url, emu))
    assert isinstance(error, DataError) and "the same next-page link came back twice" in str(error)
    assert front.hits["GetAccountAuthorizationDetails"] == 2


def test_a_repeated_next_token_fails_the_organization_listing(start_emulator: Start, fronts: Any) -> None:
    emu = start_emulator(scenarios.organization(NOW))
    front = fronts(emu, {"ListAccounts": hostile.same_next_token([HOME, scenarios.MEMBER])})
    with pytest.raises(DataError, match="list organization accounts: the same next-page link came back twice"):
        _adapter(front.url, emu, organization={}).scopes()
    assert front.hits["ListAccounts"] == 2


def test_the_report_wait_respects_the_listing_deadline(emu: emulator.AwsEmulator) -> None:
    emu.report_pending = math.inf
    started = time.monotonic()
    error = _listing_fails(_adapter(emu.endpoint_url, emu, report_timeout_seconds=60, listing_deadline_seconds=0.5))
    assert "listing_deadline_seconds = 0.5" in str(error) and time.monotonic() - started < 3
    assert emu.counts["GetAccountAuthorizationDetails"] == 0


def test_pages_after_the_listing_deadline_are_not_asked_for(start_emulator: Start) -> None:
    emu = start_emulator(scenarios.bulk(2100, NOW))
    emu.faults = Faults(latency_ms=400, only=("GetAccountAuthorizationDetails",))
    error = _listing_fails(_adapter(emu.endpoint_url, emu, listing_deadline_seconds=0.6))
    assert "listing_deadline_seconds = 0.6" in str(error)
    assert emu.counts["GetAccountAuthorizationDetails"] < 3


def test_two_report_rows_for_one_user_fail_the_account(emu: emulator.AwsEmulator) -> None:
    def twice(text: str) -> str:
        row = next(line for line in text.splitlines() if line.startswith("mixed-keys,"))
        return text.rstrip("\n") + "\n" + row + "\n"

    emu.report_hook = twice
    error = _listing_fails(_adapter(emu.endpoint_url, emu))
    assert isinstance(error, DataError) and "two rows for user 'mixed-keys'" in str(error)


def test_a_user_listed_twice_fails_the_account(emu: emulator.AwsEmulator, fronts: Any) -> None:
    front = fronts(emu, {"GetAccountAuthorizationDetails": hostile.listed_twice()})
    error = _listing_fails(_adapter(front.url, emu))
    assert isinstance(error, DataError) and "user 'twice' was listed twice" in str(error)


# -- through the command line: failed, exit 4, nothing disabled ------------------------------

def _dup_rows(emu: emulator.AwsEmulator) -> dict[str, hostile.Behaviour]:
    emu.report_hook = lambda text: text.rstrip("\n") + "\n" + text.splitlines()[-1] + "\n"
    return {}


CASES: dict[str, tuple[Callable[[emulator.AwsEmulator], dict[str, hostile.Behaviour]], str]] = {
    "drip": (lambda emu: {"GetAccountAuthorizationDetails": hostile.drip(0.25)}, "no complete answer"),
    "oversize": (lambda emu: {"GetCredentialReport": hostile.oversize(50)}, "larger than max_response_mb = 1"),
    "repeated marker": (lambda emu: {"GetAccountAuthorizationDetails": hostile.same_marker()},
                        "came back twice"),
    "duplicate report rows": (_dup_rows, "two rows for user"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_listing_fails_its_scope_and_disables_nothing(emu: emulator.AwsEmulator, fronts: Any,
                                                               tmp_path: Path, case: str) -> None:
    behaviours, needle = CASES[case]
    front = fronts(emu, behaviours(emu))
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text(f'[policy]\nmax_disable_percent = 100\n[journal]\npath = "{tmp_path / "sweeper.db"}"\n'
                   + emu.config_toml(endpoint_url=front.url, report_poll_seconds=0.01, retries=0, timeout_seconds=1,
                                     max_response_mb=1))
    result = CliRunner().invoke(app, ["apply", "-c", str(cfg), "--yes", "-f", "json"])
    assert result.exit_code == 4, result.output
    report = json.loads(result.stdout)
    [scope] = report["providers"]
    assert scope["status"] == "failed" and needle in scope["message"] and "\n" not in scope["message"]
    assert report["summary"]["disabled"] == 0
    assert emu.counts["UpdateAccessKey"] == emu.counts["DeleteLoginProfile"] == 0
