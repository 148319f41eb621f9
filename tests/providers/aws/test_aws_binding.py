"""The sweep acts only in the configured account and organization: `account_id` against
sts:GetCallerIdentity, `organization.management_account_id` / `org_id` against DescribeOrganization,
checked before anything is listed (exit 2 from plan and check, naming both values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from providers.aws_iam import emulator, scenarios
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.settings import AwsSettings
from sweeper.cli import app
from sweeper.errors import BindingError

NOW = scenarios.DEFAULT_NOW
HOME, MEMBER = scenarios.MANAGEMENT, scenarios.MEMBER
OTHER = "999999999999"
LISTING = ("GenerateCredentialReport", "GetCredentialReport", "GetAccountAuthorizationDetails", "ListAccounts",
           "ListAccessKeys", "AssumeRole")
Start = Callable[[dict[str, Any]], emulator.AwsEmulator]


@pytest.fixture
def org_emu(start_emulator: Start) -> emulator.AwsEmulator:
    return start_emulator(scenarios.organization(NOW))


def _settings(emu: emulator.AwsEmulator, **extra: Any) -> AwsSettings:
    return AwsSettings.model_validate({**emu.config(), "report_poll_seconds": 0.01, "retries": 0, **extra})


def _org_id() -> str:
    from moto.organizations.models import organizations_backends

    org = organizations_backends[HOME]["aws"].org
    assert org is not None
    return str(org.id)


def _nothing_listed(emu: emulator.AwsEmulator) -> None:
    assert not {a: emu.counts[a] for a in LISTING if emu.counts[a]}


def test_the_configured_account_binds(emu: emulator.AwsEmulator) -> None:
    settings = _settings(emu)
    assert settings.account_id == HOME and not [w for w in settings.warnings() if "account_id" in w]
    adapter = AwsIamAdapter(settings, write=False)
    assert adapter.scopes() == [HOME]
    assert len(list(adapter.list_identities(HOME))) == 13


def test_another_account_is_refused_before_anything_is_listed(emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(emu, account_id=OTHER), write=True)
    with pytest.raises(BindingError) as raised:
        adapter.scopes()
    assert raised.value.exit_code == 2
    assert (raised.value.configured, raised.value.actual) == (OTHER, HOME)
    assert f"the configured account_id is {OTHER}, but the credentials are for {HOME}" in str(raised.value)
    with pytest.raises(BindingError):  # and no account is reached behind the core's back either
        list(adapter.list_identities(HOME))
    _nothing_listed(emu)


def test_role_arn_binds_the_assumed_session_account(org_emu: emulator.AwsEmulator) -> None:
    role = f"arn:aws:iam::{MEMBER}:role/Auditor"
    wrong = AwsIamAdapter(_settings(org_emu, role_arn=role), write=False)  # account_id: the caller's own
    with pytest.raises(BindingError, match=f"configured account_id is {HOME}, but the credentials are for "
                                           f"{MEMBER} \\(sts:GetCallerIdentity of the session in {role}\\)"):
        wrong.scopes()
    right = AwsIamAdapter(_settings(org_emu, role_arn=role, account_id=MEMBER), write=False)
    assert right.scopes() == [MEMBER]


def test_the_organization_binds_by_management_account_and_id(org_emu: emulator.AwsEmulator) -> None:
    bound = AwsIamAdapter(_settings(org_emu, organization={"management_account_id": HOME, "org_id": _org_id()}),
                          write=False)
    assert bound.scopes() == [HOME, MEMBER, scenarios.UNASSUMABLE]
    assert org_emu.counts["DescribeOrganization"] == 1


def test_another_management_account_is_refused(org_emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(org_emu, organization={"management_account_id": OTHER}), write=False)
    with pytest.raises(BindingError) as raised:
        adapter.scopes()
    message = str(raised.value)
    assert f"organization.management_account_id is {OTHER}, but the credentials are for {HOME}" in message
    assert "DescribeOrganization's MasterAccountId" in message
    _nothing_listed(org_emu)


def test_another_organization_is_refused(org_emu: emulator.AwsEmulator) -> None:
    adapter = AwsIamAdapter(_settings(org_emu, organization={"management_account_id": HOME,
                                                             "org_id": "o-zzzzzzzzzz"}), write=False)
    with pytest.raises(BindingError, match=f"organization.org_id is o-zzzzzzzzzz, but the credentials are for "
                                           f"{_org_id()}"):
        adapter.scopes()
    _nothing_listed(org_emu)


def test_unbound_settings_say_so_on_every_run() -> None:
    plain = AwsSettings()
    [warning] = plain.warnings()
    assert "account_id is not set" in warning and "whatever account the credentials reach" in warning
    org = AwsSettings.model_validate({"account_id": HOME, "organization": {}})
    [warning] = org.warnings()
    assert "organization.management_account_id is not set" in warning
    assert AwsSettings.model_validate({"account_id": HOME, "organization": {"management_account_id": HOME}}
                                      ).warnings() == []


@pytest.mark.parametrize("bad", [{"account_id": "12345"}, {"account_id": 111111111111},
                                 {"organization": {"management_account_id": "abc"}},
                                 {"organization": {"org_id": "org-1"}}, {"organization": {"role_name": "*"}}])
def test_binding_values_are_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AwsSettings.model_validate(bad)


def test_check_shows_the_binding(org_emu: emulator.AwsEmulator) -> None:
    bound = {r.name: r for r in AwsIamAdapter(_settings(org_emu, organization={
        "management_account_id": HOME}), write=False).check()}
    assert bound["binding account_id"].ok is True and HOME in bound["binding account_id"].detail
    assert bound["binding organization.management_account_id"].ok is True
    unset = bound["binding organization.org_id"]
    assert unset.ok is None and f'set organization.org_id = "{_org_id()}"' in unset.detail
    assert bound["organizations:DescribeOrganization"].ok is True
    loose = {r.name: r for r in AwsIamAdapter(_settings(org_emu, account_id=None), write=False).check()}
    assert loose["binding account_id"].ok is None and f'account_id = "{HOME}"' in loose["binding account_id"].detail


# -- through the command line -------------------------------------------------------------------

def _config(tmp_path: Path, emu: emulator.AwsEmulator, **extra: Any) -> str:
    path = tmp_path / "sweeper.toml"
    path.write_text(f'[policy]\nmax_disable_percent = 100\n[journal]\npath = "{tmp_path / "sweeper.db"}"\n'
                    + emu.config_toml(report_poll_seconds=0.01, **extra))
    return str(path)


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"], ["check"]])
def test_a_mismatch_is_exit_2_from_the_command_line(emu: emulator.AwsEmulator, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    result = CliRunner().invoke(app, [*command, "-c", _config(tmp_path, emu, account_id=OTHER)])
    assert result.exit_code == 2, result.output
    assert OTHER in result.output and HOME in result.output and "Traceback" not in result.output
    _nothing_listed(emu)
    assert emu.counts["UpdateAccessKey"] == emu.counts["DeleteLoginProfile"] == 0


def test_an_organization_mismatch_is_exit_2_from_plan(org_emu: emulator.AwsEmulator, tmp_path: Path) -> None:
    cfg = _config(tmp_path, org_emu, organization={"management_account_id": OTHER})
    result = CliRunner().invoke(app, ["plan", "-c", cfg])
    assert result.exit_code == 2, result.output
    assert f"organization.management_account_id is {OTHER}" in result.output
    _nothing_listed(org_emu)


def test_check_prints_the_binding_and_the_unbound_warning(emu: emulator.AwsEmulator, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    bound = CliRunner().invoke(app, ["check", "-c", _config(tmp_path, emu)])
    assert bound.exit_code == 0, bound.output
    assert f"{HOME}, as configured" in bound.stdout and "account_id is not set" not in bound.stderr
    (tmp_path / "loose").mkdir()
    cfg = _config(tmp_path / "loose", emu)
    Path(cfg).write_text(Path(cfg).read_text().replace(f'account_id = "{HOME}"\n', ""))
    loose = CliRunner().invoke(app, ["check", "-c", cfg])
    assert "warning: providers.aws: account_id is not set" in loose.stderr
    assert f'set account_id = "{HOME}"' in loose.stdout
