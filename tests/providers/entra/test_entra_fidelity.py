"""Issue #23 items 3-6 for Entra, through the Graph emulator: what the real Graph does that a tidy one
would not. A licence 403 that comes and goes, fractional Retry-After values, `$batch` errors without a
code, and a batch that runs its items in any order."""

from __future__ import annotations

import json

import pytest

from providers.emulator import Faults
from providers.entra import emulator
from providers.entra.graph import LICENCE_RETRIES, UNLICENSED
from sweeper.errors import NotMeasured, ProviderError, ThrottledError
from sweeper.model import Action, CredentialRef
from tests.providers.entra.support import generate, listing, running, sweep

USERS = "GET /v1.0/users"
BATCH = "POST /v1.0/$batch"


def _refs(adapter) -> list[CredentialRef]:
    return [CredentialRef.of(i, i.credentials[0]) for i in listing(adapter).values() if i.enabled]


# -- #23.3 an intermittent licence 403 ---------------------------------------------------------------

def test_one_licence_403_then_success_is_measured(monkeypatch):
    with running(generate(40, seed=1), monkeypatch, retry_max_wait=0.05) as (emu, adapter):
        adapter.scopes()
        emu.refuse_licence(1)
        assert len(listing(adapter)) == 40
        assert emu.server.request_counts()[USERS] == 2  # the refused page, asked again
        assert adapter.graph.waits == [0.05]  # 1 s, cut to retry_max_wait


def test_a_licence_403_that_lasts_on_the_first_page_is_not_measured(monkeypatch):
    scn = generate(10, seed=1, licensed=False)
    with running(scn, monkeypatch, retry_max_wait=0.05) as (emu, adapter):
        adapter.scopes()
        with pytest.raises(NotMeasured, match="no Entra ID P1/P2 licence"):
            listing(adapter)
        assert emu.server.request_counts()[USERS] == 1 + LICENCE_RETRIES
        assert adapter.graph.waits == [0.05] * LICENCE_RETRIES


def test_a_licence_403_on_page_3_fails_the_listing(monkeypatch):
    with running(generate(1100, seed=1), monkeypatch, retry_max_wait=0.05) as (emu, adapter):
        adapter.scopes()
        emu.refuse_licence(from_page=3)
        with pytest.raises(ProviderError) as caught:
            listing(adapter)
    err = caught.value
    assert not isinstance(err, NotMeasured) and err.status == 403
    assert UNLICENSED in err.detail and "page 3" in err.detail and "after 2 page(s)" in err.detail
    assert "premium license" in err.detail  # Graph's own message is kept
    assert emu.server.request_counts()[USERS] == 2 + 1 + LICENCE_RETRIES


def test_a_licence_403_on_a_later_page_that_passes_is_no_failure(monkeypatch):
    with running(generate(1100, seed=1), monkeypatch, retry_max_wait=0.05) as (emu, adapter):
        adapter.scopes()
        first = adapter.list_identities(adapter.scopes()[0])
        got = [next(first)]
        emu.refuse_licence(1)  # the next request, the second page, is refused once
        got += list(first)
        assert len(got) == 1100 and emu.server.request_counts()[USERS] == 4


def _run(tmp_path, monkeypatch, emu, *command: str, **keys) -> tuple[int, dict]:
    r = sweep(tmp_path, monkeypatch, emu, *command, "-f", "json", "--as-of", "2025-06-01", retry_max_wait=0.05,
              **keys)
    assert "Traceback" not in r.output
    return r.exit_code, json.loads(r.stdout)


def test_through_the_cli_flap_measured_lasting_not_measured_page_3_failed(tmp_path, monkeypatch):
    with emulator.start(generate(1100, seed=4) | {"licence_flaps": 1}) as emu:
        code, report = _run(tmp_path, monkeypatch, emu, "plan")
        assert code == 0 and report["providers"][0]["status"] == "ok"
    with emulator.start(generate(20, seed=4, licensed=False)) as emu:
        code, report = _run(tmp_path, monkeypatch, emu, "plan")
        assert code == 3 and report["providers"][0]["status"] == "not_measured"
    with emulator.start(generate(1100, seed=4) | {"licence_refused_from_page": 3}) as emu:
        code, report = _run(tmp_path, monkeypatch, emu, "apply", "--yes")
        [scope] = report["providers"]
        assert code == 4 and scope["status"] == "failed" and UNLICENSED in scope["message"], scope
        assert not emu.state.patches  # a listing cut short disables nothing



# -- #23.4 fractional Retry-After --------------------------------------------------------------------

def test_a_fractional_retry_after_is_waited_as_sent(monkeypatch):
    """The SDK reads whole seconds only: "0.128" fell back to its own backoff (0.5 s plus up to 1 s)."""
    with running(generate(10), monkeypatch, max_retries=2, skip_role_holders=False) as (emu, adapter):
        adapter.scopes()
        emu.server.set_faults(Faults(rate_429=1.0, retry_after=0.128, only=(USERS,)))
        with pytest.raises(ThrottledError):
            listing(adapter)
        assert emu.server.request_counts()[USERS] == 3
        assert adapter.graph.waits == [0.128, 0.128]


def test_a_throttled_listing_recovers_after_fractional_waits(monkeypatch):
    with running(generate(1200), monkeypatch, max_retries=5, skip_role_holders=False) as (emu, adapter):
        adapter.scopes()
        emu.server.set_faults(Faults(rate_429=0.4, retry_after=0.25, seed=2, only=(USERS,)))
        assert len(listing(adapter)) == 1200
        assert emu.server.injected["429"] > 0
        assert adapter.graph.waits == [0.25] * emu.server.injected["429"]


def test_fractional_retry_after_on_the_batch_request_and_on_its_items(monkeypatch):
    with running(generate(30, seed=7), monkeypatch) as (emu, adapter):
        refs = _refs(adapter)[:20]
        emu.server.set_faults(Faults(rate_429=0.5, retry_after=0.128, seed=3, only=(BATCH,)))
        emu.set_item_faults(Faults(rate_429=0.3, retry_after=0.064, seed=11))
        outcomes = adapter.apply(Action.DISABLE, refs)
        assert all(o.ok for o in outcomes), [o.error for o in outcomes]
        assert emu.server.injected["429"] > 0 and emu.app.item_injected[429] > 0
        assert sorted(set(adapter.graph.waits)) == [0.064, 0.128]
        assert adapter.graph.waits.count(0.128) == emu.server.injected["429"]


# -- #23.5 a $batch item error without a code ----------------------------------------------------------

def test_a_batch_error_with_an_empty_code_keeps_its_message(monkeypatch):
    with running(generate(10, seed=2), monkeypatch) as (emu, adapter):
        a, b, c = _refs(adapter)[:3]
        emu.fail_batch_items({f"PATCH /users/{a.identity_id}": (403, "", "Insufficient privileges to complete it."),
                              f"PATCH /users/{b.identity_id}": (400, "", ""),
                              f"PATCH /users/{c.identity_id}": (400, "Request_BadRequest", "")})
        by_id = {o.ref.identity_id: o for o in adapter.apply(Action.DISABLE, [a, b, c])}
    assert not any(o.ok for o in by_id.values())
    assert "Insufficient privileges to complete it." in by_id[a.identity_id].error
    assert by_id[a.identity_id].error.startswith("permission denied (HTTP 403 Insufficient")
    assert by_id[b.identity_id].error == "HTTP 400"
    assert by_id[c.identity_id].error == "HTTP 400 Request_BadRequest"


def test_a_graph_error_with_an_empty_code_keeps_its_message():
    from kiota_abstractions.api_error import APIError

    from msgraph.generated.models.o_data_errors.main_error import MainError
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from providers.entra.graph import translate

    err = ODataError(error=MainError(code="", message="The service is busy."))
    err.response_status_code = 500
    assert isinstance(err, APIError)
    assert translate(err, "list users", "").detail == "server error (HTTP 500 The service is busy.)"


# -- #23.6 revoke sessions only after the disable ------------------------------------------------------

@pytest.mark.parametrize("order", ["reversed", "shuffled", "listed"])
def test_revoke_never_precedes_disable(monkeypatch, order):
    """Graph runs a batch's independent items in any order; the emulator plays the worst one too."""
    with running(generate(60, seed=2), monkeypatch, revoke_sessions=True) as (emu, adapter):
        refs = _refs(adapter)[:25]
        emu.app.batch_order = order
        emu.server.reset_counts()
        outcomes = adapter.apply(Action.DISABLE, refs)
        events = list(emu.state.events)
    assert all(o.ok and o.note == "sign-in sessions revoked" for o in outcomes)
    for ref in refs:
        done = [kind for kind, uid in events if uid == ref.identity_id]
        assert done == ["disable", "revoke"], (ref.login, done)
    assert emu.server.request_counts()[BATCH] == 4  # 25 disables in two batches, then 25 revokes in two


def test_no_revoke_for_a_failed_disable_and_a_failed_revoke_is_a_note(monkeypatch):
    with running(generate(20, seed=2), monkeypatch, revoke_sessions=True) as (emu, adapter):
        a, b, c = _refs(adapter)[:3]
        emu.fail_batch_items({f"PATCH /users/{a.identity_id}": (403, "Authorization_RequestDenied", "No."),
                              f"POST /users/{b.identity_id}/revokeSignInSessions": (403, "", "Not allowed.")})
        emu.set_item_faults(Faults(rate_429=0.5, retry_after=0, seed=5, only=("revokeSignInSessions",)))
        by_id = {o.ref.identity_id: o for o in adapter.apply(Action.DISABLE, [a, b, c])}
        events = list(emu.state.events)
    assert not by_id[a.identity_id].ok and emu.enabled(a.identity_id)
    assert not [e for e in events if e[1] == a.identity_id]  # neither disabled nor revoked
    assert by_id[b.identity_id].ok and "revoking sign-in sessions failed (HTTP 403 Not allowed.)" in \
        by_id[b.identity_id].note
    assert by_id[c.identity_id].note == "sign-in sessions revoked"
    assert [k for k, uid in events if uid == c.identity_id] == ["disable", "revoke"]


def test_apply_through_the_cli_revokes_after_disabling(tmp_path, monkeypatch):
    with emulator.start(generate(40, seed=3)) as emu:
        emu.app.batch_order = "reversed"
        code, report = _run(tmp_path, monkeypatch, emu, "apply", "--yes", revoke_sessions=True)
        events = list(emu.state.events)
    assert code == 0, report
    disabled = [uid for kind, uid in events if kind == "disable"]
    assert disabled and [uid for kind, uid in events if kind == "revoke"] == disabled
    for uid in disabled:
        assert events.index(("disable", uid)) < events.index(("revoke", uid))
