"""The journal in object storage (`s3://`, `gs://`, `az://`): an append-only log every machine shares.

Layout under the URL's prefix:

    journal.json                  marker: {"format": "identity-sweeper-journal", "version": 1}
    log/<seq:010d>.json           one write: {"format", "seq", "records": [...]}, never rewritten
    snapshot/<seq:010d>.json.gz   every record up to seq, so that readers need not fetch the whole log
    lease.json                    who may act now: {"holder": {run_id, host, pid}, "since", "expires"}

Every write is conditional. A log segment is created only if absent (If-None-Match / generation 0):
two writers that pick the same sequence number cannot both succeed, and the loser catches up on what
the other wrote and takes the next number, so no record is ever lost or overwritten. The lease is
created only if absent, renewed and released only at the version its holder last wrote, and taken
over only when expired, at the version that was read.

The records are replayed, in log order, into an in-memory copy of the SQLite journal, so history,
restore and reconciliation read it exactly as they read a local file. A write reaches the local copy
only after the store has confirmed it: an intent is durable before the call it announces.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import sqlite3
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Sequence

from sweeper import records
from sweeper.errors import JournalError, JournalLocked
from sweeper.journal import NOTICE_FIELDS, Journal, _journal_key, _mac, _now, run_context
from sweeper.model import Action, ActionState, CredentialKind, CredentialRef, RunStatus
from sweeper.store import ObjectStore, StoreConflict, StoreError, open_store

FORMAT = "identity-sweeper-journal"
VERSION = 1
MARKER = "journal.json"
LEASE = "lease.json"
SNAPSHOT_EVERY = 64  # log segments after which the lease holder writes a snapshot
_MAX_RACES = 50  # conditional appends lost in a row before giving up


def _segment(seq: int) -> str:
    return f"log/{seq:010d}.json"


def _seq_of(name: str, url: str) -> int:
    stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
    if not stem.isdigit():
        raise JournalError(f"{url}/{name}: an object the journal did not write (foreign object at the journal path)")
    return int(stem)


class RemoteJournal(Journal):
    """A journal whose durable copy is a log in object storage; see the module docstring."""

    def __init__(self, url: str, settings: Any = None, store: ObjectStore | None = None) -> None:
        self.url = url.rstrip("/")
        self.store = store or open_store(self.url, settings)
        self.group_size = int(getattr(settings, "write_batch", 100) or 100)
        self.lease_seconds = float(getattr(settings, "lease_seconds", 300) or 300)
        self.requests = 0  # store requests made, for `history` timing notes and benchmarks
        self._open_cache(self.url)
        self._seq = 0
        self._snapshot_seq = 0
        self._marker = False
        self._write_lock = threading.RLock()
        self._lease: tuple[str, dict[str, Any]] | None = None  # (version, body)
        self._lease_deadline = 0.0  # time.monotonic() after which the lease may be someone else's
        self._lease_lost: str | None = None
        self._renewer: threading.Thread | None = None
        self._stop = threading.Event()
        self._load()

    # -- reading ------------------------------------------------------------------------------
    def _get(self, name: str) -> tuple[bytes, str] | None:
        self.requests += 1
        return self.store.get(name)

    def _list(self, prefix: str, after: str | None = None) -> list[str]:
        self.requests += 1
        return self.store.list(prefix, after)

    def _load(self) -> None:
        marker = self._get(MARKER)
        names = self._list("") if marker is None else []
        for wait in (0.05, 0.2, 0.5):  # another machine may be making the journal right now
            if marker is not None or not names or not all(map(_ours, names)):
                break
            time.sleep(wait)
            marker = self._get(MARKER)
        if marker is None:
            if names and not all(map(_ours, names)):
                raise JournalError(f"{self.url}: objects at the journal path that are not an identity-sweeper "
                                   f"journal (no {MARKER}); choose an empty prefix")
            if any(n.startswith(("log/", "snapshot/")) for n in names):
                raise JournalError(f"{self.url}: journal records without their {MARKER} marker (was it deleted?)")
            return  # a new journal (at most a lease being taken): the marker is written with the first record
        self._check_marker(marker[0])
        snapshots = self._list("snapshot/")
        if snapshots:
            self._read_snapshot(snapshots[-1])
        self._catch_up()

    def _check_marker(self, data: bytes) -> None:
        try:
            doc = json.loads(data)
            ok = doc.get("format") == FORMAT
        except (ValueError, AttributeError):
            ok = False
        if not ok:
            raise JournalError(f"{self.url}/{MARKER}: not an identity-sweeper journal marker (corrupt or foreign)")
        if doc.get("version", 0) > VERSION:
            raise JournalError(f"{self.url}: journal format {doc.get('version')} is newer than this sweeper "
                               f"understands ({VERSION}); upgrade identity-sweeper")
        self._marker = True

    def _read_snapshot(self, name: str) -> None:
        got = self._get(name)
        if got is None:
            return
        try:
            doc = json.loads(gzip.decompress(got[0]))
            records, seq = doc["records"], int(doc["seq"])
        except (ValueError, KeyError, TypeError, OSError, EOFError) as err:
            raise JournalError(f"{self.url}/{name}: corrupt snapshot ({type(err).__name__})") from None
        self._replay(records, name)
        self._seq = self._snapshot_seq = seq

    def _catch_up(self) -> set[str]:
        """Read and replay every log segment after the last one seen (several at once); returns the
        writer nonces of the segments read."""
        with self._write_lock:
            names = self._list("log/", _segment(self._seq))
            if not names:
                return set()
            for name in names:
                _seq_of(name, self.url)
            with ThreadPoolExecutor(8, thread_name_prefix="journal-read") as pool:
                bodies = list(pool.map(self._get, names))
            writers = set()
            for name, got in zip(names, bodies):
                if got is None:
                    raise JournalError(f"{self.url}/{name}: listed but gone (a journal object was deleted)")
                seq, writer, records = self._parse_segment(name, got[0])
                self._replay(records, name)
                self._seq = max(self._seq, seq)
                writers.add(writer)
            return writers

    def _parse_segment(self, name: str, data: bytes) -> tuple[int, str, list[dict[str, Any]]]:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError("format")
            seq, records = int(doc["seq"]), list(doc["records"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise JournalError(f"{self.url}/{name}: corrupt or foreign journal segment") from None
        key = _journal_key()
        if key and not (isinstance(doc.get("mac"), str) and hmac.compare_digest(doc["mac"], _mac(key, _segment_digest(seq, records)))):
            raise JournalError(f"{self.url}/{name}: its HMAC does not verify with SWEEPER_JOURNAL_KEY (edited, "
                               "forged or written without the key)")
        return seq, str(doc.get("writer", "")), records

    # -- replaying records into the local copy ------------------------------------------------
    def _replay(self, records: Sequence[dict[str, Any]], where: str) -> None:
        try:
            Journal.apply_records(self, records)
        except (KeyError, ValueError, TypeError, sqlite3.Error) as err:
            raise JournalError(f"{self.url}/{where}: a record this sweeper cannot read ({err!r:.80})") from None

    # -- writing ------------------------------------------------------------------------------
    def _append(self, records: list[dict[str, Any]], *, acting: bool = False) -> None:
        """Store `records` as the next log segment (confirmed by the store), then apply them locally."""
        with self._write_lock:
            if acting:
                self._check_lease()
            self._ensure_marker()
            nonce = uuid.uuid4().hex  # names this write: a retried request that did land is found again
            for _ in range(_MAX_RACES):
                seq = self._seq + 1
                doc: dict[str, Any] = {"format": FORMAT, "seq": seq, "writer": nonce, "records": records}
                key = _journal_key()
                if key:  # tamper-evident: only a holder of SWEEPER_JOURNAL_KEY can write a segment that verifies
                    doc["mac"] = _mac(key, _segment_digest(seq, records))
                body = json.dumps(doc, separators=(",", ":")).encode()
                try:
                    self.requests += 1
                    self.store.create(_segment(seq), body)
                except StoreConflict:
                    # Someone else wrote seq, or our own first attempt did and its answer was lost (the
                    # client retried): read what is there, then take the next number unless it was ours.
                    if nonce in self._catch_up():
                        return
                    continue
                self._seq = seq
                self._replay(records, _segment(seq))
                return
            raise JournalError(f"{self.url}: could not append to the journal ({_MAX_RACES} conditional writes "
                               "lost in a row to other writers)")

    def _ensure_marker(self) -> None:
        if self._marker:
            return
        try:
            self.requests += 1
            self.store.create(MARKER, json.dumps({"format": FORMAT, "version": VERSION}).encode())
        except StoreConflict:
            pass  # another machine made the journal first: fine, it is the same marker
        self._marker = True

    def start_run(self, run_id: str, mode: str, as_of: datetime | str | None, config_digest: str = "",
                  restores: str | None = None, *, plan_digest: str | None = None, note: str | None = None,
                  **_: Any) -> None:
        when = as_of.isoformat() if isinstance(as_of, datetime) else as_of
        self._append([{"t": "run", "run_id": run_id, "mode": mode, "started": _now(), "as_of": when,
                       "config_digest": config_digest, "host": socket.gethostname(), "pid": os.getpid(),
                       "restores": restores, "plan_digest": plan_digest, "note": note, "actor": {},
                       "context": run_context()}])
        if self._lease is not None:
            self._renew(run_id=run_id)

    def finish_run(self, run_id: str, status: RunStatus, **_: Any) -> None:
        self._append([{"t": "finish", "run_id": run_id, "status": RunStatus(status), "finished": _now()}])

    def intend(self, run_id: str, action: Action, items: Sequence[tuple[CredentialRef, dict[str, Any], bool]],
               **_: Any) -> list[int]:
        now = _now()
        uids = [self.new_uid(run_id) for _ in items]
        self._append([{"t": "intent", "run_id": run_id, "uid": uid, "provider": ref.provider, "scope": ref.scope,
                       "identity_id": ref.identity_id, "login": ref.login, "kind": ref.kind.value,
                       "credential_id": ref.credential_id, "action": action.value, "before": before,
                       "irreversible": bool(irreversible), "created": now}
                      for uid, (ref, before, irreversible) in zip(uids, items)], acting=True)
        return self._ids(uids)

    def settle(self, results: Sequence[tuple[int, ActionState, str | None]], **_: Any) -> None:
        uids = self._uids_of([action_id for action_id, _, _ in results])
        now = _now()
        self._append([{"t": "settle", "uid": uids[action_id], "state": ActionState(state), "error": error,
                       "updated": now}
                      for action_id, state, error in results])

    def record_actor(self, run_id: str, provider: str, principal: str) -> None:
        self._append([{"t": "actor", "run_id": run_id, "provider": provider, "principal": principal}])

    def record_notices(self, run_id: str, items: Sequence[dict[str, Any]], **_: Any) -> list[str]:
        now = _now()
        uids = [self.new_uid(run_id) for _ in items]
        self._append([{"t": "notice", "uid": uid, "run_id": run_id, "created": now,
                       **{k: item.get(k) for k in NOTICE_FIELDS}} for uid, item in zip(uids, items)])
        return uids

    def settle_notices(self, results: Sequence[tuple[str, str, str | None]], **_: Any) -> None:
        now = _now()
        self._append([{"t": "notice_settle", "uid": uid, "state": state, "error": error, "updated": now}
                      for uid, state, error in results])

    def saw_enabled(self, disable_uid: str, run_id: str, seen: str) -> None:
        if self.first_seen_enabled(disable_uid) is None:
            self._append([{"t": "sighting", "disable_uid": disable_uid, "run_id": run_id, "seen": seen}])

    def verify(self) -> str | None:
        """Nothing left to check: the local copy is rebuilt from the log at every open, so it is what the
        log says by construction, and with SWEEPER_JOURNAL_KEY every segment's HMAC was verified as it was
        read (`_parse_segment`). Rebuilding it a second time, as the file journal's check does, would
        only repeat that work."""
        return None

    def mark_interrupted(self, exclude_run: str) -> None:
        """Acting runs left 'running' are dead (this process holds the lease they needed); a plan run
        still 'running' after a day is too."""
        stale_plan = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(timespec="seconds")
        with self._lock:
            dead = [row[0] for row in self._db.execute(
                "SELECT run_id FROM runs WHERE status = ? AND run_id != ? AND (mode != 'plan' OR started < ?)",
                (RunStatus.RUNNING, exclude_run, stale_plan.replace("+00:00", "Z")))]
        if dead:
            now = _now()
            self._append([{"t": "finish", "run_id": r, "status": RunStatus.INTERRUPTED, "finished": now}
                          for r in dead])

    def _ids(self, uids: list[str]) -> list[int]:
        with self._lock:
            found = dict(self._db.execute(f"SELECT uid, id FROM actions WHERE uid IN ({','.join('?' * len(uids))})",
                                          uids).fetchall())
        return [found[u] for u in uids]

    def _uids_of(self, ids: list[int]) -> dict[int, str]:
        with self._lock:
            return dict(self._db.execute(f"SELECT id, uid FROM actions WHERE id IN ({','.join('?' * len(ids))})",
                                         ids).fetchall())

    # -- the lease: one acting writer at a time, across machines ----------------------------------
    @contextmanager
    def exclusive(self) -> Iterator[None]:
        self._acquire()
        try:
            self._catch_up()  # what was written between opening and taking the lease
            yield
        finally:
            self._release()

    def _body(self, run_id: str | None = None) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "run_id": run_id}
        since = self._lease[1]["since"] if self._lease else now.isoformat(timespec="seconds")
        return {"format": FORMAT, "holder": holder, "since": since,
                "expires": (now + timedelta(seconds=self.lease_seconds)).isoformat(timespec="seconds")}

    def _acquire(self) -> None:
        self._ensure_marker()
        body = self._body()
        data = json.dumps(body).encode()
        try:
            self.requests += 1
            version = self.store.create(LEASE, data)
        except StoreConflict:
            version = self._take_over(data)
        self._lease = (version, body)
        self._lease_deadline = time.monotonic() + self.lease_seconds
        self._lease_lost = None
        self._stop.clear()
        self._renewer = threading.Thread(target=self._keep_renewing, name="journal-lease", daemon=True)
        self._renewer.start()

    def _take_over(self, data: bytes) -> str:
        got = self._get(LEASE)
        if got is None:  # released between our create and our read: try once more
            self.requests += 1
            try:
                return self.store.create(LEASE, data)
            except StoreConflict:
                got = self._get(LEASE)
                if got is None:
                    raise JournalLocked(f"{self.url}: the journal lease is changing hands; try again") from None
        held, version = self._parse_lease(got[0]), got[1]
        expires = _parse_time(held.get("expires"))
        if expires is not None and expires > datetime.now(timezone.utc):
            who = held.get("holder") or {}
            raise JournalLocked(
                f"{self.url}: another sweeper apply/restore holds the journal: run {who.get('run_id') or '(starting)'} "
                f"on host {who.get('host', '?')} (pid {who.get('pid', '?')}) since {held.get('since', '?')}, "
                f"lease until {held.get('expires')}; wait for it to finish")
        try:
            self.requests += 1
            return self.store.replace(LEASE, data, version)  # expired: take it, at the version we read
        except StoreConflict:
            raise JournalLocked(f"{self.url}: another sweeper took over the expired journal lease first") from None

    def _parse_lease(self, data: bytes) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = json.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError
            return doc
        except (ValueError, AttributeError):
            raise JournalError(f"{self.url}/{LEASE}: corrupt or foreign lease object") from None

    def _renew(self, run_id: str | None = None) -> None:
        with self._write_lock:
            if self._lease is None or self._lease_lost:
                return
            version, body = self._lease
            new = self._body(run_id if run_id is not None else body["holder"].get("run_id"))
            try:
                self.requests += 1
                self._lease = (self.store.replace(LEASE, json.dumps(new).encode(), version), new)
                self._lease_deadline = time.monotonic() + self.lease_seconds
            except StoreConflict:
                self._lease_lost = "another process took the journal lease (this run's lease had expired)"
            except StoreError:
                pass  # transient: the next renewal tries again; the deadline guards the writes

    def _keep_renewing(self) -> None:
        while not self._stop.wait(max(self.lease_seconds / 3, 0.2)):
            self._renew()

    def _check_lease(self) -> None:
        if self._lease is None:
            return  # plans and tests write runs without acting
        if self._lease_lost:
            raise JournalError(f"{self.url}: {self._lease_lost}; stopping before acting")
        if time.monotonic() > self._lease_deadline - min(5.0, self.lease_seconds / 4):
            raise JournalError(f"{self.url}: the journal lease could not be renewed in time (store unreachable?); "
                               "stopping before acting")

    def _release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        with self._write_lock:
            lease, self._lease = self._lease, None
            if lease is None or self._lease_lost:
                return
            try:
                if self._seq - self._snapshot_seq >= SNAPSHOT_EVERY:
                    self._write_snapshot()
                self.requests += 1
                self.store.delete(LEASE, lease[0])
            except StoreError:
                pass  # the lease expires by itself; the snapshot is only an optimisation

    # -- snapshots ------------------------------------------------------------------------------
    def _write_snapshot(self) -> None:
        seq = self._seq
        data = gzip.compress(json.dumps({"format": FORMAT, "seq": seq, "records": self.dump_records()},
                                        separators=(",", ":")).encode())
        try:
            self.requests += 1
            self.store.create(f"snapshot/{seq:010d}.json.gz", data)
            self._snapshot_seq = seq
        except StoreConflict:
            pass

    def close(self) -> None:
        if self._lease is not None:
            self._release()
        self.store.close()
        super().close()


def _ours(name: str) -> bool:
    """Whether an object name is one the journal writes (anything else at the path is foreign)."""
    return name in (MARKER, LEASE) or (name.startswith("log/") and name.endswith(".json")) or \
        (name.startswith("snapshot/") and name.endswith(".json.gz"))


def _segment_digest(seq: int, records: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps([seq, records], sort_keys=True, separators=(",", ":"),
                                     default=str).encode()).hexdigest()


def _parse_time(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def open_journal(path: str, settings: Any = None, *, new: bool = True) -> records.Journal:
    """A local SQLite journal for a file path, a RemoteJournal for an object-storage URL. With
    `new=False` a local journal that existed and is now missing is an error (see `Journal`)."""
    from sweeper.store import is_remote

    return RemoteJournal(path, settings) if is_remote(path) else Journal(path, new=new)

