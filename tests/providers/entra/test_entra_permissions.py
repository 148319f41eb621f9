"""Issue #18 item 3: least privilege by mode. The plan side (plan, notify, check) needs a reader app
registration that cannot write; only the apply job uses the writer, trusted for one subject."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from providers.entra.adapter import EntraAdapter
from providers.entra.settings import EntraSettings
from sweeper import registry
from sweeper.cli import app

ROOT = Path(__file__).resolve().parents[3]
WRITES = ("User.EnableDisableAccount.All", "User.RevokeSessions.All", "User.DeleteRestore.All",  # #13
          "Application.ReadWrite.All")  # #17: service_principal_action = "disable"
SUBJECT = "repo:OWNER/REPO:environment:NAME"


def test_plan_is_read_only():
    text = EntraAdapter.permissions("plan")
    for read in ("User.Read.All", "AuditLog.Read.All", "RoleManagement.Read.Directory", "GroupMember.Read.All"):
        assert read in text
    assert not any(w in text for w in WRITES)
    assert "ReadWrite" not in text and "Directory.Read.All" not in text


def test_apply_adds_only_the_writes():
    plan, apply = EntraAdapter.permissions("plan"), EntraAdapter.permissions("apply")
    assert all(w in apply for w in WRITES)
    # Application.ReadWrite.OwnedBy is named only to say why it is not enough
    assert _permissions(apply) - _permissions(plan) == set(WRITES) | {"Application.ReadWrite.OwnedBy"}
    assert EntraAdapter.permissions() == apply  # the default mode, as the docs page shows it


def _permissions(text: str) -> set[str]:
    """Graph permission names in a text (User.Read.All, RoleManagement.Read.Directory, ...)."""
    return set(re.findall(r"\b[A-Z][A-Za-z]+(?:\.[A-Z][A-Za-z]+)+\b", text))


def test_settings_shape_the_policy():
    lean = EntraSettings(tenant_id="aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa", skip_role_holders=False)
    text = EntraAdapter.permissions("plan", lean)
    assert "RoleManagement" not in text and "GroupMember" not in text and "Organization.Read.All" not in text
    grouped = EntraSettings(tenant_id="contoso.onmicrosoft.com", exclude_groups=["g1"])
    text = EntraAdapter.permissions("plan", grouped)
    assert "GroupMember.Read.All" in text and "RoleManagement.Read.Directory" in text
    assert "Organization.Read.All" in text and "domain name" in text  # binding a domain-named tenant reads it
    assert "Organization.Read.All" in EntraAdapter.permissions("plan", EntraSettings(auth="access_token"))
    assert "User.RevokeSessions.All" not in EntraAdapter.permissions("apply", lean)
    assert "User.RevokeSessions.All" in EntraAdapter.permissions("apply", lean.model_copy(update={"revoke_sessions": True}))


def test_two_app_registrations_are_documented():
    for mode in ("plan", "apply"):
        text = EntraAdapter.permissions(mode)
        assert "reader" in text and "writer" in text and SUBJECT in text
        assert "plan, notify" in text and "only by the apply job" in text and "default" in text


@pytest.mark.parametrize("mode", ["org-member", "write", ""])
def test_other_modes_are_refused(mode):
    with pytest.raises(ValueError, match="--for plan"):
        EntraAdapter.permissions(mode)
    with pytest.raises(ValueError):
        registry.permissions("entra", mode)


def test_the_cli_prints_each_mode_and_refuses_org_member(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["permissions", "-p", "entra", "--for", "plan"])
    assert r.exit_code == 0 and "User.Read.All" in r.stdout and not any(w in r.stdout for w in WRITES)
    r = runner.invoke(app, ["permissions", "-p", "entra", "--for", "apply"])
    assert r.exit_code == 0 and all(w in r.stdout for w in WRITES)
    r = runner.invoke(app, ["permissions", "-p", "entra", "--for", "org-member"])
    assert r.exit_code == 2 and "org-member" in r.stderr
    cfg = tmp_path / "sweeper.toml"
    cfg.write_text('[providers.entra]\ntenant_id = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"\nskip_role_holders = false\n')
    r = runner.invoke(app, ["permissions", "-p", "entra", "--for", "plan", "-c", str(cfg)])
    assert r.exit_code == 0 and "RoleManagement" not in r.stdout


def test_the_docs_page_carries_the_reader_and_writer():
    page = (ROOT / "docs" / "entra.md").read_text()
    assert SUBJECT in page and "reader" in page and all(w in page for w in WRITES)
