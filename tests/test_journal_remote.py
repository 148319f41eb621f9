"""The journal in object storage, over the in-process memory store: records shared by every machine,
no lost or overwritten write, one acting writer at a time, snapshots, and clear failures."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from stores.memory import MemoryStore
from sweeper.errors import JournalError, JournalLocked
from sweeper.journal_remote import LEASE, SNAPSHOT_EVERY, RemoteJournal
from sweeper.model import Action, CredentialKind, CredentialRef
from sweeper.store import StoreMissing, StoreUnavailable

REF = CredentialRef("fake", "tenant", "u1", "u1@example.com", CredentialKind.ACCOUNT, "u1")


@pytest.fixture
def url():
    MemoryStore.reset()
    MemoryStore.make_bucket("journals")
    yield f"memory://journals/{uuid.uuid4().hex}/sweeper"
    MemoryStore.reset()


def _machine(url: str, **settings) -> RemoteJournal:
    return RemoteJournal(url, SimpleNamespace(write_batch=100, lease_seconds=30, **settings))


def _ref(n: int) -> CredentialRef:
    return CredentialRef("fake", "tenant", f"u{n}", f"u{n}@example.com", CredentialKind.ACCOUNT, f"u{n}")


def test_a_run_written_on_one_machine_is_read_on_another(url) -> None:
    a = _machine(url)
    with a.exclusive():
        a.start_run("run-1", "apply", datetime(2026, 11, 30, tzinfo=timezone.utc), "digest")
        ids = a.intend("run-1", Action.DISABLE, [(REF, {"enabled": True}, False), (_ref(2), {}, True)])
        a.settle([(ids[0], "done", None), (ids[1], "failed", "403 forbidden")])
        a.finish_run("run-1", "partial")
    b = _machine(url)
    [run] = b.runs()
    assert (run.run_id, run.mode, run.status, run.done, run.failed) == ("run-1", "apply", "partial", 1, 1)
    rows = b.actions("run-1")
    assert [(r.ref, r.state, r.error, r.irreversible) for r in rows] == [
        (REF, "done", None, False), (_ref(2), "failed", "403 forbidden", True)]
    assert rows[0].before == {"enabled": True}


def test_two_writers_never_lose_each_others_records(url) -> None:
    a, b = _machine(url), _machine(url)
    for n in range(5):  # interleaved: each append races the other's and catches up
        a.start_run(f"a-{n}", "plan", None)
        b.start_run(f"b-{n}", "plan", None)
    MemoryStore.fail("create", "conflict")  # and a lost conditional write on top
    a.finish_run("a-0", "done")
    reader = _machine(url)
    assert sorted(r.run_id for r in reader.runs()) == sorted([f"a-{n}" for n in range(5)] + [f"b-{n}" for n in range(5)])
    assert next(r for r in reader.runs() if r.run_id == "a-0").status == "done"
    names = MemoryStore.buckets["journals"]
    assert len([k for k in names if "/log/" in k]) == 11  # every write its own segment, none overwritten


def test_a_second_acting_writer_is_refused_naming_the_holder(url) -> None:
    a, b = _machine(url), _machine(url)
    with a.exclusive():
        a.start_run("run-a", "apply", None)
        with pytest.raises(JournalLocked) as err:
            with b.exclusive():
                pass
        message = str(err.value)
        assert "run-a" in message and "host" in message and "since" in message and url in message
    with b.exclusive():  # released: the next one gets it
        b.start_run("run-b", "apply", None)


def test_an_expired_lease_is_taken_over(url) -> None:
    dead = _machine(url)
    dead._acquire()  # a runner killed mid-apply: its lease is never released
    dead._stop.set()
    store = dead.store
    body, version = store.get(LEASE)
    lease = json.loads(body)
    lease["expires"] = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    store.replace(LEASE, json.dumps(lease).encode(), version)
    b = _machine(url)
    with b.exclusive():
        b.start_run("run-b", "apply", None)
        assert json.loads(store.get(LEASE)[0])["holder"]["run_id"] == "run-b"
    dead._lease = None


def test_a_lost_lease_stops_acting(url) -> None:
    a = _machine(url)
    with a.exclusive():
        a.start_run("run-a", "apply", None)
        MemoryStore.fail("replace", "conflict")  # someone else took the lease over
        a._renew()
        with pytest.raises(JournalError, match="took the journal lease"):
            a.intend("run-a", Action.DISABLE, [(REF, {}, False)])
    assert _machine(url).actions() == []


def test_nothing_is_intended_when_the_store_fails(url) -> None:
    a = _machine(url)
    with a.exclusive():
        a.start_run("run-a", "apply", None)
        MemoryStore.fail("create", "unavailable")
        with pytest.raises(StoreUnavailable) as err:
            a.intend("run-a", Action.DISABLE, [(REF, {}, False)])
        assert err.value.exit_code == 4 and "journals" in str(err.value)
        assert a.actions() == []  # the local copy only ever holds what the store confirmed


def test_snapshots_keep_reads_short_and_complete(url) -> None:
    a = _machine(url)
    with a.exclusive():
        for n in range(SNAPSHOT_EVERY + 3):
            a.start_run(f"r{n:03d}", "apply", None)
            ids = a.intend(f"r{n:03d}", Action.DISABLE, [(_ref(n), {"enabled": True}, False)])
            a.settle([(ids[0], "done", None)])
    assert any("/snapshot/" in k for k in MemoryStore.buckets["journals"])
    a.start_run("after", "plan", None)
    full = [(r.run_id, r.done) for r in a.runs()]
    b = _machine(url)
    assert [(r.run_id, r.done) for r in b.runs()] == full
    assert [(r.ref, r.state) for r in b.actions()] == [(r.ref, r.state) for r in a.actions()]
    assert b.requests <= 6  # marker, snapshot list, snapshot, log list, one segment


def test_foreign_and_corrupt_objects_are_named(url) -> None:
    other = url.replace("memory://journals/", "")
    MemoryStore.buckets["journals"][f"{other}/notes.txt"] = (b"hello", 1)
    with pytest.raises(JournalError, match="not an identity-sweeper journal"):
        _machine(url)
    MemoryStore.buckets["journals"].clear()
    _machine(url).start_run("r1", "plan", None)
    MemoryStore.buckets["journals"][f"{other}/log/0000000002.json"] = (b"{not json", 2)
    with pytest.raises(JournalError, match="log/0000000002.json: corrupt"):
        _machine(url)


def test_a_missing_bucket_is_exit_2_naming_it() -> None:
    MemoryStore.reset()
    with pytest.raises(StoreMissing) as err:
        _machine("memory://nowhere/sweeper")
    assert err.value.exit_code == 2 and "nowhere" in str(err.value)


def test_a_retried_write_that_did_land_is_not_written_twice(url) -> None:
    """The client retries a create whose answer was lost; the retry finds its own object: a conflict
    that is really a success. The records are there once."""
    a = _machine(url)
    original = MemoryStore.create

    def lost_answer(self, name, data):
        version = original(self, name, data)
        if "/log/" in self.location.key(name):
            MemoryStore.create = original
            raise __import__("sweeper.store", fromlist=["StoreConflict"]).StoreConflict(self.location.url, "412")
        return version

    MemoryStore.create = lost_answer
    try:
        a.start_run("r1", "plan", None)
    finally:
        MemoryStore.create = original
    assert [r.run_id for r in a.runs()] == ["r1"]
    assert [r.run_id for r in _machine(url).runs()] == ["r1"]
    assert len([k for k in MemoryStore.buckets["journals"] if "/log/" in k]) == 1
