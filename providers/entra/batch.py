"""Disable/enable accounts with hand-built JSON `$batch` requests: ≤ 20 items, relative URLs.

Each item's own status is checked: Graph answers 200 for the batch even when items fail. Items
answered 429/503/504 are sent again after their Retry-After (bounded by a retry count and a per-wait
cap); everything else is final. PATCH accountEnabled is idempotent, so a retried item is harmless.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from providers.entra.graph import Graph, parse, translate
from sweeper.errors import DataError
from sweeper.model import Action, CredentialRef, Outcome

MAX_ITEMS = 20
RETRYABLE = (429, 503, 504)
PATCH_PERMISSION = ("User.EnableDisableAccount.All (and, for users holding a directory role, the "
                    "Privileged Authentication Administrator role)")


@dataclass
class Op:
    ref: int  # index into refs
    method: str
    url: str
    body: dict[str, Any] | None = None
    status: int = 0
    error: str | None = None

    def item(self, item_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"id": item_id, "method": self.method, "url": self.url}
        if self.body is not None:
            out["headers"] = {"Content-Type": "application/json"}
            out["body"] = self.body
        return out


def _retry_after(answer: dict[str, Any]) -> float | None:
    headers = answer.get("headers") if isinstance(answer.get("headers"), dict) else {}
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _said(answer: dict[str, Any]) -> str:
    body = answer.get("body")
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("code"):
        return f"{err.get('code')}: {err.get('message', '')}".strip()
    return f"HTTP {answer.get('status')}"


class Batcher:
    def __init__(self, graph: Graph, *, max_retries: int, max_wait: float) -> None:
        self.graph = graph
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.requests = 0  # $batch POSTs sent (for benchmarks)

    async def apply(self, action: Action, refs: list[CredentialRef], revoke: bool) -> list[Outcome]:
        ops: list[Op] = []
        for i, ref in enumerate(refs):
            user = f"/users/{quote(ref.identity_id, safe='')}"
            ops.append(Op(i, "PATCH", user, {"accountEnabled": action is Action.ENABLE}))
            if revoke:
                ops.append(Op(i, "POST", f"{user}/revokeSignInSessions"))
        pending = ops
        for attempt in range(self.max_retries + 1):
            waits = await self._send_all(pending, first=attempt == 0)
            pending = [op for op in ops if op.status in RETRYABLE]
            if not pending or attempt == self.max_retries:
                break
            wait = max((w for w in waits if w is not None), default=min(2.0 ** attempt, self.max_wait))
            if wait > self.max_wait:
                break
            await asyncio.sleep(wait)
        for op in pending:
            op.error = f"still throttled after {self.max_retries} retries ({op.error})"
        return [self._outcome(ref, [op for op in ops if op.ref == i]) for i, ref in enumerate(refs)]

    async def _send_all(self, ops: list[Op], first: bool) -> list[float | None]:
        """Send `ops` in batches of 20; set each op's status/error; return the Retry-After values seen."""
        waits: list[float | None] = []
        for start in range(0, len(ops), MAX_ITEMS):
            chunk = ops[start:start + MAX_ITEMS]
            try:
                answers = await self._post(chunk)
            except Exception as err:  # noqa: BLE001
                if first and start == 0:
                    raise  # nothing attempted yet: the caller reports it (e.g. AuthError)
                detail = translate(err, "$batch", PATCH_PERMISSION).detail
                for op in chunk:
                    op.status, op.error = -1, detail
                continue
            for n, op in enumerate(chunk, 1):
                answer = answers.get(str(n))
                if answer is None:
                    op.status, op.error = -1, "no answer for this item in the $batch response"
                    continue
                op.status = answer["status"]
                op.error = None if 200 <= op.status < 300 else _said(answer)
                if op.status in RETRYABLE:
                    waits.append(_retry_after(answer))
        return waits

    async def _post(self, chunk: list[Op]) -> dict[str, dict[str, Any]]:
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

    def _outcome(self, ref: CredentialRef, ops: list[Op]) -> Outcome:
        patch, *rest = ops
        if patch.status == 404:
            return Outcome(ref, False, "user not found")
        if patch.status == 403:
            return Outcome(ref, False, f"permission denied ({patch.error}); needs {PATCH_PERMISSION}")
        if patch.error or not 200 <= patch.status < 300:
            return Outcome(ref, False, patch.error or f"HTTP {patch.status}")
        if rest:
            revoke = rest[0]
            if revoke.error:
                return Outcome(ref, True, note=f"disabled, but revoking sign-in sessions failed ({revoke.error}); "
                               "needs User.RevokeSessions.All")
            return Outcome(ref, True, note="sign-in sessions revoked")
        return Outcome(ref, True)
