"""The journal: an embedded SQLite file recording every run and every action, so each can be undone.

Each action is committed as `intent` before its API call and updated to `done`/`failed` after, with
the credential's state before. A run killed at any point leaves `intent` rows that the next run
reconciles by asking the provider for the credential's current state. Timestamps are the real clock.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from sweeper.errors import JournalError, JournalLocked
from sweeper.model import Action, ActionState, CredentialKind, CredentialRef, RunStatus
from sweeper.records import ActionRow, RunRow

StateT = TypeVar("StateT", RunStatus, ActionState)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


MIGRATIONS: list[tuple[str, str]] = [
    ("0001_runs_and_actions", """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            mode TEXT NOT NULL,
            started TEXT NOT NULL,
            finished TEXT,
            status TEXT NOT NULL,
            as_of TEXT,
            config_digest TEXT,
            pid INTEGER,
            restores TEXT
        );
        CREATE TABLE actions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(run_id),
            provider TEXT NOT NULL,
            scope TEXT NOT NULL,
            identity_id TEXT NOT NULL,
            login TEXT NOT NULL,
            kind TEXT NOT NULL,
            credential_id TEXT NOT NULL,
            action TEXT NOT NULL,
            state TEXT NOT NULL,
            before TEXT,
            irreversible INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE INDEX actions_run ON actions(run_id);
        CREATE INDEX actions_state ON actions(state);
    """),
    # uid names an action across machines (the remote journal's log refers to it); host names the runner
    ("0002_action_uid_and_run_host", """
        ALTER TABLE actions ADD COLUMN uid TEXT;
        ALTER TABLE runs ADD COLUMN host TEXT;
        CREATE INDEX actions_uid ON actions(uid);
    """),
]


class Journal:
    """One SQLite file (mode 0600, WAL), implementing `sweeper.records.Journal`. Safe to share between
    threads of one process.

    `group_size` is how many actions the engine records as intents in one write before acting on
    them: 0 for this local file (one adapter batch at a time, as cheap as it gets); remote journals
    group more, since each write is a round trip.
    """

    group_size = 0

    def __init__(self, path: Path | str) -> None:
        self.path: Path | str = Path(path)
        self._lock = threading.Lock()
        self._uids = itertools.count(1)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA busy_timeout=30000")
            _patiently(self._setup)
        except (OSError, sqlite3.Error) as err:
            raise JournalError(f"{self.path}: cannot open the journal: {err}") from None

    def _open_cache(self, name: str) -> None:
        """An in-memory database (for a remote journal's local copy); `name` is shown in messages."""
        self.path = name
        self._lock = threading.Lock()
        self._uids = itertools.count(1)
        self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._migrate()

    def _setup(self) -> None:
        # Switching a new file to WAL takes an exclusive lock and SQLite may answer "locked" at once,
        # without waiting, when another process opens the same new journal: hence _patiently.
        if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    def _migrate(self) -> None:
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
            done = {row[0] for row in db.execute("SELECT name FROM migrations")}
            for name, sql in MIGRATIONS:
                if name not in done:  # each migration and its record commit together
                    for statement in filter(str.strip, sql.split(";")):
                        db.execute(statement)
                    db.execute("INSERT INTO migrations VALUES (?, ?)", (name, _now()))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the journal for one acting process (apply/restore). Refuses at once if another holds it."""
        lock_path = f"{self.path}.lock"
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise JournalLocked(f"{self.path}: another sweeper apply/restore (pid {holder}) is using this "
                                "journal; wait for it to finish") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def close(self) -> None:
        self._db.close()

    # runs

    def start_run(self, run_id: str, mode: str, as_of: datetime | str | None, config_digest: str = "",
                  restores: str | None = None, *, started: str | None = None, host: str | None = None,
                  pid: int | None = None) -> None:
        when = as_of.isoformat() if isinstance(as_of, datetime) else as_of
        with self._tx() as db:
            db.execute("INSERT INTO runs (run_id, mode, started, status, as_of, config_digest, pid, restores, host) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, mode, started or _now(), RunStatus.RUNNING, when, config_digest,
                        os.getpid() if pid is None else pid, restores, host or socket.gethostname()))

    def finish_run(self, run_id: str, status: RunStatus, *, finished: str | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET finished = ?, status = ? WHERE run_id = ?",
                       (finished or _now(), RunStatus(status), run_id))

    def runs(self, run_id: str | None = None) -> list[RunRow]:
        """Runs, newest first, with their action counts."""
        sql = ("SELECT r.run_id, r.mode, r.started, r.finished, r.status, r.as_of, r.restores, "
               "COALESCE(SUM(a.state = ?), 0), COALESCE(SUM(a.state IN (?, ?)), 0), "
               "COALESCE(SUM(a.state = ?), 0) FROM runs r LEFT JOIN actions a ON a.run_id = r.run_id "
               + ("WHERE r.run_id = ? " if run_id else "") +
               "GROUP BY r.run_id ORDER BY r.started DESC, r.rowid DESC")
        args = (ActionState.DONE, ActionState.FAILED, ActionState.INTERRUPTED, ActionState.INTENT) \
            + ((run_id,) if run_id else ())
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [RunRow(run, mode, started, finished, _read(RunStatus, status), as_of, restores, done, failed, pending)
                for run, mode, started, finished, status, as_of, restores, done, failed, pending in rows]

    # actions

    def intend(self, run_id: str, action: Action, items: Sequence[tuple[CredentialRef, dict[str, Any], bool]], *,
               created: str | None = None, uids: Sequence[str] | None = None) -> list[int]:
        """Commit `intent` rows (ref, state before, irreversible) before the API call; returns their ids."""
        now = created or _now()
        uids = uids or [self.new_uid(run_id) for _ in items]
        ids = []
        with self._tx() as db:
            for (ref, before, irreversible), uid in zip(items, uids):
                cur = db.execute(
                    "INSERT INTO actions (run_id, provider, scope, identity_id, login, kind, credential_id, "
                    "action, state, before, irreversible, created, updated, uid) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, ref.provider, ref.scope, ref.identity_id, ref.login, ref.kind.value,
                     ref.credential_id, action.value, ActionState.INTENT, json.dumps(before, sort_keys=True),
                     int(irreversible), now, now, uid))
                assert cur.lastrowid is not None  # set by every INSERT
                ids.append(cur.lastrowid)
        return ids

    def new_uid(self, run_id: str) -> str:
        """A name for one action that stays the same on every machine: the run id and a counter."""
        return f"{run_id}/{next(self._uids)}"

    def settle(self, results: Sequence[tuple[int, ActionState, str | None]], *, updated: str | None = None) -> None:
        """Mark actions (id, state done|failed|interrupted, error or note) after the API call."""
        now = updated or _now()
        with self._tx() as db:
            db.executemany("UPDATE actions SET state = ?, error = ?, updated = ? WHERE id = ?",
                           [(ActionState(state), error, now, action_id) for action_id, state, error in results])

    def actions(self, run_id: str | None = None, state: ActionState | None = None) -> list[ActionRow]:
        """Actions in the order they were recorded, of one run and in one state when given."""
        where, args = [], []
        if run_id:
            where.append("run_id = ?")
            args.append(run_id)
        if state:
            where.append("state = ?")
            args.append(state)
        sql = ("SELECT id, run_id, provider, scope, identity_id, login, kind, credential_id, action, state, "
               "before, irreversible, error, updated FROM actions "
               + (f"WHERE {' AND '.join(where)} " if where else "") + "ORDER BY id")
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [ActionRow(r[0], r[1], CredentialRef(r[2], r[3], r[4], r[5], CredentialKind(r[6]), r[7]),
                          Action(r[8]), _read(ActionState, r[9]), json.loads(r[10] or "{}"), bool(r[11]), r[12],
                          r[13])
                for r in rows]

    def later_done(self, row: ActionRow) -> str | None:
        """The run that later did the same action to the same credential, if any."""
        r = row.ref
        with self._lock:
            found = self._db.execute(
                "SELECT run_id FROM actions WHERE id > ? AND provider = ? AND scope = ? AND identity_id = ? "
                "AND kind = ? AND credential_id = ? AND action = ? AND state = ? ORDER BY id LIMIT 1",
                (row.id, r.provider, r.scope, r.identity_id, r.kind.value, r.credential_id, row.action.value,
                 ActionState.DONE)
            ).fetchone()
        return found[0] if found else None

    def mark_interrupted(self, exclude_run: str) -> None:
        """Runs still 'running' from a process that is gone are 'interrupted'."""
        with self._tx() as db:
            for run_id, pid in db.execute("SELECT run_id, pid FROM runs WHERE status = ? AND run_id != ?",
                                          (RunStatus.RUNNING, exclude_run)).fetchall():
                if not _alive(pid):
                    db.execute("UPDATE runs SET status = ?, finished = COALESCE(finished, ?) WHERE run_id = ?",
                               (RunStatus.INTERRUPTED, _now(), run_id))


def _read(state: type[StateT], value: str) -> StateT:
    """A run status or action state read back; one this sweeper does not know is a JournalError."""
    try:
        return state(value)
    except ValueError:
        raise JournalError(f"a {state.__name__} this sweeper does not know: {value!r} (written by a newer "
                           "version?)") from None


def _patiently(step: Callable[[], None], seconds: float = 30.0) -> None:
    """Run `step`, retrying while another process holds the database lock, for up to `seconds`."""
    deadline = time.monotonic() + seconds
    delay = 0.01
    while True:
        try:
            return step()
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) and "busy" not in str(err) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _alive(pid: int | None) -> bool:
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
