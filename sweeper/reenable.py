"""Re-enables are respected: what this sweeper disabled and a person (or `restore`) enabled again is
not disabled again the next night. It gets `reenable_grace_days` counted from the restore, or from
the first run that saw it enabled again, and is a warning meanwhile, unless it is used in between
(then the ordinary rules apply, and it is simply in use).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Sequence

from sweeper.model import DecisionKind

CANDIDATES = (DecisionKind.DISABLE, DecisionKind.WARN)


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def respect(findings: Sequence[Any], journal: Any, run_id: str, as_of: datetime, grace_days: int) -> int:
    """Turn disables of credentials re-enabled since this sweeper disabled them into grace warnings.
    Records the first sighting in the journal. Returns how many findings it changed."""
    changed = 0
    for f in findings:
        if f.decision.kind not in CANDIDATES:
            continue
        history = journal.last_change(f.ref)
        if history is None:
            continue
        disabled, restored = history
        disabled_at = _when(disabled.updated)
        if disabled_at is None:
            continue
        used = f.credential.last_used
        if used is not None and used > disabled_at:
            continue  # used since it came back: the ordinary rules judge it
        if restored is not None:
            start = _when(restored.updated) or as_of
            how = f"restored by run {restored.run_id} (disabled by run {disabled.run_id} on {disabled_at.date()})"
        else:
            uid = journal.uid_of(disabled.id)
            seen = journal.first_seen_enabled(uid)
            if seen is None:
                journal.saw_enabled(uid, run_id, as_of.isoformat())
                seen = as_of.isoformat()
            start = _when(seen) or as_of
            how = f"re-enabled since run {disabled.run_id} (disabled {disabled_at.date()})"
        until = start + timedelta(days=grace_days)
        if as_of >= until:
            f.decision = replace(f.decision, reason=f"{f.decision.reason}; re-enabled since run {disabled.run_id} "
                                                    f"(disabled {disabled_at.date()}); grace ended {until.date()}")
            continue
        f.decision = replace(f.decision, kind=DecisionKind.WARN, risk="low",
                             reason=f"{how}; grace until {until.date()}; {f.decision.reason}")
        changed += 1
    return changed
