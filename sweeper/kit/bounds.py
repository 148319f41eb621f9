"""Every listing ends: a page link seen twice is an error, the whole listing has a deadline, and no
single answer may be larger than a limit. A listing that trips one of these fails its scope (exit 4,
nothing disabled there); it never runs forever or fills memory.

One `Listing` per listing (per scope and operation). Adapters call `page(token)` before fetching each
page after the first, `remaining()` for the read deadline of each request, and `size(n)` on each
answer's length; each provider's transport bounds the reading of one answer in its own HTTP library.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sweeper.errors import DataError, ProviderError

MB = 1024 * 1024


class Listing:
    """The bounds of one listing. Not thread-safe: one listing is read by one thread."""

    def __init__(self, provider: str, operation: str, *, deadline_seconds: float, max_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self.operation = operation
        self.deadline_seconds = deadline_seconds
        self.max_bytes = max_bytes
        self.clock = clock
        self.ends = clock() + deadline_seconds
        self.pages = 0
        self._seen: set[str] = set()

    def page(self, token: str | None) -> None:
        """Before fetching the next page: its link or token must be new, and time must be left."""
        self.pages += 1
        if token is not None:
            if token in self._seen:
                raise DataError(self.provider, self.operation, f"the same next-page link came back twice (page "
                                f"{self.pages}): the listing would never end")
            self._seen.add(token)
        self.remaining()

    def remaining(self) -> float:
        """Seconds left before the listing's deadline; raises when none are."""
        left = self.ends - self.clock()
        if left <= 0:
            raise ProviderError(self.provider, self.operation, f"the listing did not finish within "
                                f"listing_deadline_seconds = {self.deadline_seconds:g} ({self.pages} pages read)")
        return left

    def size(self, n: int) -> None:
        """An answer of `n` bytes: refused above the limit."""
        if n > self.max_bytes:
            raise DataError(self.provider, self.operation, f"an answer of {n} bytes is larger than max_response_mb = "
                            f"{self.max_bytes / MB:g}")

