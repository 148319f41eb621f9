"""The journal's records, and the one interface every journal implements.

The engine, reconciliation, restore and history use a journal only through `Journal`; which one
they have (a local SQLite file, sweeper.journal, or a log in object storage, sweeper.journal_remote)
is the CLI's choice.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

from sweeper.model import Action, ActionState, CredentialRef, RunStatus


@dataclass(frozen=True, slots=True)
class ActionRow:
    id: int
    run_id: str
    ref: CredentialRef
    action: Action
    state: ActionState
    before: dict[str, Any]
    irreversible: bool
    error: str | None
    updated: str


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    mode: str  # plan | apply | restore
    started: str
    finished: str | None
    status: RunStatus
    as_of: str | None
    restores: str | None  # for a restore: the run it undid
    done: int
    failed: int  # failed or interrupted
    pending: int  # still `intent`
    providers: tuple[str, ...] = ()  # the providers it opened or acted in
    by: str = ""  # who ran it: the CI system and its user, or the host

    def as_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "mode": self.mode, "as_of": self.as_of, "started": self.started,
                "finished": self.finished, "status": self.status, "restores": self.restores,
                "providers": list(self.providers), "by": self.by,
                "actions": {"done": self.done, "failed": self.failed, "pending": self.pending}}


@runtime_checkable
class Journal(Protocol):
    """Runs and actions, recorded so that every change can be reconciled and undone (design.md §7, §9).

    Times are the real clock, RFC 3339 strings. Every method raises `JournalError` (or a subclass)
    when the journal cannot be read or written; a write that returned is durable.

    - `group_size`: how many actions the engine records as intents in one write before acting on
      them; 0 means one adapter batch at a time (a local file: writes are cheap).
    - `intend` commits `intent` rows (ref, state before, irreversible) and returns their ids, before
      the calls they announce; `settle` marks them (id, state, detail) after.
    - `record_notices` / `settle_notices` do the same for notices (owner notices per credential and
      stage, channel digests, exception reminders), so that none is sent twice or lost.
    - `mark_interrupted` marks runs left `running` by a process that is gone, other than `exclude_run`.
    - `exclusive()` holds the journal for one acting process (apply, restore) and refuses at once,
      with `JournalLocked`, while another holds it.
    """

    path: Path | str
    group_size: int

    def start_run(self, run_id: str, mode: str, as_of: datetime | str | None, config_digest: str = "",
                  restores: str | None = None, *, plan_digest: str | None = None,
                  note: str | None = None) -> None: ...

    def plan_applied(self, digest: str) -> str | None:
        """The apply run that already acted on the plan with this digest, if any."""
        ...

    def last_change(self, ref: CredentialRef) -> tuple[ActionRow, ActionRow | None] | None:
        """The latest disable of `ref` that took effect, and the restore after it, if any."""
        ...

    def lifecycle(self, ref: CredentialRef) -> list[ActionRow]:
        """Every change of `ref` that took effect (done), oldest first."""
        ...

    def uid_of(self, action_id: int) -> str: ...

    def record_actor(self, run_id: str, provider: str, principal: str) -> None:
        """Who a run acted as in one provider."""
        ...

    def verify(self) -> str | None:
        """None when the hash chain holds and the tables are what it records; else the first bad row."""
        ...

    def run_details(self, run_id: str) -> dict[str, Any]: ...

    def first_seen_enabled(self, disable_uid: str) -> str | None: ...

    def saw_enabled(self, disable_uid: str, run_id: str, seen: str) -> None:
        """Record the first run that saw a credential this sweeper disabled enabled again."""
        ...

    def finish_run(self, run_id: str, status: RunStatus) -> None: ...

    def runs(self, run_id: str | None = None, *, mode: str | None = None, since: str | None = None,
             limit: int | None = None) -> list[RunRow]:
        """Runs, newest first, with their action counts; of one mode, started at or after `since`
        (RFC 3339), at most `limit` when given."""
        ...

    def intend(self, run_id: str, action: Action,
               items: Sequence[tuple[CredentialRef, dict[str, Any], bool]]) -> list[int]: ...

    def settle(self, results: Sequence[tuple[int, ActionState, str | None]]) -> None: ...

    def actions(self, run_id: str | None = None, state: ActionState | None = None) -> list[ActionRow]:
        """Actions in the order they were recorded."""
        ...

    def later_done(self, row: ActionRow) -> str | None:
        """The run that later did the same action to the same credential, if any."""
        ...

    def mark_interrupted(self, exclude_run: str) -> None: ...

    def record_notices(self, run_id: str, items: Sequence[dict[str, Any]]) -> list[str]:
        """Commit notices (provider, scope, identity_id, login, kind, credential_id, stage, transport,
        recipient, as_of) as `intent` before they are sent; returns their uids."""
        ...

    def settle_notices(self, results: Sequence[tuple[str, str, str | None]]) -> None:
        """Mark notices (uid, "done" | "failed", error) after delivery was tried."""
        ...

    def notices(self, key: tuple[str, ...] | None = None, *, since_cleared: bool = True) -> list[dict[str, Any]]:
        """Notices in recorded order; of one credential key, after its last `cleared` mark."""
        ...

    def exclusive(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...
