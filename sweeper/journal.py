"""The journal: an embedded SQLite file recording every run and every action, so each can be undone.

Each action is committed as `intent` before its API call and updated to `done`/`failed` after, with
the credential's state before. A run killed at any point leaves `intent` rows that the next run
reconciles by asking the provider for the credential's current state. Timestamps are the real clock.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
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

from sweeper import files
from sweeper.errors import JournalError, JournalLocked, UnsafePath
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
    # the plan an apply acted on (plans are single-use) and what a person should know about the run
    ("0003_run_plan_digest_and_note", """
        ALTER TABLE runs ADD COLUMN plan_digest TEXT;
        ALTER TABLE runs ADD COLUMN note TEXT;
        CREATE INDEX runs_plan_digest ON runs(plan_digest);
    """),
    # a credential this sweeper disabled, first seen enabled again (its re-enable grace starts then)
    ("0004_reenable_sightings", """
        CREATE TABLE sightings (
            disable_uid TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            seen TEXT NOT NULL
        );
        CREATE INDEX actions_credential ON actions(provider, scope, identity_id, kind, credential_id);
    """),
    # the audit trail: every change to runs, actions and sightings as a hash-chained event (and an
    # HMAC when SWEEPER_JOURNAL_KEY is set); who ran it, from where, with what
    ("0005_chained_events_and_actor", """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record TEXT NOT NULL,
            prev TEXT NOT NULL,
            hash TEXT NOT NULL,
            mac TEXT
        );
        ALTER TABLE runs ADD COLUMN actor TEXT;
        ALTER TABLE runs ADD COLUMN context TEXT;
    """),
    # every notice (owner notices per credential and stage, digests, exception reminders): intent
    # before delivery, its result after; `as_of` is the day it counts as given (the run's --as-of)
    ("0006_notices", """
        CREATE TABLE notices (
            uid TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            scope TEXT NOT NULL,
            identity_id TEXT NOT NULL,
            login TEXT NOT NULL,
            kind TEXT NOT NULL,
            credential_id TEXT NOT NULL,
            stage TEXT NOT NULL,
            transport TEXT NOT NULL,
            recipient TEXT,
            state TEXT NOT NULL,
            error TEXT,
            as_of TEXT NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE INDEX notices_credential ON notices(provider, scope, identity_id, kind, credential_id);
    """),
]
NOTICE_COLUMNS = ("uid", "run_id", "provider", "scope", "identity_id", "login", "kind", "credential_id", "stage",
                  "transport", "recipient", "state", "error", "as_of", "created", "updated")


class Journal:
    """One SQLite file (mode 0600, WAL), implementing `sweeper.records.Journal`. Safe to share between
    threads of one process.

    `group_size` is how many actions the engine records as intents in one write before acting on
    them: 0 for this local file (one adapter batch at a time, as cheap as it gets); remote journals
    group more, since each write is a round trip.
    """

    group_size = 0
    _unchained: bool  # set on a journal rebuilt by verify(): its records are not chained again

    def __init__(self, path: Path | str, *, new: bool = True) -> None:
        """Open (or create) the journal file. With `new=False`, a journal that existed here (its lock
        file remains) and is now missing is an error: a deleted journal is never silently replaced."""
        self.path: Path | str = Path(path)
        self._lock = threading.Lock()
        self._uids = itertools.count(1)
        marker = Path(f"{self.path}.lock")
        if not new and not self.path.exists() and marker.exists():
            raise JournalError(f"{self.path}: the journal is missing, but one existed here ({marker.name} remains); "
                               "restore it from a backup, or give --new-journal to start an empty one")
        if not self.path.parent.is_dir():  # a typo in [journal] path must not start a new, empty journal
            raise JournalError(f"{self.path}: the folder {self.path.parent} does not exist; create it, or point "
                               "[journal] path (or --journal) at an existing folder")
        try:
            for private in (marker, self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"),
                            Path(f"{self.path}-journal")):
                files.refuse_link(private, "journal")  # SQLite would follow a planted link
            if not marker.exists():
                files.create_private(marker, "journal")
            files.create_private(self.path, "journal")
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA busy_timeout=30000")
            _patiently(self._setup)
        except UnsafePath as err:
            raise JournalError(str(err)) from None
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
        self._backfill()

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
        """One write transaction. A full disk or an unwritable file is a JournalError naming the file,
        and nothing of the transaction is kept (the caller acts on nothing it could not record)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as err:
                if "locked" in str(err) or "busy" in str(err):
                    raise  # another process holds the file: the caller waits (_patiently)
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise JournalError(f"{self.path}: cannot write the journal: {_why(err)}") from None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the journal for one acting process (apply/restore). Refuses at once if another holds it."""
        lock_path = f"{self.path}.lock"
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR | files.NOFOLLOW, 0o600)
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

    # the chain

    def _chain(self, db: sqlite3.Connection, *records: dict[str, Any]) -> None:
        """Append `records` to the hash chain, in the transaction that makes the change they describe."""
        row = db.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        prev = row[0] if row else GENESIS
        key = _journal_key()
        for record in records:
            text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
            digest = _link(prev, text)
            db.execute("INSERT INTO events (record, prev, hash, mac) VALUES (?, ?, ?, ?)",
                       (text, prev, digest, _mac(key, digest) if key else None))
            prev = digest

    def verify(self) -> str | None:
        """Check the chain and that the tables hold exactly what it says. None when sound, else what is
        wrong, naming the first bad row. With SWEEPER_JOURNAL_KEY set, every event must carry its HMAC."""
        key = _journal_key()
        with self._lock:  # one read transaction: a snapshot that no concurrent writer changes halfway
            self._db.execute("BEGIN")
            try:
                events = self._db.execute("SELECT seq, record, prev, hash, mac FROM events ORDER BY seq").fetchall()
                tables = {table: self._db.execute(f"SELECT {columns} FROM {table} ORDER BY {order}").fetchall()
                          for table, columns, order in _AUDITED}
            finally:
                self._db.execute("COMMIT")
        prev, records = GENESIS, []
        for seq, text, before, digest, mac in events:
            if before != prev or _link(prev, text) != digest:
                return f"event {seq}: the hash chain is broken (edited, inserted or removed rows)"
            if key and (not mac or not _hmac_ok(key, digest, mac)):
                return f"event {seq}: its HMAC does not verify with SWEEPER_JOURNAL_KEY"
            prev = digest
            records.append(json.loads(text))
        rebuilt = Journal.__new__(Journal)
        rebuilt._open_cache(f"{self.path} (rebuilt)")
        rebuilt._unchained = True
        rebuilt.apply_records(records)
        for table, columns, order in _AUDITED:
            mine = tables[table]
            theirs = rebuilt._rows(table, columns, order)
            if mine != theirs:
                bad = next((m for m, t in zip(mine, theirs) if m != t), None) or (mine[len(theirs):] or theirs[len(mine):])[0]
                return f"{table} row {bad[0]!r}: not what the hash chain records (edited or forged)"
        return None

    def dump_records(self) -> list[dict[str, Any]]:
        """Every run, action and sighting as the records that rebuild them, in the order they were made."""
        out: list[dict[str, Any]] = []
        with self._lock:
            runs = self._db.execute("SELECT run_id, mode, started, finished, status, as_of, config_digest, pid, "
                                    "restores, host, plan_digest, note, actor, context FROM runs ORDER BY rowid").fetchall()
            actions = self._db.execute("SELECT uid, id, run_id, provider, scope, identity_id, login, kind, "
                                       "credential_id, action, state, before, irreversible, error, created, updated "
                                       "FROM actions ORDER BY id").fetchall()
            sightings = self._db.execute("SELECT disable_uid, run_id, seen FROM sightings ORDER BY rowid").fetchall()
            notices = self._db.execute(f"SELECT {', '.join(NOTICE_COLUMNS)} FROM notices ORDER BY rowid").fetchall()
        for (run_id, mode, started, finished, status, as_of, digest, pid, restores, host, plan, note, actor,
             context) in runs:
            out.append({"t": "run", "run_id": run_id, "mode": mode, "started": started, "as_of": as_of,
                        "config_digest": digest, "host": host, "pid": pid, "restores": restores,
                        "plan_digest": plan, "note": note, "actor": json.loads(actor or "{}"),
                        "context": json.loads(context or "{}")})
            if status != RunStatus.RUNNING:
                out.append({"t": "finish", "run_id": run_id, "status": status, "finished": finished or started})
        for (uid, action_id, run_id, provider, scope, identity_id, login, kind, credential_id, action, state, before,
             irreversible, error, created, updated) in actions:
            uid = uid or f"id:{action_id}"
            out.append({"t": "intent", "run_id": run_id, "uid": uid, "provider": provider, "scope": scope,
                        "identity_id": identity_id, "login": login, "kind": kind, "credential_id": credential_id,
                        "action": action, "before": json.loads(before or "{}"), "irreversible": bool(irreversible),
                        "created": created})
            if state != ActionState.INTENT:
                out.append({"t": "settle", "uid": uid, "state": state, "error": error, "updated": updated})
        out += [{"t": "sighting", "disable_uid": d, "run_id": r, "seen": seen} for d, r, seen in sightings]
        for row in notices:
            record = dict(zip(NOTICE_COLUMNS, row))
            state, error, updated = record.pop("state"), record.pop("error"), record.pop("updated")
            out.append({"t": "notice", **record})
            if state != "intent":
                out.append({"t": "notice_settle", "uid": record["uid"], "state": state, "error": error,
                            "updated": updated})
        return out

    def _backfill(self) -> None:
        """A journal from before the chain: its rows become the chain's first events, as they stand."""
        with self._lock:
            empty = self._db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
            rows = self._db.execute("SELECT count(*) FROM runs").fetchone()[0]
        if not (empty and rows):
            return
        with self._lock:  # actions from before uids existed get one, so the chain can name them
            self._db.execute("UPDATE actions SET uid = 'id:' || id WHERE uid IS NULL")
        records = self.dump_records()
        with self._tx() as db:
            self._chain(db, *records)

    def _rows(self, table: str, columns: str, order: str) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(f"SELECT {columns} FROM {table} ORDER BY {order}").fetchall()

    def apply_records(self, records: Sequence[dict[str, Any]]) -> None:
        """Make the changes `records` describe (a remote journal's log, or a chain being checked)."""
        for r in records:
            kind = r["t"]
            if kind == "run":
                Journal.start_run(self, r["run_id"], r["mode"], r.get("as_of"), r.get("config_digest") or "",
                               r.get("restores"), started=r["started"], host=r.get("host"), pid=r.get("pid") or 0,
                               plan_digest=r.get("plan_digest"), note=r.get("note"), actor=r.get("actor"),
                               context=r.get("context"))
            elif kind == "finish":
                Journal.finish_run(self, r["run_id"], r["status"], finished=r["finished"])
            elif kind == "intent":
                ref = CredentialRef(r["provider"], r["scope"], r["identity_id"], r["login"],
                                    CredentialKind(r["kind"]), r["credential_id"])
                Journal.intend(self, r["run_id"], Action(r["action"]),
                               [(ref, r.get("before") or {}, bool(r.get("irreversible")))],
                               created=r["created"], uids=[r["uid"]])
            elif kind == "settle":
                Journal._settle_uid(self, r["uid"], r["state"], r.get("error"), r["updated"])
            elif kind == "sighting":
                Journal.saw_enabled(self, r["disable_uid"], r["run_id"], r["seen"])
            elif kind == "actor":
                Journal.record_actor(self, r["run_id"], r["provider"], r["principal"])
            elif kind == "notice":
                Journal.record_notices(self, r["run_id"], [{k: r.get(k) for k in NOTICE_FIELDS}],
                                       uids=[r["uid"]], created=r["created"])
            elif kind == "notice_settle":
                Journal.settle_notices(self, [(r["uid"], r["state"], r.get("error"))], updated=r["updated"])
            else:
                raise KeyError(kind)

    def _settle_uid(self, uid: str, state: str, error: str | None, updated: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE actions SET state = ?, error = ?, updated = ? WHERE uid = ?",
                       (ActionState(state), error, updated, uid))
            self._record(db, {"t": "settle", "uid": uid, "state": state, "error": error, "updated": updated})

    def _record(self, db: sqlite3.Connection, *records: dict[str, Any]) -> None:
        if not getattr(self, "_unchained", False):
            self._chain(db, *records)

    # runs

    def start_run(self, run_id: str, mode: str, as_of: datetime | str | None, config_digest: str = "",
                  restores: str | None = None, *, started: str | None = None, host: str | None = None,
                  pid: int | None = None, plan_digest: str | None = None, note: str | None = None,
                  actor: dict[str, str] | None = None, context: dict[str, str] | None = None) -> None:
        """Record a run starting, with where it runs (host, CI run and its URL, tool version)."""
        when = as_of.isoformat() if isinstance(as_of, datetime) else as_of
        record = {"t": "run", "run_id": run_id, "mode": mode, "started": started or _now(), "as_of": when,
                  "config_digest": config_digest, "host": host or socket.gethostname(),
                  "pid": os.getpid() if pid is None else pid, "restores": restores, "plan_digest": plan_digest,
                  "note": note, "actor": actor or {}, "context": run_context() if context is None else context}
        with self._tx() as db:
            db.execute("INSERT INTO runs (run_id, mode, started, status, as_of, config_digest, pid, restores, host, "
                       "plan_digest, note, actor, context) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, mode, record["started"], RunStatus.RUNNING, when, config_digest, record["pid"],
                        restores, record["host"], plan_digest, note, json.dumps(record["actor"], sort_keys=True),
                        json.dumps(record["context"], sort_keys=True)))
            self._record(db, record)

    def record_actor(self, run_id: str, provider: str, principal: str) -> None:
        """Who a run acted as in one provider (its whoami)."""
        with self._tx() as db:
            row = db.execute("SELECT actor FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            actor = json.loads(row[0] or "{}") if row else {}
            actor[provider] = principal
            db.execute("UPDATE runs SET actor = ? WHERE run_id = ?", (json.dumps(actor, sort_keys=True), run_id))
            self._record(db, {"t": "actor", "run_id": run_id, "provider": provider, "principal": principal})

    def run_details(self, run_id: str) -> dict[str, Any]:
        """What the journal knows of a run beyond `runs()`: host, actor, CI context, plan, note."""
        with self._lock:
            row = self._db.execute("SELECT host, actor, context, config_digest, plan_digest, note FROM runs "
                                   "WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return {}
        host, actor, context, config_digest, plan_digest, note = row
        return {"host": host, "actor": json.loads(actor or "{}"), "context": json.loads(context or "{}"),
                "config_digest": config_digest, "plan_digest": plan_digest, "note": note}

    def plan_applied(self, digest: str) -> str | None:
        """The apply run that already acted on the plan with this digest, if any."""
        with self._lock:
            found = self._db.execute("SELECT run_id FROM runs WHERE plan_digest = ? AND mode = 'apply' "
                                     "ORDER BY started LIMIT 1", (digest,)).fetchone()
        return found[0] if found else None

    def finish_run(self, run_id: str, status: RunStatus, *, finished: str | None = None) -> None:
        when = finished or _now()
        with self._tx() as db:
            db.execute("UPDATE runs SET finished = ?, status = ? WHERE run_id = ?", (when, RunStatus(status), run_id))
            self._record(db, {"t": "finish", "run_id": run_id, "status": str(RunStatus(status)), "finished": when})

    def runs(self, run_id: str | None = None, *, mode: str | None = None, since: str | None = None,
             limit: int | None = None) -> list[RunRow]:
        """Runs, newest first, with their action counts; of one mode, started at or after `since`
        (RFC 3339), at most `limit` when given."""
        where: list[str] = []
        args: list[str] = [ActionState.DONE, ActionState.FAILED, ActionState.INTERRUPTED, ActionState.INTENT]
        for clause, value in (("r.run_id = ?", run_id), ("r.mode = ?", mode), ("r.started >= ?", since)):
            if value:
                where.append(clause)
                args.append(value)
        sql = ("SELECT r.run_id, r.mode, r.started, r.finished, r.status, r.as_of, r.restores, "
               "COALESCE(SUM(a.state = ?), 0), COALESCE(SUM(a.state IN (?, ?)), 0), "
               "COALESCE(SUM(a.state = ?), 0), r.actor, r.context, r.host, GROUP_CONCAT(DISTINCT a.provider) "
               "FROM runs r LEFT JOIN actions a ON a.run_id = r.run_id "
               + (f"WHERE {' AND '.join(where)} " if where else "")
               + "GROUP BY r.run_id ORDER BY r.started DESC, r.rowid DESC" + (" LIMIT ?" if limit else ""))
        with self._lock:
            rows = self._db.execute(sql, [*args, *([limit] if limit else [])]).fetchall()
        return [RunRow(run, mode_, started, finished, _read(RunStatus, status), as_of, restores, done, failed, pending,
                       tuple(sorted({*json.loads(actor or "{}"), *(acted or "").split(",")} - {""})),
                       _ran_by(json.loads(context or "{}"), host))
                for run, mode_, started, finished, status, as_of, restores, done, failed, pending, actor, context,
                host, acted in rows]

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
                self._record(db, {"t": "intent", "run_id": run_id, "uid": uid, "provider": ref.provider,
                                  "scope": ref.scope, "identity_id": ref.identity_id, "login": ref.login,
                                  "kind": ref.kind.value, "credential_id": ref.credential_id,
                                  "action": action.value, "before": before, "irreversible": bool(irreversible),
                                  "created": now})
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
            uids = dict(db.execute(f"SELECT id, uid FROM actions WHERE id IN ({','.join('?' * len(results))})",
                                   [i for i, _, _ in results]).fetchall()) if results else {}
            self._record(db, *({"t": "settle", "uid": uids.get(i) or f"id:{i}", "state": str(ActionState(state)),
                                "error": error, "updated": now} for i, state, error in results))

    def actions(self, run_id: str | None = None, state: ActionState | None = None) -> list[ActionRow]:
        """Actions in the order they were recorded, of one run and in one state when given."""
        where, args = [], []
        if run_id:
            where.append("run_id = ?")
            args.append(run_id)
        if state:
            where.append("state = ?")
            args.append(state)
        sql = (f"SELECT {_ACTION_COLUMNS} FROM actions "
               + (f"WHERE {' AND '.join(where)} " if where else "") + "ORDER BY id")
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_action_row(r) for r in rows]

    def last_change(self, ref: CredentialRef) -> tuple[ActionRow, ActionRow | None] | None:
        """The latest disable this sweeper made of `ref` that took effect (done), and the restore
        (enable, done) after it, if any; None if it never disabled it. An interrupted disable was seen
        not to take effect when reconciled: the credential was never disabled by this sweeper."""
        disabled: ActionRow | None = None
        enabled: ActionRow | None = None
        for row in self.lifecycle(ref):
            if row.action is Action.DISABLE:
                disabled, enabled = row, None
            elif disabled is not None and row.action is Action.ENABLE:
                enabled = row
        return None if disabled is None else (disabled, enabled)

    def lifecycle(self, ref: CredentialRef) -> list[ActionRow]:
        """Every change of `ref` that took effect (done), oldest first: its disables, restores,
        removals and undeletes."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ACTION_COLUMNS} FROM actions WHERE provider = ? AND scope = ? AND identity_id = ? "
                "AND kind = ? AND credential_id = ? AND state = 'done' ORDER BY id",
                (ref.provider, ref.scope, ref.identity_id, ref.kind.value, ref.credential_id)).fetchall()
        return [_action_row(r) for r in rows]

    def uid_of(self, action_id: int) -> str:
        with self._lock:
            found = self._db.execute("SELECT uid FROM actions WHERE id = ?", (action_id,)).fetchone()
        return found[0] if found and found[0] else f"id:{action_id}"

    def first_seen_enabled(self, disable_uid: str) -> str | None:
        with self._lock:
            found = self._db.execute("SELECT seen FROM sightings WHERE disable_uid = ?", (disable_uid,)).fetchone()
        return found[0] if found else None

    def saw_enabled(self, disable_uid: str, run_id: str, seen: str) -> None:
        """Record the first run that saw a credential this sweeper disabled enabled again."""
        with self._tx() as db:
            cur = db.execute("INSERT OR IGNORE INTO sightings (disable_uid, run_id, seen) VALUES (?, ?, ?)",
                             (disable_uid, run_id, seen))
            if cur.rowcount:
                self._record(db, {"t": "sighting", "disable_uid": disable_uid, "run_id": run_id, "seen": seen})

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

    # notices

    def record_notices(self, run_id: str, items: Sequence[dict[str, Any]], *, uids: Sequence[str] | None = None,
                       created: str | None = None) -> list[str]:
        """Commit notices as `intent` before they are sent; each item has NOTICE_FIELDS. Returns their uids."""
        now = created or _now()
        uids = list(uids or [self.new_uid(run_id) for _ in items])
        with self._tx() as db:
            for item, uid in zip(items, uids):
                row = {**{k: item.get(k) for k in NOTICE_FIELDS}, "uid": uid, "run_id": run_id, "state": "intent",
                       "error": None, "created": now, "updated": now}
                db.execute(f"INSERT INTO notices ({', '.join(NOTICE_COLUMNS)}) VALUES "
                           f"({', '.join('?' * len(NOTICE_COLUMNS))})", [row[c] for c in NOTICE_COLUMNS])
                self._record(db, {"t": "notice", "uid": uid, "run_id": run_id, "created": now,
                                  **{k: row[k] for k in NOTICE_FIELDS}})
        return uids

    def settle_notices(self, results: Sequence[tuple[str, str, str | None]], *, updated: str | None = None) -> None:
        """Mark notices (uid, "done" | "failed", error) after delivery was tried."""
        now = updated or _now()
        with self._tx() as db:
            for uid, state, error in results:
                db.execute("UPDATE notices SET state = ?, error = ?, updated = ? WHERE uid = ?", (state, error, now, uid))
                self._record(db, {"t": "notice_settle", "uid": uid, "state": state, "error": error, "updated": now})

    def notices(self, key: tuple[str, ...] | None = None, *, since_cleared: bool = True) -> list[dict[str, Any]]:
        """Notices in the order they were recorded: of one credential key (provider, scope, identity id,
        kind, credential id) when given, and then only those after its last `cleared` mark."""
        where, args = "", []
        if key is not None:
            where = "WHERE provider = ? AND scope = ? AND identity_id = ? AND kind = ? AND credential_id = ?"
            args = list(key)
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(NOTICE_COLUMNS)} FROM notices {where} ORDER BY rowid",
                                    args).fetchall()
        out = [dict(zip(NOTICE_COLUMNS, row)) for row in rows]
        if key is not None and since_cleared:
            last = max((n for n, row in enumerate(out) if row["stage"] == "cleared"), default=-1)
            out = out[last + 1:]
        return out

    def mark_interrupted(self, exclude_run: str) -> None:
        """Runs still 'running' from a process that is gone are 'interrupted'."""
        with self._tx() as db:
            for run_id, pid in db.execute("SELECT run_id, pid FROM runs WHERE status = ? AND run_id != ?",
                                          (RunStatus.RUNNING, exclude_run)).fetchall():
                if not _alive(pid):
                    now = _now()
                    db.execute("UPDATE runs SET status = ?, finished = ? WHERE run_id = ?",
                               (RunStatus.INTERRUPTED, now, run_id))
                    self._record(db, {"t": "finish", "run_id": run_id, "status": str(RunStatus.INTERRUPTED),
                                      "finished": now})


# what `_action_row` reads, in its order
_ACTION_COLUMNS = ("id, run_id, provider, scope, identity_id, login, kind, credential_id, action, state, before, "
                   "irreversible, error, updated")


def _action_row(r: Sequence[Any]) -> ActionRow:
    return ActionRow(r[0], r[1], CredentialRef(r[2], r[3], r[4], r[5], CredentialKind(r[6]), r[7]), Action(r[8]),
                     _read(ActionState, r[9]), json.loads(r[10] or "{}"), bool(r[11]), r[12], r[13])


def _read(state: type[StateT], value: str) -> StateT:
    """A run status or action state read back; one this sweeper does not know is a JournalError."""
    try:
        return state(value)
    except ValueError:
        raise JournalError(f"a {state.__name__} this sweeper does not know: {value!r} (written by a newer "
                           "version?)") from None


GENESIS = "0" * 64
KEY_ENV = "SWEEPER_JOURNAL_KEY"
# What the chain vouches for: every column a run, an action or a sighting has, in a stable order.
_AUDITED = (
    ("runs", "run_id, mode, started, finished, status, as_of, config_digest, restores, host, plan_digest, note, "
             "actor, context", "run_id"),
    ("actions", "uid, run_id, provider, scope, identity_id, login, kind, credential_id, action, state, before, "
                "irreversible, error, created, updated", "uid"),
    ("sightings", "disable_uid, run_id, seen", "disable_uid"),
    ("notices", ", ".join(NOTICE_COLUMNS), "uid"),
)
# what a caller gives for each notice (the journal adds uid, run, state and times)
NOTICE_FIELDS = ("provider", "scope", "identity_id", "login", "kind", "credential_id", "stage", "transport",
                 "recipient", "as_of")


def _journal_key() -> bytes | None:
    key = os.environ.get(KEY_ENV)
    return key.encode() if key else None


def _link(prev: str, text: str) -> str:
    return hashlib.sha256(f"{prev}\n{text}".encode()).hexdigest()


def _mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def _hmac_ok(key: bytes, digest: str, mac: str) -> bool:
    return hmac.compare_digest(_mac(key, digest), mac)


def run_context() -> dict[str, str]:
    """Where a run runs: the CI system's run id and URL when there is one, and this tool's version."""
    from sweeper import __version__

    env = os.environ
    out = {"version": __version__}
    if env.get("GITHUB_RUN_ID"):
        out.update(ci="github", run=env["GITHUB_RUN_ID"],
                   url=f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env.get('GITHUB_REPOSITORY', '')}"
                       f"/actions/runs/{env['GITHUB_RUN_ID']}", actor=env.get("GITHUB_ACTOR", ""))
    elif env.get("GITLAB_CI") or env.get("CI_JOB_ID"):
        out.update(ci="gitlab", run=env.get("CI_JOB_ID", ""), url=env.get("CI_JOB_URL", ""),
                   actor=env.get("GITLAB_USER_LOGIN", ""))
    return out


def _ran_by(context: dict[str, str], host: str | None) -> str:
    """Who ran a run, in a few words: the CI system and its user (`github:octocat`), else the host."""
    if context.get("ci"):
        return f"{context['ci']}:{context['actor']}" if context.get("actor") else str(context["ci"])
    return host or ""


def _why(err: sqlite3.Error) -> str:
    text = str(err)
    if "full" in text:
        return "the disk is full (database or disk is full); free space, then run again"
    if "readonly" in text or "read-only" in text:
        return "the file is read-only"
    if "disk I/O" in text:
        return "disk I/O error (a full disk or a file size limit?)"
    return text


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
