"""Issue #18 item 1: the Graph token goes to Graph's hosts (or loopback) only, from a SWEEPER_* variable
only, and never follows a redirect to wherever a server points."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from providers.entra import emulator
from providers.entra.emulator import Hostile
from providers.entra.settings import EntraSettings
from sweeper.errors import ProviderError
from sweeper.model import Action
from tests.providers.entra.support import Recorder, listing, running, sweep, tenant, user

UTC = timezone.utc
SECRET = "ghs_job-secret-that-must-not-travel"
STALE = [user(f"stale{i}@example.test", created=datetime(2020, 1, 1, tzinfo=UTC),
              success=datetime(2021, 1, 1, tzinfo=UTC)) for i in range(3)]


# -- endpoints and token variables ----------------------------------------------------------------

def test_access_token_to_another_https_host_is_a_config_error(tmp_path, monkeypatch):
    with pytest.raises(ValidationError, match="allow_custom_endpoint"):
        EntraSettings(auth="access_token", endpoint="https://graph.attacker.test/v1.0")
    with emulator.start(tenant(STALE)) as emu:
        r = sweep(tmp_path, monkeypatch, emu, "plan", endpoint="https://graph.attacker.test/v1.0")
        assert r.exit_code == 2, r.output
        assert "endpoint" in r.stderr and "graph.attacker.test" in r.stderr and "allow_custom_endpoint" in r.stderr
        assert emu.server.total_requests == 0


@pytest.mark.parametrize("host", ["graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us",
                                  "microsoftgraph.chinacloudapi.cn"])
def test_graph_hosts_need_no_flag_and_give_no_warning(host):
    s = EntraSettings(auth="access_token", endpoint=f"https://{host}/v1.0", tenant_id="t")
    assert s.warnings() == []


def test_plain_http_to_a_remote_host_is_a_config_error_even_with_the_flag():
    with pytest.raises(ValidationError, match="plain http"):
        EntraSettings(endpoint="http://graph.microsoft.com/v1.0", allow_custom_endpoint=True)


def test_a_custom_host_with_the_flag_is_warned_about_on_every_run(tmp_path, monkeypatch):
    custom = "https://graph-proxy.corp.test/v1.0"
    s = EntraSettings(auth="access_token", endpoint=custom, allow_custom_endpoint=True, tenant_id="t")
    assert any("graph-proxy.corp.test" in w and "allow_custom_endpoint" in w for w in s.warnings())
    with emulator.start(tenant(STALE)) as emu:
        for command in (("history",), ("permissions", "-p", "entra", "--for", "plan")):
            r = sweep(tmp_path, monkeypatch, emu, *command, endpoint=custom, allow_custom_endpoint=True)
            assert r.exit_code == 0, r.output
            assert "warning: providers.entra: custom endpoint" in r.stderr and "graph-proxy.corp.test" in r.stderr
        assert emu.server.total_requests == 0


@pytest.mark.parametrize("variable", ["GITHUB_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
def test_token_env_must_name_a_sweeper_variable(tmp_path, monkeypatch, variable):
    monkeypatch.setenv(variable, SECRET)
    with pytest.raises(ValidationError, match="token_env"):
        EntraSettings(auth="access_token", token_env=variable)
    with emulator.start(tenant(STALE)) as emu:
        r = sweep(tmp_path, monkeypatch, emu, "plan", token_env=variable)
        assert r.exit_code == 2, r.output
        assert "token_env" in r.stderr and variable in r.stderr and "SWEEPER_" in r.stderr
        assert SECRET not in r.output
        assert emu.server.total_requests == 0  # the job's secret went nowhere


# -- redirects ------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_of_the_listing_is_refused_and_the_other_host_gets_nothing(monkeypatch, status):
    with Recorder() as elsewhere, running(tenant(STALE), monkeypatch, max_retries=1) as (emu, adapter):
        adapter.scopes()
        emu.set_hostile(Hostile(redirect_to=elsewhere.base_url, redirect_status=status))
        with pytest.raises(ProviderError, match=f"HTTP {status}, a redirect to {elsewhere.base_url}.*never followed"):
            listing(adapter)
        assert emu.server.request_counts()["GET /v1.0/users"] == 1  # refused, not retried either
    assert elsewhere.requests == []


def test_a_redirect_while_binding_is_refused(monkeypatch):
    with Recorder() as elsewhere:
        scn = tenant(STALE, hostile={"redirect_to": elsewhere.base_url, "only": ["GET /v1.0/organization"]})
        with running(scn, monkeypatch) as (emu, adapter):
            with pytest.raises(ProviderError, match="redirect"):
                adapter.scopes()
            assert emu.server.request_counts()["GET /v1.0/organization"] == 1
    assert elsewhere.requests == []


def test_a_redirected_batch_disables_nothing_and_sends_nothing_elsewhere(monkeypatch):
    with Recorder() as elsewhere, running(tenant(STALE), monkeypatch) as (emu, adapter):
        refs = _refs(adapter)
        emu.set_hostile(Hostile(redirect_to=elsewhere.base_url, only=("POST /v1.0/$batch",)))
        with pytest.raises(ProviderError, match="redirect"):
            adapter.apply(Action.DISABLE, refs)
        assert not emu.state.patches and all(emu.enabled(r.identity_id) for r in refs)
    assert elsewhere.requests == []


def test_a_redirect_fails_the_scope_through_the_cli(tmp_path, monkeypatch):
    with Recorder() as elsewhere, emulator.start(tenant(STALE)) as emu:
        emu.set_hostile(Hostile(redirect_to=elsewhere.base_url, redirect_status=302))
        r = sweep(tmp_path, monkeypatch, emu, "apply", "--yes", "-f", "json", "--as-of", "2025-06-01")
        assert r.exit_code == 4, r.output
        [scope] = json.loads(r.stdout)["providers"]
        assert scope["status"] == "failed" and "redirect" in scope["message"]
        assert not emu.state.patches
    assert elsewhere.requests == []


def _refs(adapter):
    from sweeper.model import CredentialRef

    return [CredentialRef.of(i, i.credentials[0]) for i in listing(adapter).values()]
