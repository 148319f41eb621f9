"""#23.2: a batch whose answer cannot be matched to its requests (google-api-python-client raises
BatchError, or finds a request without its part) after the Directory API applied it. The adapter reads
each user's state, the journal records what happened, and restore undoes it; what cannot be read at
all is journaled interrupted, which restore checks live."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from providers.emulator import Faults
from providers.google_workspace import emulator
from providers.google_workspace.adapter import GoogleWorkspaceAdapter
from providers.google_workspace.client import UnmatchedBatch, error_info
from providers.google_workspace.scenario import user
from providers.google_workspace.settings import GoogleSettings
from sweeper.cli import app
from sweeper.model import Action, CredentialRef

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
AS_OF = NOW.isoformat()
CUSTOMER = "C0batch01"
TOKEN = "ya29.batch-SECRET-token"
ENV = "SWEEPER_GOOGLE_TOKEN"
GET_USER = "GET /admin/directory/v1/users/"  # users.get: a path below the listing's


def scenario() -> dict[str, Any]:
    """Three stale users and an active one, and a stale super admin."""
    users = [user(f"{500 + i}", f"stale{i}@batch.test", created=NOW - timedelta(days=900),
                  last_login=NOW - timedelta(days=400)) for i in range(3)]
    users.append(user("600", "active@batch.test", created=NOW - timedelta(days=900), last_login=NOW))
    users.append(user("700", "boss@batch.test", created=NOW - timedelta(days=900),
                      last_login=NOW - timedelta(days=400), isAdmin=True))
    return {"customer_id": CUSTOMER, "domain": "batch.test", "token": TOKEN, "users": users,
            "delegated_admin": True}


STALE = ["500", "501", "502"]


@pytest.fixture
def emu(clean_env: pytest.MonkeyPatch) -> Iterator[emulator.DirectoryEmulator]:
    em = emulator.start(scenario())
    clean_env.setenv(ENV, TOKEN)
    yield em
    em.stop()


def adapter_for(em: emulator.DirectoryEmulator, **settings: Any) -> GoogleWorkspaceAdapter:
    adapter = GoogleWorkspaceAdapter(GoogleSettings(**{**em.config(), "activity_sources": [], **settings}),
                                     write=True)
    adapter.client.sleep = lambda seconds: None
    return adapter


def refs(adapter: GoogleWorkspaceAdapter, ids: list[str]) -> list[CredentialRef]:
    found = {i.id: i for scope in adapter.scopes() for i in adapter.list_identities(scope)}
    return [CredentialRef.of(found[uid], found[uid].credentials[0]) for uid in ids]


def suspended(em: emulator.DirectoryEmulator) -> dict[str, bool]:
    return {u["id"]: u["suspended"] for u in em.directory.users}


@pytest.mark.parametrize("form", sorted(emulator.BATCH_IDS))
def test_the_client_cannot_match_these_answers(emu: emulator.DirectoryEmulator, form: str) -> None:
    """Each emulator form is one the client library cannot match: our client says so, in one line."""
    adapter = adapter_for(emu)
    emu.batch_ids = form
    users = adapter.client.users()
    with pytest.raises(UnmatchedBatch) as raised:
        adapter.client.batch({str(i): users.update(userKey=uid, body={"suspended": True}, fields="id,suspended")
                              for i, uid in enumerate(STALE)})
    assert "\n" not in str(raised.value) and str(raised.value)
    assert all(suspended(emu)[uid] for uid in STALE)  # the emulator applied every change first
    adapter.close()


def test_a_batch_error_has_no_response_and_is_read_without_one() -> None:
    from googleapiclient.errors import BatchError

    err = BatchError("Invalid value for Content-ID: response- <x+0>")
    assert error_info(err) == (0, "", "")  # before: AttributeError on err.resp.status


@pytest.mark.parametrize("form", sorted(emulator.BATCH_IDS))
def test_what_took_effect_is_done_and_each_user_is_written_once(emu: emulator.DirectoryEmulator, form: str) -> None:
    adapter = adapter_for(emu)
    targets = refs(adapter, STALE)
    emu.batch_ids = form
    emu.server.reset_counts()
    outcomes = adapter.apply(Action.DISABLE, targets)
    assert [o.ok for o in outcomes] == [True, True, True], [o.error for o in outcomes]
    assert all("could not be matched" in (o.note or "") and "users.get shows it suspended" in (o.note or "")
               for o in outcomes)
    assert all(suspended(emu)[uid] for uid in STALE) and not suspended(emu)["600"]
    assert all(emu.directory.writes[uid] == 1 for uid in STALE)  # read back, not sent again
    assert emu.server.counts["POST /batch"] == 1
    undone = adapter.apply(Action.ENABLE, targets)  # restore's batches come back the same way
    assert all(o.ok and "unsuspended" in (o.note or "") for o in undone)
    assert not any(suspended(emu)[uid] for uid in STALE)
    adapter.close()


def test_what_did_not_take_effect_is_sent_again_then_failed_not_uncertain(emu: emulator.DirectoryEmulator) -> None:
    """A delegated admin cannot suspend a super admin: its part is refused, the answer unmatched. The
    re-read says it is not suspended, so it is sent again and, refused each time, fails plainly."""
    adapter = adapter_for(emu, skip_admins=False, retries=2)
    targets = refs(adapter, ["500", "700"])
    emu.batch_ids = "mangled"
    plain, boss = adapter.apply(Action.DISABLE, targets)
    assert plain.ok and emu.directory.writes["500"] == 1
    assert not boss.ok and not boss.uncertain and not suspended(emu)["700"]
    assert boss.error.startswith("not done after 3 attempts") and "users.get shows it not changed" in boss.error
    adapter.close()


def test_an_unreadable_state_is_uncertain_never_failed(emu: emulator.DirectoryEmulator) -> None:
    adapter = adapter_for(emu, retries=1)
    targets = refs(adapter, STALE)
    emu.batch_ids = "foreign"
    emu.server.set_faults(Faults(only=(GET_USER,), rate_503=1.0))
    outcomes = adapter.apply(Action.DISABLE, targets)
    assert all(not o.ok and o.uncertain for o in outcomes)
    assert all("not known whether it took effect" in o.error and "restore checks" in o.error for o in outcomes)
    assert emu.server.counts[f"GET /admin/directory/v1/users/{STALE[0]}"] >= 1
    assert sum(emu.server.counts[f"GET /admin/directory/v1/users/{uid}"] for uid in STALE[1:]) == 0  # stopped
    adapter.close()


# -- through the CLI: apply, the journal, restore ------------------------------------------------------

def config(tmp_path: Path, em: emulator.DirectoryEmulator, **google: Any) -> str:
    path = tmp_path / "sweeper.toml"
    path.write_text("[policy]\nmax_disable = 100\nmax_disable_percent = 100\n"
                    f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n'
                    + em.config_toml(activity_sources=[], **google))
    return str(path)


def sweeper(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def journal_states(cfg: str, run_id: str) -> dict[str, str]:
    history = json.loads(sweeper("history", "-c", cfg, "--run", run_id, "-f", "json").stdout)
    return {a["identity"]: a["state"] for a in history["actions"]}


def test_apply_records_what_happened_and_restore_undoes_it(emu: emulator.DirectoryEmulator, tmp_path: Path) -> None:
    cfg = config(tmp_path, emu)
    emu.batch_ids = "mangled"
    run = sweeper("apply", "-c", cfg, "--yes", "-f", "json", "--as-of", AS_OF)
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    assert report["summary"]["disabled"] == 3 and report["summary"]["failed"] == 0
    assert journal_states(cfg, report["run_id"]) == {f"stale{i}@batch.test": "done" for i in range(3)}
    assert all(suspended(emu)[uid] for uid in STALE)
    restored = sweeper("restore", "-c", cfg, report["run_id"])
    assert restored.exit_code == 0, restored.output
    assert not any(suspended(emu).values())


def test_an_unknown_outcome_is_interrupted_and_restore_checks_it(emu: emulator.DirectoryEmulator,
                                                                 tmp_path: Path) -> None:
    cfg = config(tmp_path, emu, retries=0)
    emu.batch_ids = "missing"
    emu.server.set_faults(Faults(only=(GET_USER,), rate_503=1.0))
    run = sweeper("apply", "-c", cfg, "--yes", "-f", "json", "--as-of", AS_OF)
    assert run.exit_code == 4, run.output
    report = json.loads(run.stdout)
    assert report["summary"]["failed"] == 3
    assert all("not known whether it took effect" in f["error"] for f in report["findings"] if f["action"] == "failed")
    assert journal_states(cfg, report["run_id"]) == {f"stale{i}@batch.test": "interrupted" for i in range(3)}
    assert all(suspended(emu)[uid] for uid in STALE)  # it did take effect: the journal must not say failed
    emu.batch_ids = None
    emu.server.set_faults(Faults())
    restored = sweeper("restore", "-c", cfg, report["run_id"])
    assert restored.exit_code == 0, restored.output
    assert not any(suspended(emu).values())
