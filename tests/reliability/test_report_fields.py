"""What a report says about a disable that worked: `error` stays null (design.md §5).

In-process over the fake provider, whose adapter here answers each success with a note, as the real
adapters do ("access key AKIA... Inactive", "suspended", "already removed").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from sweeper import registry, report
from sweeper.config import parse
from sweeper.engine import Sweep
from sweeper.journal import Journal
from tests import fakes

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)


class NotedAdapter(fakes.FakeAdapter):
    def apply(self, action, refs):
        return [replace(o, note="suspended") if o.ok else o for o in super().apply(action, refs)]


@pytest.fixture
def noted(cloud):
    registry.register("noted", "tests.fakes:FakeSettings", "tests.reliability.test_report_fields:NotedAdapter")
    cloud.add(fakes.FakeUser("stale@example.com", NOW - timedelta(days=300), NOW - timedelta(days=900)))
    cloud.add(fakes.FakeUser("blocked@example.com", NOW - timedelta(days=300), NOW - timedelta(days=900)))
    cloud.add(fakes.FakeUser("fresh@example.com", NOW - timedelta(days=1), NOW - timedelta(days=900)))
    cloud.fail_apply_for.add("blocked@example.com")
    yield cloud
    registry.unregister("noted")


def test_a_disable_that_worked_has_no_error(noted, tmp_path):
    config = parse('[policy]\nmax_disable_percent = 100\n[providers.noted]\ncloud = "default"\n',
                   str(tmp_path / "sweeper.toml"))
    journal = Journal(tmp_path / "sweeper.db")
    result = Sweep(config, ["noted"], NOW, "apply", journal).run()
    journal.close()
    by = {f["identity"]: f for f in report.to_json(result)["findings"]}
    assert by["blocked@example.com"]["action"] == "failed" and by["blocked@example.com"]["error"]
    assert by["stale@example.com"]["action"] == "disabled"
    assert by["stale@example.com"]["error"] is None, by["stale@example.com"]["error"]
