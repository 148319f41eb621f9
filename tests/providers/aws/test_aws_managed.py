"""Identities managed as code (#26 item 3), through moto and the CLI: a key Terraform declares and a user
tagged `managed_by = terraform` are reported with the change to make in code, not disabled; a key made
by hand on the same user is disabled; `managed_as_code = "act"` in a rule acts and says what will follow."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from providers.aws_iam import scenarios
from sweeper.cli import app

NOW = scenarios.DEFAULT_NOW
HOME = scenarios.MANAGEMENT
runner = CliRunner()


def _state(folder: Path, key_id: str, user: str) -> Path:
    path = folder / "state.json"
    resources = [
        {"address": "aws_iam_user.ci", "mode": "managed", "type": "aws_iam_user", "name": "ci",
         "provider_name": "registry.terraform.io/hashicorp/aws", "schema_version": 0,
         "values": {"name": user, "arn": f"arn:aws:iam::{HOME}:user/{user}", "unique_id": "AIDA0000000000000CI00"},
         "sensitive_values": {}},
        {"address": "aws_iam_access_key.ci", "mode": "managed", "type": "aws_iam_access_key", "name": "ci",
         "provider_name": "registry.terraform.io/hashicorp/aws", "schema_version": 0,
         "values": {"id": key_id, "user": user, "status": "Active", "secret": "do-not-print-this-secret-0123456789"},
         "sensitive_values": {"secret": True}}]
    path.write_text(json.dumps({"format_version": "1.0", "terraform_version": "1.9.8",
                                "values": {"root_module": {"resources": resources}}}))
    return path


def _setup(start_emulator: Any, tmp_path: Path, extra: str = "") -> tuple[Any, Path, str, str]:
    old = (NOW - timedelta(days=900)).isoformat()
    stale = {"created": (NOW - timedelta(days=800)).isoformat(), "last_used": (NOW - timedelta(days=400)).isoformat()}
    later = {"created": (NOW - timedelta(days=700)).isoformat(), "last_used": (NOW - timedelta(days=300)).isoformat()}
    emu = start_emulator({"accounts": {HOME: {"users": [
        {"name": "sweeper-bot", "created": old, "keys": [
            {"created": (NOW - timedelta(days=3)).isoformat(), "last_used": NOW.isoformat(), "caller": True}]},
        {"name": "ci", "created": old, "keys": [stale, later]},
        {"name": "tagged", "created": old, "tags": {"managed_by": "Terraform"}, "keys": [dict(stale)]}]}}})
    keys = sorted(emu.backend(HOME).get_user("ci").access_keys, key=lambda k: k.create_date)
    declared, by_hand = keys[0].access_key_id, keys[1].access_key_id
    state = _state(tmp_path, declared, "ci")
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text('[managed_as_code]\ntags = { managed_by = "terraform" }\n'
                   f'terraform_state = ["{state.name}"]\n' + extra
                   + "[policy]\nmax_disable_percent = 100\n" + emu.config_toml() + "report_poll_seconds = 0.01\n")
    return emu, cfg, declared, by_hand


def _plan(cfg: Path) -> dict[str, dict[str, Any]]:
    r = runner.invoke(app, ["plan", "-c", str(cfg), "--as-of", NOW.isoformat(), "-f", "json"])
    assert r.exit_code == 0, r.output
    assert "do-not-print-this-secret" not in r.output
    return {f"{f['identity']} {f['credential']}": f for f in json.loads(r.stdout)["findings"]}


def test_declared_and_tagged_credentials_are_reported_with_the_change_to_make(start_emulator, tmp_path) -> None:
    emu, cfg, declared, by_hand = _setup(start_emulator, tmp_path)
    found = _plan(cfg)
    code = found[f"ci access_key:{declared}"]
    assert code["decision"] == "report" and code["action"] == "none"
    assert ("managed by Terraform at aws_iam_access_key.ci; disabling would be reverted by the next apply"
            in code["reason"]) and 'set status = "Inactive" on aws_iam_access_key.ci' in code["reason"]
    assert found[f"ci access_key:{by_hand}"]["decision"] == "disable"  # not in the code: judged as usual
    tagged = [f for k, f in found.items() if k.startswith("tagged ")]
    assert [f["decision"] for f in tagged] == ["report"] and "(tag managed_by=" in tagged[0]["reason"]
    r = runner.invoke(app, ["apply", "-c", str(cfg), "--as-of", NOW.isoformat(), "-f", "json", "--yes"])
    assert r.exit_code == 0, r.output
    states = {k.access_key_id: k.status for k in emu.backend(HOME).get_user("ci").access_keys}
    assert states == {declared: "Active", by_hand: "Inactive"}


def test_a_rule_can_act_on_managed_credentials_and_says_what_follows(start_emulator, tmp_path) -> None:
    rule = '[[rules]]\nname = "ci keys"\nmanaged_as_code = "act"\n[rules.match]\nlogin = ["ci"]\n'
    _, cfg, declared, _ = _setup(start_emulator, tmp_path, rule)
    code = _plan(cfg)[f"ci access_key:{declared}"]
    assert code["decision"] == "disable" and code["rule"] == "ci keys"
    assert "managed by Terraform at aws_iam_access_key.ci; acted on (managed_as_code = act)" in code["reason"]


def test_a_state_file_that_cannot_be_read_stops_the_run_naming_it(start_emulator, tmp_path) -> None:
    _, cfg, _, _ = _setup(start_emulator, tmp_path)
    (tmp_path / "state.json").write_text("{not json")
    r = runner.invoke(app, ["plan", "-c", str(cfg), "--as-of", NOW.isoformat()])
    assert r.exit_code == 2 and "state.json" in r.output and "Traceback" not in r.output


def test_an_administrator_is_privileged_for_rules_and_judged_only_by_a_rule_for_them(start_emulator, tmp_path) -> None:
    """#26: an IAM user with AdministratorAccess attached is privileged; AWS protects no admins by
    default, so a general rule judges it as anyone, and a privileged rule picks it out."""
    old = (NOW - timedelta(days=900)).isoformat()
    key = {"created": (NOW - timedelta(days=800)).isoformat(), "last_used": (NOW - timedelta(days=50)).isoformat()}
    emu = start_emulator({"accounts": {HOME: {"users": [
        {"name": "sweeper-bot", "created": old, "keys": [
            {"created": (NOW - timedelta(days=3)).isoformat(), "last_used": NOW.isoformat(), "caller": True}]},
        {"name": "admin", "created": old, "managed_policies": ["arn:aws:iam::aws:policy/AdministratorAccess"],
         "keys": [dict(key)]},
        {"name": "dev", "created": old, "keys": [dict(key)]}]}}})
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text('[[rules]]\nname = "admins"\ninactive_days = 45\n[rules.match]\nprivileged = true\n'
                   "[policy]\nmax_disable_percent = 100\n" + emu.config_toml() + "report_poll_seconds = 0.01\n")
    found = {f["identity"]: f for f in _plan(cfg).values()}
    assert found["admin"]["decision"] == "report" and found["admin"]["rule"] == "admins"
    assert "privileged: AdministratorAccess attached" in found["admin"]["reason"]
    assert "dev" not in found  # 50 days: in use under the defaults
