"""Disable/enable accounts and service principals with hand-built JSON `$batch` requests: ≤ 20 items,
relative URLs (`PATCH /users/{id}` or, for a `service_principal` ref, `PATCH /servicePrincipals/{id}`).

Each item's own status is checked: Graph answers 200 for the batch even when items fail. Items
answered 429/503/504 are sent again in later rounds (sweeper.kit.retry: after their Retry-After,
fractional ones included, within `retries` and `retry_max_wait`); everything else is final. PATCH
accountEnabled is idempotent, so a retried item is harmless.

Sign-in sessions are revoked (`revoke_sessions`) only after the disable succeeded, in batches of their
own: Graph runs the items of one batch in any order, and `dependsOn` cannot pair each revoke with its
disable (a batch's items must be all independent, all in one chain, or all depend on the same item).
Revoking first would let a sign-in in between get a fresh session on an account about to be disabled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence
from urllib.parse import quote

from providers.entra.graph import Graph, parse, translate
from sweeper.errors import DataError, NotFound, ProviderError
from sweeper.kit.retry import Budget, chunks, retry_after, retry_items
from sweeper.kit.status import error_for_status
from sweeper.model import Action, CredentialKind, CredentialRef, Outcome

MAX_ITEMS = 20
RETRYABLE = (429, 503, 504)
PATCH_PERMISSION = ("User.EnableDisableAccount.All (and, for users holding a directory role, the "
                    "Privileged Authentication Administrator role)")
SP_PATCH_PERMISSION = "Application.ReadWrite.All"


def _path(ref: CredentialRef) -> str:
    if ref.kind is CredentialKind.SERVICE_PRINCIPAL:
        return f"/servicePrincipals/{quote(ref.identity_id, safe='')}"
    return f"/users/{quote(ref.identity_id, safe='')}"


@dataclass
class Op:
    ref: int  # index into refs
    method: str
    url: str
    body: dict[str, Any] | None = None
    status: int = 0  # of the last answer; -1 when there was none
    said: str = ""  # Graph's error code and message in the last answer
    wait: float | None = None  # the last answer's Retry-After
    error: str | None = None  # why it failed without an answer of its own, or stayed throttled

    def item(self, item_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"id": item_id, "method": self.method, "url": self.url}
        if self.body is not None:
            out["headers"] = {"Content-Type": "application/json"}
            out["body"] = self.body
        return out

    def words(self) -> str:
        return self.error or f"HTTP {self.status} {self.said}".rstrip()


def _said(answer: dict[str, Any]) -> str:
    """Graph's error code and message in one answer, either of them possibly empty."""
    body = answer.get("body")
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return ""
    parts = [str(err.get(k) or "").strip() for k in ("code", "message")]
    return ": ".join(p for p in parts if p)


class Batcher:
    """One apply() call's $batch requests; `sleep` is the wait between rounds (by default the graph's
    recorded wait, `Graph.waits`)."""

    def __init__(self, graph: Graph, *, retries: int, max_wait: float,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.graph = graph
        self.budget = Budget(retries, longest=max_wait, cap=max_wait)
        self.sleep = sleep or self._wait
        self.requests = 0  # $batch POSTs sent (for benchmarks)

    def _wait(self, seconds: float) -> None:
        self.graph.waits.append(seconds)
        time.sleep(seconds)

    def apply(self, action: Action, refs: list[CredentialRef], revoke: bool, operation: str,
              permission: str) -> list[Outcome]:
        paths = [_path(ref) for ref in refs]
        patches = [Op(i, "PATCH", path, {"accountEnabled": action is Action.ENABLE}) for i, path in enumerate(paths)]
        self._settle(patches, operation, permission, first=True)
        revokes: dict[int, Op] = {}
        if revoke:  # users only: a service principal has no sign-in sessions to revoke
            revokes = {op.ref: Op(op.ref, "POST", f"{paths[op.ref]}/revokeSignInSessions")
                       for op in patches if not op.error and 200 <= op.status < 300
                       and refs[op.ref].kind is not CredentialKind.SERVICE_PRINCIPAL}
            try:
                self._settle(list(revokes.values()), operation, permission, first=False)
            except ProviderError as err:  # the disables stand; only the revokes are in doubt
                for op in revokes.values():
                    op.status, op.error = -1, err.detail
        return [self._outcome(ref, patches[i], revokes.get(i)) for i, ref in enumerate(refs)]

    def _settle(self, ops: list[Op], operation: str, permission: str, *, first: bool) -> None:
        """Send `ops`, then again those throttled, until each has a final answer or the budget is spent.
        With `first`, a failure of the very first request (nothing sent yet) raises."""
        rounds = 0

        def send(pending: list[int]) -> dict[int, float | None]:
            nonlocal rounds
            rounds += 1
            self.graph.run(self._send_all([ops[i] for i in pending], first=first and rounds == 1), operation,
                           permission)
            return {i: ops[i].wait for i in pending if ops[i].status in RETRYABLE}

        left, tries = retry_items(range(len(ops)), send, self.budget, self.sleep)
        for i in left:
            ops[i].error = f"still throttled after {tries} attempts ({ops[i].words()})"

    async def _send_all(self, ops: list[Op], first: bool) -> None:
        """Send `ops` in batches of 20; record each op's answer."""
        for n, chunk in enumerate(chunks(ops, MAX_ITEMS)):
            try:
                answers = await self._post(chunk)
            except Exception as err:  # noqa: BLE001
                if first and n == 0:
                    raise  # nothing attempted yet: the caller reports it (e.g. AuthError)
                detail = translate(err, "$batch", PATCH_PERMISSION).detail
                for op in chunk:
                    op.status, op.error = -1, detail
                continue
            for k, op in enumerate(chunk, 1):
                answer = answers.get(str(k))
                if answer is None:
                    op.status, op.error = -1, "no answer for this item in the $batch response"
                    continue
                op.status, op.said, op.wait = answer["status"], _said(answer), retry_after(answer.get("headers"))

    async def _post(self, chunk: Sequence[Op]) -> dict[str, dict[str, Any]]:
        body = {"requests": [op.item(str(n)) for n, op in enumerate(chunk, 1)]}
        self.requests += 1
        raw = await self.graph.send("POST", f"{self.graph.endpoint}/$batch", body)
        answers = parse(raw, "$batch").get("responses")
        if not isinstance(answers, list):
            raise DataError("entra", "$batch", "response without a `responses` list")
        out = {}
        for a in answers:
            if not isinstance(a, dict) or not isinstance(a.get("status"), int):
                raise DataError("entra", "$batch", "batch response item without an integer status")
            out[str(a.get("id"))] = a
        return out

    def _outcome(self, ref: CredentialRef, patch: Op, revoke: Op | None) -> Outcome:
        if patch.error:
            return Outcome(ref, False, patch.error)
        if not 200 <= patch.status < 300:
            sp = ref.kind is CredentialKind.SERVICE_PRINCIPAL
            failed = error_for_status("entra", "$batch", patch.status, patch.said,
                                      needs=SP_PATCH_PERMISSION if sp else PATCH_PERMISSION)
            gone = "service principal not found" if sp else "user not found"
            return Outcome(ref, False, gone if isinstance(failed, NotFound) else failed.detail)
        if revoke is None:
            return Outcome(ref, True)
        if revoke.error or not 200 <= revoke.status < 300:
            return Outcome(ref, True, note=f"disabled, but revoking sign-in sessions failed ({revoke.words()}); "
                           "needs User.RevokeSessions.All")
        return Outcome(ref, True, note="sign-in sessions revoked")
