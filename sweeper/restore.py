"""`restore RUN_ID`: re-enable what one run disabled, through the journal like any other change."""

from __future__ import annotations

from dataclasses import dataclass

from sweeper import registry
from sweeper.config import Config
from sweeper.engine import apply_batch, describe_failure, new_run_id, close_quietly
from sweeper.errors import SweeperError, UsageError
from sweeper.journal import ActionRow, Journal
from sweeper.model import Action


@dataclass
class RestoreItem:
    row: ActionRow
    result: str  # restored | would restore | cannot restore | failed
    detail: str | None = None


def restore(config: Config, journal: Journal, run_id: str, providers: list[str] | None,
            dry_run: bool = False) -> tuple[str | None, list[RestoreItem]]:
    """Re-enable every credential `run_id` disabled. Returns (the restore's own run id, items)."""
    if not journal.runs(run_id):
        raise UsageError(f"no run {run_id!r} in the journal {journal.path} (see `sweeper history`)")
    rows = [a for a in journal.actions(run_id) if a.action is Action.DISABLE
            and a.state in ("done", "interrupted") and (not providers or a.ref.provider in providers)]
    items: list[RestoreItem] = []
    todo: dict[str, list[ActionRow]] = {}
    for row in rows:
        if row.irreversible:
            items.append(RestoreItem(row, "cannot restore", _irreversible(row)))
        elif row.ref.provider not in config.providers:
            items.append(RestoreItem(row, "failed", f"provider {row.ref.provider} is not in this config"))
        elif dry_run:
            items.append(RestoreItem(row, "would restore" if row.state == "done" else "would check",
                                     None if row.state == "done" else "interrupted: restored if it took effect"))
        else:
            todo.setdefault(row.ref.provider, []).append(row)
    if dry_run or not todo:
        return None, items
    restore_id = new_run_id()
    journal.start_run(restore_id, "restore", None, config.digest, restores=run_id)
    failed = False
    for name, provider_rows in todo.items():
        try:
            adapter = registry.create(name, config.providers[name], write=True)
        except Exception as err:  # noqa: BLE001
            items += [RestoreItem(r, "failed", describe_failure(err)) for r in provider_rows]
            failed = True
            continue
        try:
            provider_rows, skipped = _landed(adapter, journal, provider_rows)
            items += skipped
            failed |= any(i.result == "failed" for i in skipped)
            size = max(1, adapter.batch_size, journal.group_size)
            for i in range(0, len(provider_rows), size):
                batch = provider_rows[i:i + size]
                results = apply_batch(adapter, journal, restore_id, Action.ENABLE,
                                      [(r.ref, {"enabled": False}, False) for r in batch])
                for row, (ok, message) in zip(batch, results):
                    items.append(RestoreItem(row, "restored" if ok else "failed", message))
                    failed |= not ok
        finally:
            close_quietly(adapter)
    journal.finish_run(restore_id, "partial" if failed else "done")
    return restore_id, items


def _irreversible(row: ActionRow) -> str:
    """What the provider says cannot be undone for this kind of credential, and what to do instead."""
    try:
        said = registry.info(row.ref.provider).irreversible.get(row.ref.kind)
    except SweeperError:
        said = None
    return said or f"{row.ref.kind.value.replace('_', ' ')} was removed irreversibly"


def _landed(adapter, journal: Journal, rows: list[ActionRow]) -> tuple[list[ActionRow], list[RestoreItem]]:
    """Keep `done` rows, and `interrupted` rows whose change did land after all (a killed run's request
    can reach the provider after the reconciling check) unless a later run did it; the others need nothing."""
    keep, skipped = [], []
    for row in rows:
        if row.state == "done":
            keep.append(row)
            continue
        later = journal.later_done(row)
        if later:
            skipped.append(RestoreItem(row, "nothing to restore", f"interrupted here; run {later} disabled it "
                                                                   "later (restore that run to undo it)"))
            continue
        try:
            current = adapter.refresh(row.ref)
        except Exception as err:  # noqa: BLE001
            skipped.append(RestoreItem(row, "failed", f"cannot check its current state: {describe_failure(err)}"))
            continue
        if current is not None and not current.enabled:
            keep.append(row)
        else:
            skipped.append(RestoreItem(row, "nothing to restore", "the interrupted change never took effect"))
    return keep, skipped
