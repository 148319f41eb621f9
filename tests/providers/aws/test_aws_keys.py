"""Every access key judged once: report slots placed on live keys one-to-one (issue #28).

The credential report names key slots and truncates times to whole seconds; ListAccessKeys names
keys with their full creation time. Property tests over the pure placement, then the whole path
through moto and the CLI: plan, apply, history and restore.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from providers.aws_iam import emulator, scenarios
from providers.aws_iam.keys import LiveKey, fits, place
from providers.aws_iam.report import KeySlot
from sweeper.cli import app

BASE = datetime(2024, 4, 27, 0, 0, 0, tzinfo=timezone.utc)
NOW = scenarios.DEFAULT_NOW
HOME = scenarios.MANAGEMENT
runner = CliRunner()


def _truncated(when: datetime | None) -> datetime | None:
    return None if when is None else when.replace(microsecond=0)


def _report_slots(keys: list[LiveKey]) -> list[KeySlot]:
    """What the credential report says: slots in list order, times cut to the second."""
    return [KeySlot(n, _truncated(k.created), _truncated(k.last_used)) for n, k in enumerate(keys, start=1)]


# offsets from BASE in microseconds: same second, adjacent seconds, days apart, either order
_offset = st.one_of(st.integers(0, 999_999), st.integers(0, 2_999_999),
                    st.integers(0, 400 * 86_400 * 1_000_000))
_use = st.one_of(st.none(), st.integers(0, 500 * 86_400 * 1_000_000))


def _key(n: int, offset: int, used: int | None) -> LiveKey:
    created = BASE + timedelta(microseconds=offset)
    return LiveKey(f"AKIA{n:016d}", created, "Active",
                   None if used is None else created + timedelta(microseconds=used))


@settings(max_examples=400, deadline=None)
@given(_offset, _offset, _use, _use)
def test_each_key_gets_exactly_one_slot_of_its_own(off1: int, off2: int, use1: int | None, use2: int | None) -> None:
    keys = [_key(1, off1, use1), _key(2, off2, use2)]
    slots = _report_slots(keys)
    placed = place(slots, keys)
    assert sorted(placed.keys) == [1, 2], "every slot finds a key"
    assert len(set(placed.keys.values())) == 2, "no key is taken by both slots"
    for slot in slots:
        key = next(k for k in keys if k.key_id == placed.keys[slot.slot])
        assert fits(slot, key)
        truth = keys[slot.slot - 1]
        if key is not truth:  # only where the report cannot tell the two apart
            assert slot.slot in placed.tied
            other = slots[2 - slot.slot]
            assert (slot.last_rotated, slot.last_used) == (other.last_rotated, other.last_used)


@settings(max_examples=300, deadline=None)
@given(_offset, _offset, _use, _use, _use, _use)
def test_stale_report_data_still_places_one_to_one(off1: int, off2: int, use1: int | None, use2: int | None,
                                                  live1: int | None, live2: int | None) -> None:
    """The report can be hours old: live last use differs from the report's; never two slots on one key."""
    reported = [_key(1, off1, use1), _key(2, off2, use2)]
    live = [_key(1, off1, live1), _key(2, off2, live2)]
    placed = place(_report_slots(reported), live)
    assert sorted(placed.keys) == [1, 2] and len(set(placed.keys.values())) == 2


@settings(max_examples=200, deadline=None)
@given(_offset, _use, st.integers(1, 3_000_000))
def test_a_slot_without_its_key_is_left_unplaced(off: int, use: int | None, later: int) -> None:
    """A key rotated away since the report: its slot takes no other key, even one in the next second."""
    gone, kept = _key(1, off, use), _key(2, off + later, use)
    slots = _report_slots([gone, kept])
    placed = place(slots, [kept])
    assert list(placed.keys.values()).count(kept.key_id) == 1
    if placed.keys.get(1) == kept.key_id:  # the vanished key's slot: only when the report cannot tell
        assert 1 in placed.tied
        assert (slots[0].last_rotated, slots[0].last_used) == (slots[1].last_rotated, slots[1].last_used)


def test_one_sided_fit_under_truncation() -> None:
    key = LiveKey("AKIA1", BASE + timedelta(seconds=56.08), "Active")
    assert fits(KeySlot(1, BASE + timedelta(seconds=56), None), key)
    assert not fits(KeySlot(2, BASE + timedelta(seconds=57), None), key)  # 0.92 s before: not this key
    assert not fits(KeySlot(1, None, None), key)


# -- through moto and the CLI -----------------------------------------------------------------

def _when(seconds: float) -> str:
    return (NOW - timedelta(days=400) + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def aws(start_emulator, tmp_path: Path):
    def start(keys: list[dict[str, Any]]) -> tuple[emulator.AwsEmulator, Path]:
        old = (NOW - timedelta(days=900)).isoformat()
        scenario = {"accounts": {HOME: {"users": [
            {"name": "sweeper-bot", "created": old, "keys": [
                {"created": (NOW - timedelta(days=3)).isoformat(), "last_used": NOW.isoformat(), "caller": True}]},
            {"name": "two-keys", "created": old, "keys": keys}]}}}
        emu = start_emulator(scenario)
        cfg = tmp_path / "sweeper.toml"
        cfg.write_text("[policy]\nmax_disable_percent = 100\n" + emu.config_toml()
                       + "report_poll_seconds = 0.01\n")
        return emu, cfg

    return start


def _sweep(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code in (0, 3, 10), result.output
    return result


def _findings(cfg: Path, command: str = "plan") -> list[dict[str, Any]]:
    out = _sweep(command, "-c", str(cfg), "--as-of", NOW.isoformat(), "-f", "json", "--yes"
                 if command == "apply" else "--exit-code").stdout
    return [f for f in json.loads(out)["findings"] if f["identity"] == "two-keys"]


def _key_states(emu: emulator.AwsEmulator) -> dict[str, str]:
    user = emu.backend(HOME).get_user("two-keys")
    return {k.access_key_id: k.status for k in user.access_keys}


@pytest.mark.parametrize("first, second", [(56.2, 56.7), (56.7, 56.2), (56.08, 57.29), (57.9, 56.1)],
                         ids=["same-second", "same-second-reversed", "adjacent-seconds", "adjacent-reversed"])
def test_two_stale_keys_are_both_disabled_each_once_and_restored(aws, first: float, second: float) -> None:
    emu, cfg = aws([{"created": _when(first), "last_used": None},
                    {"created": _when(second), "last_used": _when(first + 3600)}])
    ids = set(_key_states(emu))
    planned = _findings(cfg)
    assert sorted(f["credential"] for f in planned) == sorted(f"access_key:{i}" for i in ids)
    assert all(f["decision"] == "disable" for f in planned)
    applied = _findings(cfg, "apply")
    assert sorted(f["credential"] for f in applied) == sorted(f"access_key:{i}" for i in ids)
    assert all(f["action"] == "disabled" for f in applied)
    assert emu.counts["UpdateAccessKey"] == 2
    assert set(_key_states(emu).values()) == {"Inactive"}
    runs = json.loads(_sweep("history", "-c", str(cfg), "-f", "json").stdout)["runs"]
    apply_run = next(r for r in runs if r["mode"] == "apply")
    actions = json.loads(_sweep("history", "-c", str(cfg), "--run", apply_run["run_id"], "-f", "json").stdout)
    assert sorted(a["credential"] for a in actions["actions"]) == sorted(f"access_key:{i}" for i in ids)
    restored = _sweep("restore", "-c", str(cfg), apply_run["run_id"])
    assert restored.exit_code == 0, restored.output
    assert set(_key_states(emu).values()) == {"Active"}


def test_same_second_one_stale_one_fresh_disables_only_the_stale(aws) -> None:
    emu, cfg = aws([{"created": _when(56.1), "last_used": (NOW - timedelta(days=2)).isoformat()},
                    {"created": _when(56.6), "last_used": _when(100)}])
    states = _key_states(emu)
    user = emu.backend(HOME).get_user("two-keys")
    fresh_id, stale_id = (k.access_key_id for k in user.access_keys)
    planned = _findings(cfg)
    assert [f["credential"] for f in planned] == [f"access_key:{stale_id}"]
    _findings(cfg, "apply")
    assert _key_states(emu) == {**states, stale_id: "Inactive"}
    assert emu.counts["UpdateAccessKey"] == 1
