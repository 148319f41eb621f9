"""The `Emulator` interface, the same for every provider's emulator; the AWS emulator leaves moto alone."""

from __future__ import annotations

import inspect
import json
import time
import tomllib
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from providers import demo, emulator
from providers.emulator import Emulator, Faults
from sweeper import registry
from sweeper.cli import app

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
PROVIDERS = list(demo.organisation(NOW))


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.parametrize("provider", [pytest.param(p, marks=getattr(pytest.mark, p)) for p in PROVIDERS])
def test_an_emulator_is_reached_only_through_the_config_and_environment_it_gives(
        provider: str, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scenario, settings = demo.organisation(NOW)[provider]
    emu = emulator.emulator_class(provider)(scenario)
    assert isinstance(emu, Emulator) and emu.provider == provider and not emu.running
    with emu:
        assert emu.running
        registry.settings_class(provider).model_validate(emu.config())  # valid as a user's section
        text = emu.config_toml(**settings)
        assert tomllib.loads(text) == {"providers": {provider: {**emu.config(), **settings}}}
        for name, value in emu.env().items():
            clean_env.setenv(name, value)
        cfg = tmp_path / "sweeper.toml"
        cfg.write_text(f'[policy]\nmax_disable_percent = 100\n[journal]\npath = "{tmp_path / "j.db"}"\n' + text)
        emu.reset_counts()
        result = CliRunner().invoke(app, ["plan", "-c", str(cfg), "-f", "json", "--as-of", NOW.isoformat()])
        assert result.exit_code in (0, 10), result.output
        assert {p["status"] for p in json.loads(result.stdout)["providers"]} == {"ok"}
        assert sum(emu.request_counts().values()) > 0
        emu.reset_counts()
        assert emu.request_counts() == {}
    assert not emu.running


@pytest.mark.parametrize("provider", [pytest.param(p, marks=getattr(pytest.mark, p)) for p in PROVIDERS])
def test_faults_apply_to_the_running_emulator(provider: str) -> None:
    scenario, _ = demo.organisation(NOW)[provider]
    with emulator.start(provider, scenario) as emu:
        url = next(v for k, v in emu.config().items() if k.startswith("endpoint"))
        emu.faults = Faults(latency_ms=300)
        assert emu.faults == Faults(latency_ms=300)
        started = time.monotonic()
        _get(url)
        assert time.monotonic() - started >= 0.3
        assert sum(emu.request_counts().values()) == 1


@pytest.mark.aws
def test_the_aws_emulator_leaves_motos_classes_as_moto_ships_them(clean_env: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws
    from moto.iam.models import IAMBackend
    from moto.iam.responses import IamResponse

    from providers.aws_iam import emulator as aws_emulator
    from providers.aws_iam import scenarios

    classes = (IAMBackend, IamResponse)
    before = {cls: dict(vars(cls)) for cls in classes}
    with aws_emulator.start(scenarios.basic()) as emu:
        for name, value in emu.env().items():
            clean_env.setenv(name, value)
        iam = boto3.Session().client("iam", endpoint_url=emu.endpoint_url, region_name="us-east-1")
        iam.generate_credential_report()
        assert b"\n<root_account>," in iam.get_credential_report()["Content"]  # the emulator answers as AWS
        assert iam.get_account_authorization_details(Filter=["User"], MaxItems=2)["IsTruncated"]
        iam.create_login_profile(UserName="no-credentials", Password="Not-a-real-passw0rd!")
        made = iam.get_login_profile(UserName="no-credentials")["LoginProfile"]["CreateDate"]
        assert made > iam.get_user(UserName="no-credentials")["User"]["CreateDate"]
        key = iam.list_access_keys(UserName="mixed-keys")["AccessKeyMetadata"][0]["AccessKeyId"]
        assert iam.get_access_key_last_used(AccessKeyId=key)["UserName"] == "mixed-keys"
    assert {cls: dict(vars(cls)) for cls in classes} == before
    for cls in classes:
        foreign = [name for name, value in vars(cls).items()
                   if inspect.isfunction(value) and not value.__module__.startswith("moto.")]
        assert foreign == [], cls

    with mock_aws():  # moto elsewhere in the process answers as moto does
        plain = boto3.Session().client("iam", region_name="us-east-1")
        for n in range(3):
            plain.create_user(UserName=f"user-{n}")
        assert plain.get_account_authorization_details(Filter=["User"], MaxItems=1)["IsTruncated"] is False
        plain.generate_credential_report()
        assert b"<root_account>" not in plain.get_credential_report()["Content"]
