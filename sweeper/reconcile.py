"""Reconciliation: settle the `intent` rows a killed run left, by asking each provider what is true now."""

from __future__ import annotations

from typing import Iterable

from sweeper import instances
from sweeper.actions import OpenAdapter, close_quietly, describe_failure
from sweeper.adapter import Adapter
from sweeper.config import Config
from sweeper.model import Action, ActionState
from sweeper.records import ActionRow, Journal


def reconcile(config: Config, journal: Journal, current_run: str, only: Iterable[str] | None = None, *,
              open_adapter: OpenAdapter) -> list[str]:
    """Settle `intent` rows left by killed runs by asking each provider for the current state.

    An intent whose change is visible now becomes `done`; one that is not becomes `interrupted`, and
    the next sweep judges that credential afresh. `interrupted` is not final: the killed process's
    request may still land after this check, so `restore` looks at those rows again.
    Returns messages for the caller to show.
    """
    journal.mark_interrupted(current_run)
    pending = [a for a in journal.actions(state=ActionState.INTENT) if a.run_id != current_run]
    wanted = set(only) if only else None
    messages: list[str] = []
    by_provider: dict[str, list[ActionRow]] = {}
    for row in pending:
        if wanted is None or instances.matches(row.ref.provider, list(wanted)):
            by_provider.setdefault(row.ref.provider, []).append(row)
    for name, rows in by_provider.items():
        if name not in config.providers:
            messages.append(f"{len(rows)} unfinished action(s) for {name}, which this config does not sweep: "
                            "left as they are")
            continue
        try:
            adapter = open_adapter(name, config.providers[name], write=True)
        except Exception as err:  # noqa: BLE001
            messages.append(f"cannot reconcile {name}: {describe_failure(err)}")
            continue
        try:
            settled = _settle(adapter, journal, rows, messages)
        finally:
            close_quietly(adapter)
        if settled:
            messages.append(f"reconciled {settled} unfinished action(s) for {name}")
    return messages


def _settle(adapter: Adapter, journal: Journal, rows: list[ActionRow], messages: list[str]) -> int:
    """Check each row's credential live and settle those that could be checked; returns how many."""
    settled: list[tuple[int, ActionState, str | None]] = []
    for row in rows:
        try:
            current = adapter.refresh(row.ref)
        except Exception as err:  # noqa: BLE001
            messages.append(f"cannot check {row.ref.login} {row.ref.label}: {describe_failure(err)}")
            continue
        took_effect = {Action.DISABLE: current is None or not current.enabled,
                       Action.REMOVE: current is None,
                       Action.UNDELETE: current is not None}.get(row.action, current is not None and current.enabled)
        settled.append((row.id, ActionState.DONE, "reconciled after an interrupted run") if took_effect else
                       (row.id, ActionState.INTERRUPTED, "interrupted before it took effect (reconciled)"))
    journal.settle(settled)
    return len(settled)
