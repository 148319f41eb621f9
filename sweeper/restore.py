"""`restore RUN_ID`: re-enable what one run disabled, through the journal like any other change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from sweeper import instances
from sweeper.actions import OpenAdapter, apply_batch, close_quietly, describe_failure
from sweeper.adapter import Adapter
from sweeper.config import Config
from sweeper.errors import UsageError
from sweeper.model import Action, ActionState, Credential, CredentialKind, RunStatus
from sweeper.records import ActionRow, Journal
from sweeper.results import new_run_id

if TYPE_CHECKING:
    from datetime import datetime


@dataclass
class RestoreItem:
    row: ActionRow
    result: str  # restored | would restore | would check | cannot restore | nothing to restore | changed | failed
    # detail: why, in words that read the same for every provider
    detail: str | None = None


def restore(config: Config, journal: Journal, run_id: str, providers: list[str] | None,
            dry_run: bool = False, force: bool = False, *, open_adapter: OpenAdapter,
            irreversible: Callable[[str, CredentialKind], str | None] = lambda provider, kind: None,
            ) -> tuple[str | None, list[RestoreItem]]:
    """Re-enable every credential `run_id` disabled. Returns (the restore's own run id, items).

    `open_adapter` builds each provider's adapter (the CLI passes `registry.create`); `irreversible`
    says what a provider cannot undo for a credential kind (the CLI passes its registry metadata).
    """
    found = journal.runs(run_id)
    if not found:
        raise UsageError(f"no run {run_id!r} in the journal {journal.path} (see `sweeper history`)")
    age = _age_days(found[0].started)
    limit = config.policy.restore_max_age_days
    if age is not None and age > limit and not force and not dry_run:
        raise UsageError(f"run {run_id} is {age:.2g} days old, older than restore_max_age_days = {limit:g}: much may "
                         "have been decided since; check with --dry-run, then give --force")
    rows = [a for a in journal.actions(run_id) if a.action in (Action.DISABLE, Action.REMOVE)
            and a.state in (ActionState.DONE, ActionState.INTERRUPTED)
            and (not providers or instances.matches(a.ref.provider, providers))]
    items: list[RestoreItem] = []
    todo: dict[str, list[ActionRow]] = {}
    for row in rows:
        if row.irreversible and row.action is Action.REMOVE:
            items.append(RestoreItem(row, "cannot restore", f"{row.ref.kind.value.replace('_', ' ')} was removed "
                                     "irreversibly (the provider keeps no copy to bring back)"))
        elif row.irreversible:
            said = irreversible(row.ref.provider, row.ref.kind)
            items.append(RestoreItem(row, "cannot restore",
                                     said or f"{row.ref.kind.value.replace('_', ' ')} was removed irreversibly"))
        elif (undone := _undone_by(journal, row)) is not None:
            items.append(RestoreItem(row, "nothing to restore", f"already restored by run {undone.run_id} on "
                                                                f"{undone.updated[:10]}"))
        elif row.ref.provider not in config.providers:
            items.append(RestoreItem(row, "failed", f"provider {row.ref.provider} is not in this config"))
        elif dry_run:
            done = row.state == ActionState.DONE
            items.append(RestoreItem(row, "would restore" if done else "would check",
                                     None if done else "interrupted: restored if it took effect"))
        else:
            todo.setdefault(row.ref.provider, []).append(row)
    if dry_run or not todo:
        return None, items
    restore_id = new_run_id()
    journal.start_run(restore_id, "restore", None, config.digest, restores=run_id)
    failed = False
    for name, provider_rows in todo.items():
        try:
            adapter = open_adapter(name, config.providers[name], write=True)
        except Exception as err:  # noqa: BLE001
            items += [RestoreItem(r, "failed", describe_failure(err)) for r in provider_rows]
            failed = True
            continue
        try:
            provider_items = _enable(adapter, journal, restore_id, provider_rows)
        finally:
            close_quietly(adapter)
        items += provider_items
        failed |= any(i.result == "failed" for i in provider_items)
    journal.finish_run(restore_id, RunStatus.PARTIAL if failed else RunStatus.DONE)
    return restore_id, items


def _enable(adapter: Adapter, journal: Journal, restore_id: str, rows: list[ActionRow]) -> list[RestoreItem]:
    """Re-enable one provider's rows that need it (undelete its removals), in journaled groups; one item
    per row."""
    removed = [r for r in rows if r.action is Action.REMOVE]
    items = _undelete(adapter, journal, restore_id, removed) if removed else []
    rows = [r for r in rows if r.action is not Action.REMOVE]
    rows, unchanged = _unchanged(adapter, journal, rows)
    items += unchanged
    journaled = getattr(adapter, "journaled", None)
    if callable(journaled) and rows:  # what each disable recorded, for an adapter that needs it to undo one
        journaled({r.ref.key: r.error for r in rows})
    return items + _undo(adapter, journal, restore_id, Action.ENABLE, rows, {"enabled": False},
                         lambda row: f"enabled again, as before run {row.run_id}")


def _undo(adapter: Adapter, journal: Journal, restore_id: str, action: Action, rows: list[ActionRow],
          before: dict[str, bool], done: Callable[[ActionRow], str]) -> list[RestoreItem]:
    """Make `action` (enable, undelete) on `rows` in journaled groups: one item per row, what a
    success did in `done`'s words, the same for every provider."""
    items: list[RestoreItem] = []
    size = max(1, adapter.batch_size, journal.group_size)
    for i in range(0, len(rows), size):
        batch = rows[i:i + size]
        results = apply_batch(adapter, journal, restore_id, action, [(r.ref, before, False) for r in batch])
        items += [RestoreItem(row, "restored" if ok else "failed", done(row) if ok else message)
                  for row, (ok, message) in zip(batch, results)]
    return items


def _undone_by(journal: Journal, row: ActionRow) -> ActionRow | None:
    """The restore that already undid `row` (its enable, or its undelete), when no later run did the
    same change again since (then that later run is the one to restore, and `_unchanged` says so)."""
    later = [r for r in journal.lifecycle(row.ref) if r.id > row.id]
    if any(r.action is row.action for r in later):
        return None
    undo = Action.UNDELETE if row.action is Action.REMOVE else Action.ENABLE
    return next((r for r in later if r.action is undo), None)


def _undelete(adapter: Adapter, journal: Journal, restore_id: str, rows: list[ActionRow]) -> list[RestoreItem]:
    """Bring back what a run removed, while the provider still can (its window is checked live by the
    adapter, never assumed); it comes back as it was removed: disabled."""
    items, todo = [], []
    for row in rows:
        if journal.later_done(row):
            items.append(RestoreItem(row, "nothing to restore", "removed again by a later run"))
            continue
        try:
            current = adapter.refresh(row.ref)
        except Exception as err:  # noqa: BLE001
            items.append(RestoreItem(row, "failed", f"cannot check its current state: {describe_failure(err)}"))
            continue
        if current is not None:
            items.append(RestoreItem(row, "nothing to restore", "it exists again (brought back since the run)"))
        else:
            todo.append(row)
    return items + _undo(adapter, journal, restore_id, Action.UNDELETE, todo, {"exists": False},
                         lambda row: "undeleted; still disabled, as before the removal")


def _age_days(started: str) -> float | None:
    from datetime import datetime, timezone

    when = _time(started)
    return None if when is None else (datetime.now(timezone.utc) - when).total_seconds() / 86400


def _unchanged(adapter: Adapter, journal: Journal, rows: list[ActionRow]) -> tuple[list[ActionRow], list[RestoreItem]]:
    """The rows whose credential is still as the run left it; the others are listed and left alone.

    A restore must never undo what a person decided after the run: a credential enabled, used, seen
    enabled, or acted on by a later run since, is "changed since the run; not restored". An
    interrupted row is restored only if its change did land (a killed run's request can reach the
    provider after the reconciling check) and no later run did it.
    """
    keep, skipped = [], []
    for row in rows:
        later = journal.later_done(row)
        if later:
            why: str | None = ("interrupted here; " if row.state != ActionState.DONE else "changed since the run: ")
            skipped.append(RestoreItem(row, "nothing to restore", f"{why}run {later} disabled it later "
                                                                  "(restore that run to undo it)"))
            continue
        try:
            current = adapter.refresh(row.ref)
        except Exception as err:  # noqa: BLE001
            skipped.append(RestoreItem(row, "failed", f"cannot check its current state: {describe_failure(err)}"))
            continue
        why = _changed(journal, row, current)
        if why:
            skipped.append(RestoreItem(row, "nothing to restore" if why.startswith(("already", "the interrupted"))
                                       else "changed", why))
        else:
            keep.append(row)
    return keep, skipped


def _changed(journal: Journal, row: ActionRow, current: Credential | None) -> str | None:
    """Why `current` is not what the run left (None when it is)."""
    if current is None:
        return "changed since the run: it no longer exists; not restored"
    if current.enabled:
        if row.state != ActionState.DONE:
            return "the interrupted change never took effect"
        return "already enabled (changed since the run); nothing to restore"
    disabled_at = _time(row.updated)
    if current.last_used is not None and disabled_at is not None and current.last_used > disabled_at:
        return (f"changed since the run: used on {current.last_used.date()}, after it was disabled, so someone "
                "enabled it and it was disabled again since; not restored")
    seen = journal.first_seen_enabled(journal.uid_of(row.id))
    if seen:
        return f"changed since the run: seen enabled again on {seen[:10]} and disabled since; not restored"
    created = row.before.get("created")
    if created and current.created is not None and _time(created) != current.created:
        return "changed since the run: a different credential now (another creation date); not restored"
    return None


def _time(text: str | None) -> datetime | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
