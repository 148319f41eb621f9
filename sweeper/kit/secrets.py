"""Secrets seen by this process, and one scrub() that keeps them out of every message.

Adapters `remember()` each secret when they first hold it (keys, tokens, passwords);
`ProviderError` scrubs its message, and anything else a person or a file may see goes through
`scrub()`. The registry is per process: a secret seen by one adapter is hidden everywhere.
"""

from __future__ import annotations

import threading

REDACTED = "[redacted]"
MIN_LENGTH = 8  # a shorter value would match ordinary words; no real key or token is that short

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first, so a secret that contains another goes whole


def remember(*values: str | None) -> None:
    """Record secret values; None, "" and values under 8 characters are ignored."""
    global _secrets
    with _lock:
        known = set(_secrets) | {v for v in values if v and len(v) >= MIN_LENGTH}
        _secrets = tuple(sorted(known, key=len, reverse=True))


def scrub(text: str, limit: int | None = None) -> str:
    """`text` with every remembered secret replaced by [redacted], then cut to `limit` characters."""
    for secret in _secrets:  # a tuple swapped whole by remember(): no lock needed to read it
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text if limit is None else text[:limit]
