"""Compatibility: the engine's names from before it was split by job.

The engine now lives in sweeper.results (what a run found), sweeper.sweep (the run),
sweeper.actions (journaled changes) and sweeper.reconcile (killed runs). Those modules take an
adapter factory from the composition root (the CLI). `Sweep` and `reconcile` here default it to
the registry, as the engine did, so that older callers keep working; new code imports the modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from sweeper import reconcile as _reconcile
from sweeper import registry, sweep
from sweeper.actions import OpenAdapter, apply_batch, before_state, close_quietly, describe_failure
from sweeper.adapter import Adapter
from sweeper.config import Config, ProviderSettings
from sweeper.records import Journal
from sweeper.results import ExitCode, Finding, FindingAction, RunResult, ScopeResult, new_run_id
from sweeper.sweep import CONFIRM, Progress

__all__ = ["CONFIRM", "ExitCode", "Finding", "FindingAction", "OpenAdapter", "Progress", "RunResult", "ScopeResult",
           "Sweep", "apply_batch", "before_state", "close_quietly", "describe_failure", "new_run_id", "reconcile"]


def open_registered(name: str, settings: ProviderSettings, *, write: bool) -> Adapter:
    """The registry's adapter for `name`, looked up at each call (as the engine did)."""
    adapter: Adapter = registry.create(name, settings, write=write)
    return adapter


@dataclass
class Sweep(sweep.Sweep):
    """`sweeper.sweep.Sweep`, opening adapters through the registry unless given `open_adapter`."""

    open_adapter: OpenAdapter = field(default=open_registered, kw_only=True)
    describe: Any = field(default=registry.info, kw_only=True)


def reconcile(config: Config, journal: Journal, current_run: str, only: Iterable[str] | None = None, *,
              open_adapter: OpenAdapter = open_registered) -> list[str]:
    """`sweeper.reconcile.reconcile`, opening adapters through the registry unless given `open_adapter`."""
    return _reconcile.reconcile(config, journal, current_run, only, open_adapter=open_adapter)
