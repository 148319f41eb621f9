"""Never undo a human decision, per provider through its emulator (#19): night 1 disables a stale
credential; a helpdesk enables it again in the cloud itself; night 2 warns (grace), never disables
it again, and the journal and the report say why."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from providers import emulator
from tests.reliability import world
from sweeper.cli import app

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _aws_target(emu: Any) -> tuple[str, Callable[[], None], Callable[[], bool]]:
    user = emu.backend(world.MANAGEMENT).get_user("stale-key-0")

    def reenable() -> None:
        user.access_keys[0].status = "Active"

    return "stale-key-0", reenable, lambda: user.access_keys[0].status == "Active"


def _entra_target(emu: Any) -> tuple[str, Callable[[], None], Callable[[], bool]]:
    login = f"stale0@{world.DOMAIN}"
    return (login, lambda: emu.state.update(emu.state.find(login), {"accountEnabled": True}),
            lambda: emu.enabled(login))


def _google_target(emu: Any) -> tuple[str, Callable[[], None], Callable[[], bool]]:
    login = f"gstale0@{world.DOMAIN}"
    return (login, lambda: emu.directory.find(login).update(suspended=False),
            lambda: not emu.user(login)["suspended"])


CASES = {"aws": (world.aws, _aws_target), "entra": (world.entra, _entra_target),
         "google_workspace": (world.google, _google_target)}


@pytest.mark.parametrize("provider", [pytest.param(p, marks=getattr(pytest.mark, p)) for p in CASES])
def test_a_helpdesk_re_enable_is_not_undone_the_next_night(provider: str, clean_env: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch = clean_env
    scenario, target = CASES[provider]
    with emulator.start(provider, scenario(NOW)) as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        extra = {"report_poll_seconds": 0.05} if provider == "aws" else {}
        cfg = tmp_path / "sweeper.toml"
        cfg.write_text('[policy]\nmax_disable_percent = 100\nexclude = ["breakglass-*"]\n'
                       f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n' + emu.config_toml(**extra))
        login, reenable, enabled = target(emu)

        night1 = CliRunner().invoke(app, ["apply", "-c", str(cfg), "--yes", "-f", "json"])
        assert night1.exit_code == 0, night1.output
        done = [f for f in json.loads(night1.stdout)["findings"] if f["identity"] == login]
        assert done and done[0]["action"] == "disabled" and not enabled()

        reenable()  # the user came back: the helpdesk enables the credential in the cloud
        assert enabled()
        night2 = CliRunner().invoke(app, ["apply", "-c", str(cfg), "--yes", "-f", "json",
                                          "--as-of", (NOW + timedelta(minutes=1)).isoformat()])
        assert night2.exit_code == 0, night2.output
        [kept] = [f for f in json.loads(night2.stdout)["findings"] if f["identity"] == login]
        assert kept["decision"] == "warn" and kept["action"] == "none", kept
        assert "re-enabled since run" in kept["reason"] and "grace until" in kept["reason"]
        assert enabled(), "the sweeper undid the helpdesk's decision"
