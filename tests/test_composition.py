"""The engine's seams: adapters come from the composition root, journals through one interface.

design.md §1: the CLI is the only composition root, so the sweep, reconciliation and restore are
handed an adapter factory and never ask the registry themselves. §9: they use a journal only
through `sweeper.records.Journal`, which the local and the object-storage journal both implement.
"""

from __future__ import annotations

import ast
import inspect
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sweeper import records, registry
from sweeper.config import parse
from sweeper.journal import Journal
from sweeper.model import Action, ActionState, CredentialKind, CredentialRef, RunStatus
from sweeper.reconcile import reconcile
from sweeper.restore import restore
from sweeper.sweep import Sweep
from tests import fakes

CORE = Path(__file__).resolve().parent.parent / "sweeper"
NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
NOT_COMPOSITION_ROOTS = ("sweep.py", "reconcile.py", "restore.py", "actions.py", "results.py", "records.py")


def _imports_registry(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import) and any(a.name == "sweeper.registry" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module == "sweeper.registry" or (
                node.module == "sweeper" and any(a.name == "registry" for a in node.names))):
            return True
    return False


@pytest.mark.parametrize("name", NOT_COMPOSITION_ROOTS)
def test_the_engine_does_not_import_the_registry(name):
    assert not _imports_registry(CORE / name)


def test_the_engine_module_still_offers_its_names():
    from sweeper import actions, reconcile as reconciliation, results, sweep
    from sweeper.engine import (Finding, Progress, RunResult, ScopeResult, Sweep as OldSweep, apply_batch,
                                close_quietly, describe_failure, new_run_id, reconcile as old_reconcile)

    assert (Finding, RunResult, ScopeResult, new_run_id) == (results.Finding, results.RunResult,
                                                             results.ScopeResult, results.new_run_id)
    assert (apply_batch, close_quietly, describe_failure) == (actions.apply_batch, actions.close_quietly,
                                                              actions.describe_failure)
    assert Progress is sweep.Progress and issubclass(OldSweep, sweep.Sweep)
    assert callable(old_reconcile) and callable(reconciliation.reconcile)


@pytest.fixture
def world(cloud, tmp_path):
    for n in range(3):
        cloud.add(fakes.FakeUser(f"stale{n}@example.com", NOW - timedelta(days=300), NOW - timedelta(days=900)))
    cloud.add(fakes.FakeUser("fresh@example.com", NOW - timedelta(days=1), NOW - timedelta(days=900)))
    config = parse('[policy]\nmax_disable_percent = 100\n[providers.fake]\ncloud = "default"\n',
                   str(tmp_path / "sweeper.toml"))
    journal = Journal(tmp_path / "sweeper.db")
    yield config, journal
    journal.close()


class Opener:
    """An adapter factory that says what it was asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, name, settings, *, write):
        self.calls.append((name, write))
        return fakes.FakeAdapter(settings, write=write)


def test_sweep_reconcile_and_restore_open_adapters_with_the_factory_they_are_given(world, cloud, monkeypatch):
    config, journal = world
    monkeypatch.setattr(registry, "create", lambda *a, **k: pytest.fail("the engine asked the registry"))
    opener = Opener()
    assert Sweep(config, ["fake"], NOW, open_adapter=opener).run().exit_code() == 0
    journal.start_run("apply-1", "apply", NOW)
    result = Sweep(config, ["fake"], NOW, "apply", journal, run_id="apply-1", open_adapter=opener).run()
    journal.finish_run("apply-1", result.run_status())
    assert [f.action for f in result.findings] == ["disabled"] * 3
    ref = CredentialRef("fake", cloud.scope, "fresh@example.com", "fresh@example.com", CredentialKind.ACCOUNT,
                        "fresh@example.com")
    journal.start_run("killed", "apply", NOW)
    journal.intend("killed", Action.DISABLE, [(ref, {"enabled": True}, False)])
    assert reconcile(config, journal, "", ["fake"], open_adapter=opener) == [
        "reconciled 1 unfinished action(s) for fake"]
    assert [a.state for a in journal.actions("killed")] == [ActionState.INTERRUPTED]
    restore_id, items = restore(config, journal, "apply-1", None, open_adapter=opener)
    assert [i.result for i in items] == ["restored"] * 3
    assert journal.runs(restore_id)[0].status is RunStatus.DONE
    assert opener.calls == [("fake", False), ("fake", True), ("fake", True), ("fake", True)]


def test_the_engine_module_opens_adapters_through_the_registry_as_before(world):
    from sweeper.engine import Sweep as OldSweep

    config, _ = world
    result = OldSweep(config, ["fake"], NOW).run()
    assert [s.provider for s in result.scopes] == ["fake"] and len(result.findings) == 3


def _remote(tmp_path) -> records.Journal:
    from stores.memory import MemoryStore
    from sweeper.journal_remote import RemoteJournal

    MemoryStore.make_bucket("journals")
    return RemoteJournal(f"memory://journals/{uuid.uuid4().hex}/sweeper")


@pytest.mark.parametrize("make", [lambda tmp: Journal(tmp / "sweeper.db"), _remote], ids=["sqlite", "remote"])
def test_both_journals_implement_the_journal_interface(make, tmp_path):
    journal = make(tmp_path)
    try:
        assert isinstance(journal, records.Journal)
        for name, member in inspect.getmembers(records.Journal, inspect.isfunction):
            if name.startswith("_"):
                continue
            wanted = inspect.signature(member).parameters
            have = inspect.signature(getattr(journal, name)).parameters
            open_ended = any(p.kind is p.VAR_KEYWORD for p in have.values())
            missing = [p for p in list(wanted)[1:] if p not in have and not open_ended]
            assert not missing, f"{type(journal).__name__}.{name} lacks {missing}"
    finally:
        journal.close()
