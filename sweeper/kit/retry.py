"""Trying again what a provider asked us to try later: Retry-After, a bounded budget, per-item rounds.

Graph `$batch` and Google batches answer per item, so a throttled item is sent again in a later
round while the items that went through are never sent twice. Every loop ends: after `retries`
more tries, or earlier when the next wait would spend more than the budget allows.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Budget:
    """How long one loop keeps trying. A wait is the provider's Retry-After when it gives one, else
    exponential backoff: 2^(n-1) seconds before try n+1, or with `jitter` a random time in [0, 2^n)."""

    retries: int  # tries after the first
    total: float = math.inf  # seconds of waiting in all; a wait that would pass it ends the loop
    longest: float = math.inf  # a Retry-After longer than this ends the loop (the caller gives up now)
    cap: float = math.inf  # no single wait is longer (a longer Retry-After is cut to this)
    jitter: bool = False

    def backoff(self, tries: int) -> float:
        """The wait after `tries` failed tries, when the provider gave no Retry-After."""
        return random.random() * 2.0 ** tries if self.jitter else 2.0 ** (tries - 1)

    def start(self, sleep: Callable[[float], None] = time.sleep) -> Waits:
        return Waits(self, sleep)


class Waits:
    """One loop's spending of a Budget. `tries` counts the tries made so far, the first included."""

    def __init__(self, budget: Budget, sleep: Callable[[float], None]) -> None:
        self.budget = budget
        self.sleep = sleep
        self.tries = 1
        self.waited = 0.0

    def again(self, retry_after: float | None = None) -> bool:
        """After a failed try: wait, then True; or False, without waiting, when the budget is spent."""
        b = self.budget
        if self.tries > b.retries or retry_after is not None and retry_after > b.longest:
            return False
        wait = min(b.backoff(self.tries) if retry_after is None else retry_after, b.cap)
        if self.waited + wait > b.total:
            return False
        self.sleep(wait)
        self.waited += wait
        self.tries += 1
        return True


def retry_items(keys: Iterable[K], send: Callable[[list[K]], Mapping[K, float | None]], budget: Budget,
                sleep: Callable[[float], None] = time.sleep) -> tuple[list[K], int]:
    """Send `keys` in rounds until none is left to try again or the budget is spent.

    `send(pending)` settles what it can and returns the keys to try again, each with its Retry-After
    in seconds (None: not given); the longest one sets the wait. Returns the keys still unsettled
    when the budget ran out (empty when every key was settled) and the number of rounds sent.
    Whatever `send` raises propagates.
    """
    waits = budget.start(sleep)
    pending = list(keys)
    while pending:
        again = send(pending)
        pending = [k for k in pending if k in again]
        hint = max((h for h in (again[k] for k in pending) if h is not None), default=None)
        if pending and not waits.again(hint):
            break
    return pending, waits.tries


def retry_after(headers: Mapping[str, Any] | Any) -> float | None:
    """Seconds from a Retry-After header, named in any case; fractional values ("2.128") allowed.

    None when absent or not a number (the HTTP-date form is not used by these APIs); never negative.
    """
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return None if math.isnan(seconds) else max(0.0, seconds)
    return None


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
