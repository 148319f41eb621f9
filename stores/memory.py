"""`memory://bucket/prefix`: an in-process object store with the same conditional semantics as the
clouds' (a real, registered backend, like fsspec's memory filesystem), for tests of the journal logic.

Buckets live in a process-wide dict; `MemoryStore.buckets` is cleared by tests. `faults` lets a test
make the next writes fail (unavailable, denied) or lose a race (conflict) to see what the journal does.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sweeper.store import Location, StoreConflict, StoreDenied, StoreMissing, StoreUnavailable

_LOCK = threading.Lock()


class MemoryStore:
    buckets: dict[str, dict[str, tuple[bytes, int]]] = {}
    faults: dict[str, list[str]] = {}  # operation (get/create/replace/put/delete/list) -> queued errors
    counts: Counter[str] = Counter()
    _version = 0

    def __init__(self, location: Location, settings: Any = None) -> None:
        self.location = location

    @classmethod
    def reset(cls) -> None:
        with _LOCK:
            cls.buckets.clear()
            cls.faults.clear()
            cls.counts.clear()

    @classmethod
    def make_bucket(cls, name: str) -> None:
        with _LOCK:
            cls.buckets.setdefault(name, {})

    @classmethod
    def fail(cls, operation: str, *errors: str) -> None:
        """Queue errors ('unavailable', 'denied', 'conflict') for the next calls of `operation`."""
        with _LOCK:
            cls.faults.setdefault(operation, []).extend(errors)

    def _objects(self, operation: str) -> dict[str, tuple[bytes, int]]:
        MemoryStore.counts[operation] += 1
        queued = MemoryStore.faults.get(operation)
        if queued:
            fault = queued.pop(0)
            url = self.location.url
            raise {"unavailable": StoreUnavailable(url, "injected: store unreachable"),
                   "denied": StoreDenied(url, f"injected: access denied ({operation})"),
                   "conflict": StoreConflict(url, "injected: conditional write lost")}[fault]
        bucket = MemoryStore.buckets.get(self.location.bucket)
        if bucket is None:
            raise StoreMissing(self.location.url, f"bucket {self.location.bucket!r} does not exist")
        return bucket

    @classmethod
    def _next(cls) -> int:
        cls._version += 1
        return cls._version

    def get(self, name: str) -> tuple[bytes, str] | None:
        with _LOCK:
            found = self._objects("get").get(self.location.key(name))
        return None if found is None else (found[0], str(found[1]))

    def create(self, name: str, data: bytes) -> str:
        with _LOCK:
            objects = self._objects("create")
            key = self.location.key(name)
            if key in objects:
                raise StoreConflict(self.location.url, f"{name} exists already")
            objects[key] = (bytes(data), self._next())
            return str(objects[key][1])

    def replace(self, name: str, data: bytes, version: str) -> str:
        with _LOCK:
            objects = self._objects("replace")
            key = self.location.key(name)
            if key not in objects or str(objects[key][1]) != version:
                raise StoreConflict(self.location.url, f"{name} changed since it was read")
            objects[key] = (bytes(data), self._next())
            return str(objects[key][1])

    def put(self, name: str, data: bytes) -> None:
        with _LOCK:
            self._objects("put")[self.location.key(name)] = (bytes(data), self._next())

    def delete(self, name: str, version: str | None = None) -> None:
        with _LOCK:
            objects = self._objects("delete")
            key = self.location.key(name)
            if key in objects and version is not None and str(objects[key][1]) != version:
                raise StoreConflict(self.location.url, f"{name} changed since it was read")
            objects.pop(key, None)

    def list(self, prefix: str = "", after: str | None = None) -> list[str]:
        with _LOCK:
            objects = self._objects("list")
            root = self.location.key("")
            start = root + prefix
            names = sorted(k[len(root):] for k in objects if k.startswith(start))
        return [n for n in names if after is None or n > after]

    def close(self) -> None:
        pass
