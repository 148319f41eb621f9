"""Opt-in removal for AWS (#13), through moto and the CLI across simulated days: an access key this
sweeper deactivated and nobody used since is deleted (DeleteAccessKey) `remove_after_days` later with
`apply --allow-remove`, by the key id the journal recorded; irreversible, as plan says and restore repeats.
Report slots are matched to keys live (#28): a key deactivated by someone else, even one made in the same
second as the removed one, is never deleted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from providers.aws_iam import emulator, scenarios
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.settings import AwsSettings
from sweeper.cli import app
from sweeper.journal import Journal
from sweeper.model import Action, CredentialKind, CredentialRef

DAY0 = datetime(2026, 6, 1, tzinfo=timezone.utc)  # day 0 + 40 is still in the past: no --allow-future-as-of
HOME = scenarios.MANAGEMENT
runner = CliRunner()
Start = Callable[[dict[str, Any]], emulator.AwsEmulator]


def day(n: int) -> str:
    return (DAY0 + timedelta(days=n)).date().isoformat()


def _at(days: float, seconds: float = 0) -> str:
    return (DAY0 + timedelta(days=days, seconds=seconds)).isoformat()


def _scenario() -> dict[str, Any]:
    old = _at(-900)
    return {"accounts": {HOME: {"users": [
        {"name": "sweeper-bot", "created": old, "keys": [{"created": _at(-30), "last_used": _at(-0.01), "caller": True}]},
        {"name": "stale-key", "created": old, "keys": [{"created": _at(-400), "last_used": _at(-200)}]},
        {"name": "stale-two", "created": old, "keys": [{"created": _at(-400), "last_used": _at(-150)}]},
        # two keys made in the same second, never used: the report cannot tell them apart once both are
        # inactive. The sweeper deactivates the first; the second was deactivated by someone else.
        {"name": "twin-keys", "created": old, "keys": [
            {"created": _at(-500, 0.2), "last_used": None},
            {"created": _at(-500, 0.7), "last_used": None, "status": "Inactive"}]},
        {"name": "mixed-keys", "created": old, "keys": [
            {"created": _at(-800), "last_used": _at(-1)}, {"created": _at(-700), "last_used": _at(-300)}]},
        {"name": "key-off", "created": old, "keys": [{"created": _at(-600), "last_used": _at(-500),
                                                      "status": "Inactive"}]},  # someone else's decision
    ]}}}


@pytest.fixture
def aws(start_emulator: Start, tmp_path: Path) -> tuple[emulator.AwsEmulator, Path]:
    emu = start_emulator(_scenario())
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text("[policy]\nmax_disable_percent = 100\nremove_after_days = 30\n"
                   + emu.config_toml(report_poll_seconds=0.01) + '[providers.aws.exclude_tags]\n"sweeper:exempt" = "true"\n')
    return emu, cfg


def run(*args: Any) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def findings(result: Any) -> dict[tuple[str, str], dict[str, Any]]:
    assert result.stdout.lstrip().startswith("{"), result.output
    return {(f["identity"], f["credential"]): f for f in json.loads(result.stdout)["findings"]}


def keys(emu: emulator.AwsEmulator, user: str) -> list[Any]:
    return list(emu.backend(HOME).get_user(user).access_keys)


def key_states(emu: emulator.AwsEmulator) -> dict[str, str]:
    """Every key there is now, by id: its status."""
    return {k.access_key_id: k.status for user in ("stale-key", "stale-two", "twin-keys", "mixed-keys", "key-off")
            for k in keys(emu, user)}


def apply_day0(emu: emulator.AwsEmulator, cfg: Path) -> dict[str, str]:
    """Night 0: the four stale keys are deactivated. Returns their ids by user."""
    r = run("apply", "-c", cfg, "--as-of", day(0), "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    disabled = {user: cred.split(":", 1)[1] for (user, cred), f in findings(r).items()
                if f["action"] == "disabled" and cred.startswith("access_key:")}
    assert set(disabled) == {"stale-key", "stale-two", "twin-keys", "mixed-keys"}, disabled
    assert disabled["twin-keys"] == keys(emu, "twin-keys")[0].access_key_id
    return disabled


def removal_run(cfg: Path) -> str:
    journal = Journal(cfg.parent / "sweeper.db")
    try:
        return next(r.run_id for r in journal.runs() if r.mode == "apply"
                    and any(a.action is Action.REMOVE for a in journal.actions(r.run_id)))
    finally:
        journal.close()


def test_a_key_this_sweeper_deactivated_is_deleted_after_the_window_and_restore_says_it_cannot(aws) -> None:
    emu, cfg = aws
    ours = apply_day0(emu, cfg)
    others = {k.access_key_id for u in ("twin-keys", "key-off") for k in keys(emu, u)} - set(ours.values())
    in_use = keys(emu, "mixed-keys")[0].access_key_id
    r = run("plan", "-c", cfg, "--as-of", day(20), "-f", "json")
    assert r.exit_code == 0 and not any(f["decision"] == "remove" for f in findings(r).values())

    planned = findings(run("plan", "-c", cfg, "--as-of", day(31), "-f", "json"))
    removals = {user: f for (user, cred), f in planned.items() if f["decision"] == "remove"}
    assert {u: planned[(u, f"access_key:{k}")]["decision"] for u, k in ours.items()} == dict.fromkeys(ours, "remove")
    assert set(removals) == set(ours)  # never twin-keys' other key, never key-off's
    for f in removals.values():
        assert f["irreversible"] is True and f["action"] == "planned"
        assert "irreversible" in f["reason"] and "DeleteAccessKey" in f["reason"]
        assert "remove_after_days = 30" in f["reason"]

    r = run("apply", "-c", cfg, "--as-of", day(31), "--yes", "-f", "json")  # the config alone never removes
    assert r.exit_code == 0, r.output
    assert emu.counts["DeleteAccessKey"] == 0 and set(ours.values()) <= set(key_states(emu))

    # the reviewed form: a plan file names the keys by id, and apply acts on those only
    plan = cfg.parent / "plan.json"
    assert run("plan", "-c", cfg, "--as-of", day(31), "--plan-out", plan).exit_code == 0
    named = {t["credential_id"] for t in json.loads(plan.read_text())["targets"]}
    assert named == set(ours.values())
    r = run("apply", plan, "-c", cfg, "--as-of", day(31), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    done = findings(r)
    assert all(done[(u, f"access_key:{k}")]["action"] == "removed" for u, k in ours.items())
    assert json.loads(r.stdout)["summary"]["removed"] == 4
    assert emu.counts["DeleteAccessKey"] == 4
    left = key_states(emu)
    assert not set(ours.values()) & set(left), "a key this sweeper deactivated is still there"
    assert others <= set(left) and all(left[k] == "Inactive" for k in others), "someone else's key was touched"
    assert left[in_use] == "Active"

    journal = Journal(cfg.parent / "sweeper.db")
    rows = [a for a in journal.actions(removal_run(cfg)) if a.action is Action.REMOVE]
    journal.close()
    assert sorted((a.ref.credential_id, a.state, a.irreversible) for a in rows) == sorted(
        (k, "done", True) for k in ours.values())

    restored = run("restore", removal_run(cfg), "-c", cfg, "--yes")
    assert restored.exit_code == 0, restored.output
    assert restored.output.count("removed irreversibly") == 4, restored.output
    assert emu.counts["CreateAccessKey"] == 0 and emu.counts["UpdateAccessKey"] == 4  # only night 0's
    # and nothing is removed twice
    again = run("apply", "-c", cfg, "--as-of", day(40), "--yes", "--allow-remove", "-f", "json")
    assert again.exit_code == 0 and emu.counts["DeleteAccessKey"] == 4, again.output


def test_a_key_re_enabled_used_or_exempted_since_is_never_deleted(aws) -> None:
    emu, cfg = aws
    ours = apply_day0(emu, cfg)
    [stale] = keys(emu, "stale-key")
    mixed = next(k for k in keys(emu, "mixed-keys") if k.access_key_id == ours["mixed-keys"])
    # stale-key: someone enabled it, used it on day 10 and deactivated it again, with no run in between
    from moto.iam.models import AccessKeyLastUsed

    stale.last_used = AccessKeyLastUsed(DAY0 + timedelta(days=10), "iam", emulator.REGION)
    # mixed-keys: a helpdesk enables it again and the next night sees that; later it is deactivated by hand
    mixed.status = "Active"
    seen = findings(run("plan", "-c", cfg, "--as-of", day(5), "-f", "json"))
    assert "re-enabled since run" in seen[("mixed-keys", f"access_key:{mixed.access_key_id}")]["reason"]
    mixed.status = "Inactive"
    # twin-keys: its owner tags it exempt after it was deactivated
    emu.backend(HOME).tag_user("twin-keys", [{"Key": "sweeper:exempt", "Value": "true"}])

    r = run("apply", "-c", cfg, "--as-of", day(40), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    removed = {user for (user, _), f in findings(r).items() if f["action"] == "removed"}
    assert removed == {"stale-two"}  # the control: removal works in this very run
    assert emu.counts["DeleteAccessKey"] == 1
    assert {ours["stale-key"], ours["mixed-keys"], ours["twin-keys"]} <= set(key_states(emu))


@pytest.mark.parametrize("landed", [False, True], ids=["killed-before-the-delete", "killed-after-the-delete"])
def test_a_removal_killed_between_intent_and_result_is_reconciled(aws, landed: bool) -> None:
    emu, cfg = aws
    ours = apply_day0(emu, cfg)
    key_id = ours["stale-key"]
    user_id = emu.backend(HOME).get_user("stale-key").id
    ref = CredentialRef("aws", HOME, user_id, "stale-key", CredentialKind.ACCESS_KEY, key_id)
    # what a run killed right after committing its intent leaves: the intent, and the delete done or not
    journal = Journal(cfg.parent / "sweeper.db")
    journal.start_run("20260702T020000Z-killed", "apply", day(31))
    journal.intend("20260702T020000Z-killed", Action.REMOVE, [(ref, {"enabled": False}, True)])
    journal.close()
    if landed:
        emu.backend(HOME).delete_access_key(key_id, "stale-key")

    r = run("apply", "-c", cfg, "--as-of", day(32), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    assert "reconciled 1 unfinished action(s) for aws" in r.stderr
    assert key_id not in key_states(emu)
    # deleted exactly once in all: by the killed run, or by this one after the reconciliation
    assert emu.counts["DeleteAccessKey"] == (3 if landed else 4)  # the three other keys too
    journal = Journal(cfg.parent / "sweeper.db")
    states = [a.state for a in journal.actions() if a.action is Action.REMOVE and a.ref.credential_id == key_id]
    journal.close()
    assert states == (["done"] if landed else ["interrupted", "done"])


def test_the_adapter_deletes_only_an_inactive_key_named_by_its_id(aws) -> None:
    emu, _ = aws
    adapter = AwsIamAdapter(AwsSettings.model_validate(emu.config()), write=True)
    user = emu.backend(HOME).get_user("mixed-keys")
    active, stale = (k.access_key_id for k in user.access_keys)

    def ref(key: str) -> CredentialRef:
        return CredentialRef("aws", HOME, user.id, "mixed-keys", CredentialKind.ACCESS_KEY, key)

    try:
        [slot, on, gone, undo] = (adapter.apply(Action.REMOVE, [ref("access_key_2")])
                                  + adapter.apply(Action.REMOVE, [ref(active)])
                                  + adapter.apply(Action.REMOVE, [ref("AKIAGONEGONEGONEGONE")])
                                  + adapter.apply(Action.UNDELETE, [ref(stale)]))
    finally:
        adapter.close()
    assert not slot.ok and "credential report slot" in (slot.error or "")
    assert not on.ok and "Active again: not deleted" in (on.error or "")
    assert gone.ok and "already gone" in (gone.note or "")
    assert not undo.ok and "cannot be brought back" in (undo.error or "")
    assert emu.counts["DeleteAccessKey"] == 0
    assert {k.access_key_id: k.status for k in user.access_keys} == {active: "Active", stale: "Active"}
