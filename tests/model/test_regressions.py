"""Disagreements the model-based test found, kept as plain regression tests (docs/reliability.md)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from providers.aws_iam.keys import LiveKey, place
from providers.aws_iam.report import KeySlot
from tests.model import populations
from tests.model.test_model_based import aws_case

UTC = timezone.utc
MADE = datetime(2023, 1, 1, 10, 0, 0, tzinfo=UTC)


@pytest.mark.aws
def test_placement_uses_the_slots_status() -> None:
    """Two never-used keys made in the same second, the later one listed first and deactivated: the
    report's active slot is the Active key (it used to take the Inactive one, by creation order)."""
    inactive = LiveKey("AKIAINACTIVE", MADE.replace(microsecond=700_000), "Inactive", None)
    active = LiveKey("AKIAACTIVE", MADE.replace(microsecond=200_000), "Active", None)
    slots = [KeySlot(1, MADE, None, active=False), KeySlot(2, MADE, None, active=True)]
    placed = place(slots, [inactive, active])
    assert placed.keys == {1: "AKIAINACTIVE", 2: "AKIAACTIVE"}
    assert not placed.tied


@pytest.mark.aws
@pytest.mark.parametrize("first, second", [
    (("Inactive", 700_000), ("Active", 200_000)),  # the later key in slot 1: always failed before the fix
    (("Active", 0), ("Inactive", 0)),  # the soak profile's shrunk case: the same microsecond
    (("Inactive", 0), ("Active", 0)),
], ids=["reversed-in-the-second", "same-instant", "same-instant-inactive-first"])
def test_stale_active_key_beside_a_deactivated_twin_is_reported(tmp_path: Path, first: Any, second: Any) -> None:
    """Issue #29: the stale Active key was left out of the plan (and counted as already disabled, so
    its Inactive twin was counted twice) when the twin was made in the same second; the report and the
    model must agree. The same-instant cases failed or passed before the fix by the order of moto's
    random key ids."""
    def key(status: str, micro: int) -> dict[str, Any]:
        return {"created": MADE.replace(microsecond=micro).isoformat(), "last_used": None, "status": status}

    world = {
        "config": {"policy": {"inactive_days": 90, "warn_days": 14, "max_disable": 1000, "max_disable_percent": 100},
                   "providers": {"aws": {}}},
        "scenario": {"accounts": {populations.ACCOUNT: {
            "root": {"created": "2015-01-01T00:00:00+00:00", "password_last_used": None},
            "users": [{"name": "sweeper-bot", "created": MADE.isoformat(),
                       "keys": [{"created": MADE.isoformat(), "last_used": None, "status": "Active", "caller": True}]},
                      {"name": "twin-keys", "created": MADE.isoformat(), "keys": [key(*first), key(*second)]}]}}},
    }
    aws_case(tmp_path, world)
