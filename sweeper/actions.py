"""Acting on credentials through the journal (intent → call → settle), and opening adapters.

Every change is committed as an `intent` before its API call and settled as `done` or `failed`
after, so that a run killed at any point can be reconciled (sweeper.reconcile) and undone
(sweeper.restore). Adapters come from an `OpenAdapter` the composition root (the CLI) passes in:
nothing here knows how adapters are found.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, Sequence

from sweeper.adapter import Adapter
from sweeper.config import ProviderSettings
from sweeper.errors import SweeperError
from sweeper.model import Action, ActionState, Credential, CredentialRef
from sweeper.records import Journal

Item = tuple[CredentialRef, dict[str, Any], bool]  # (the credential, its state before, irreversible)
Answers = dict[tuple[str, ...], tuple[bool, str | None, bool]]  # (ok, error or note, uncertain) by ref key


class OpenAdapter(Protocol):
    """Builds the adapter for a provider by name; `registry.create` is one. `write` False is read-only."""

    def __call__(self, name: str, settings: ProviderSettings, *, write: bool) -> Adapter: ...


def describe_failure(err: BaseException) -> str:
    """A one-line message for a failure; unexpected errors are named as such (no traceback)."""
    if isinstance(err, SweeperError):
        return str(err)
    return f"internal error: {type(err).__name__}: {err}"


def close_quietly(adapter: Adapter) -> None:
    try:
        adapter.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        pass


def before_state(credential: Credential) -> dict[str, Any]:
    """The state recorded in the journal before a change (no secrets: ids, flags and dates only)."""
    return {"enabled": credential.enabled, "activity": credential.activity.value,
            "last_used": credential.last_used.isoformat() if credential.last_used else None,
            "created": credential.created.isoformat() if credential.created else None}


def apply_batch(adapter: Adapter, journal: Journal, run_id: str, action: Action,
                items: Sequence[Item]) -> list[tuple[bool, str | None]]:
    """Intent → API calls → done/failed, for one group of items (one journal write each way).

    The group is split into the adapter's batches, called side by side when there are several.
    Returns (ok, detail) per item, in order: the error when it failed, the adapter's note (e.g.
    "already removed") when it worked. The journal keeps the detail either way; an outcome the
    adapter calls uncertain is settled `interrupted` (restore checks it live). If the intents
    cannot be recorded, this raises and nothing is called.
    """
    ids = journal.intend(run_id, action, items)
    refs = [ref for ref, _, _ in items]
    size = max(1, adapter.batch_size)
    batches = [refs[i:i + size] for i in range(0, len(refs), size)]
    if len(batches) == 1:
        answers = _call(adapter, action, batches[0])
    else:
        answers = {}
        with ThreadPoolExecutor(max(1, adapter.max_parallel), thread_name_prefix="apply-batch") as pool:
            for part in pool.map(lambda batch: _call(adapter, action, batch), batches):
                answers.update(part)
    results = [answers[ref.key] for ref in refs]
    journal.settle([(i, ActionState.DONE if ok else ActionState.INTERRUPTED if uncertain else ActionState.FAILED,
                     detail) for i, (ok, detail, uncertain) in zip(ids, results)])
    return [(ok, detail) for ok, detail, _ in results]


def _call(adapter: Adapter, action: Action, batch: list[CredentialRef]) -> Answers:
    """One adapter call; (ok, detail) by ref key. A call that raises fails its whole batch."""
    try:
        outcomes = {o.ref.key: o for o in adapter.apply(action, batch)}
    except Exception as err:  # noqa: BLE001 - the whole batch failed; recorded, not raised
        message = describe_failure(err)
        return {ref.key: (False, message, False) for ref in batch}
    answers: Answers = {}
    for ref in batch:
        o = outcomes.get(ref.key)
        answers[ref.key] = ((o.ok, o.note if o.ok else o.error, o.uncertain and not o.ok) if o
                            else (False, "no answer for this item", False))
    return answers
