"""Object storage for the journal and reports: one small interface, backends found by URL scheme.

The core never imports a storage SDK. `open_store("s3://bucket/prefix", settings)` looks the scheme
up in `sweeper.registry`, imports the backend lazily (`stores.s3`, `stores.gcs`, `stores.azure_blob`,
`stores.memory`, or a plug-in's) and returns an `ObjectStore` rooted at the URL's prefix.

Every write the journal makes is conditional: `create` succeeds only if the key does not exist,
`replace` and `delete` only if the object is still at the version that was read. A backend maps its
own precondition failure (S3/Azure 412, GCS 412 on `ifGenerationMatch`) to `StoreConflict`, and its
other errors to the typed errors below; it never turns a failure into an empty answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sweeper.errors import JournalError



class StoreError(JournalError):
    """Object storage failed; the message names the URL and the cause. Exit 2 unless transient."""

    def __init__(self, url: str, cause: str) -> None:
        self.url = url
        self.cause = cause
        super().__init__(f"{url}: {cause}")


class StoreConflict(StoreError):
    """A conditional write lost: the object exists already, or changed since it was read."""


class StoreMissing(StoreError):
    """The bucket or container does not exist."""


class StoreDenied(StoreError):
    """The credentials may not do this (the message names the permission when it can)."""


class StoreUnavailable(StoreError):
    """Unreachable, timed out or throttled after retries: worth trying again later."""

    exit_code = 4


@dataclass(frozen=True, slots=True)
class Location:
    """`s3://bucket/some/prefix` split up. `prefix` has no leading or trailing slash."""

    scheme: str
    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name


def is_remote(path: str) -> bool:
    """Whether `path` names object storage (`s3://`, `gs://`, `az://`, `memory://`) rather than a file."""
    from sweeper import registry

    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme in registry.store_names()


def parse_url(url: str) -> Location:
    """Split an object-storage URL; raises JournalError naming what is wrong with it."""
    from sweeper import registry

    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in registry.store_names():
        raise JournalError(f"{url}: not an object-storage URL (use s3://, gs:// or az://)")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise JournalError(f"{url}: no bucket or container named")
    if any(part in (".", "..") for part in prefix.split("/")):
        raise JournalError(f"{url}: '.' and '..' are not allowed in the prefix")
    return Location(scheme, bucket, prefix.strip("/"))


@runtime_checkable
class ObjectStore(Protocol):
    """Objects under one prefix. Names are relative to it; versions are opaque strings (ETag,
    generation). Each call is one request (or one paged listing) and raises `StoreError`s only."""

    location: Location

    def get(self, name: str) -> tuple[bytes, str] | None:
        """The object's bytes and version, or None when there is no such object."""
        ...

    def create(self, name: str, data: bytes) -> str:
        """Write only if absent (S3 If-None-Match: *, GCS ifGenerationMatch=0, Azure If-None-Match: *).
        Returns the new version; raises StoreConflict if the object exists."""
        ...

    def replace(self, name: str, data: bytes, version: str) -> str:
        """Overwrite only if still at `version`; returns the new version or raises StoreConflict."""
        ...

    def put(self, name: str, data: bytes) -> None:
        """Unconditional write, for reports only (the journal never writes blindly)."""
        ...

    def delete(self, name: str, version: str | None = None) -> None:
        """Delete (only if at `version` when given); a missing object is not an error."""
        ...

    def list(self, prefix: str = "", after: str | None = None) -> list[str]:
        """Names under `prefix` (and sorting after `after`, when given), sorted, every page followed."""
        ...

    def close(self) -> None: ...


PERMISSIONS = {
    "s3": """{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "JournalRead", "Effect": "Allow", "Action": ["s3:ListBucket"],
     "Resource": "arn:aws:s3:::BUCKET", "Condition": {"StringLike": {"s3:prefix": ["PREFIX/*"]}}},
    {"Sid": "JournalReadWrite", "Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
     "Resource": "arn:aws:s3:::BUCKET/PREFIX/*"}
  ]
}
history: s3:ListBucket, s3:GetObject; plan: + s3:PutObject (without it the plan is not recorded, with a
warning); apply and restore: + s3:PutObject and s3:DeleteObject (the lease). Reports (-o s3://...):
s3:PutObject on their prefix.""",
    "gs": """history: storage.objects.get, storage.objects.list (roles/storage.objectViewer on the bucket);
plan: + storage.objects.create (the journal only ever creates new objects for a plan); apply and restore:
+ storage.objects.create, storage.objects.delete (GCS counts replacing the lease as a delete)
(roles/storage.objectUser, or a custom role with these four permissions, on the bucket). Reports
(-o gs://...) overwriting an object also need storage.objects.delete.""",
    "az": """history: Storage Blob Data Reader on the container; plan, apply and restore: Storage Blob Data
Contributor on the container (read, write and delete blobs: the lease is a blob created, replaced and
deleted with If-None-Match / If-Match).""",
}


def open_store(url: str, settings: Any = None) -> ObjectStore:
    """The backend for `url`'s scheme, imported lazily, built with the `[journal]` settings."""
    from sweeper import registry

    location = parse_url(url)
    store: ObjectStore = registry.store_class(location.scheme)(location, settings)
    return store
