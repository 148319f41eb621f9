"""`gs://bucket/prefix`: the journal and reports in Google Cloud Storage, via google-cloud-storage.

Conditional writes are GCS generation preconditions: an upload with `ifGenerationMatch=0` (create) or
`=<generation>` (replace), a delete with `ifGenerationMatch`; a version is the object's generation.
Credentials come from Application Default Credentials (workload identity, GOOGLE_APPLICATION_CREDENTIALS,
gcloud); `[journal] endpoint_url` names another endpoint, and a plain-http loopback one (an emulator)
is used with anonymous credentials. `[journal] timeout_seconds` bounds each request (default 30 s);
the library's retries of transient failures stop after twice that.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from google.api_core import exceptions as api
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError, RefreshError, TransportError
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.cloud.storage.retry import DEFAULT_RETRY

from sweeper.store import Location, StoreConflict, StoreDenied, StoreError, StoreMissing, StoreUnavailable

_ERRORS = (api.GoogleAPIError, GoogleAuthError, requests.RequestException, OSError, InvalidResponse, DataCorruption)
_TRANSIENT = (api.TooManyRequests, api.ServerError, requests.RequestException, TransportError, OSError)
# Overwriting an existing object needs storage.objects.delete as well as create.
_PERMISSION = {"get": "storage.objects.get", "create": "storage.objects.create",
               "replace": "storage.objects.create and storage.objects.delete",
               "put": "storage.objects.create and storage.objects.delete",
               "delete": "storage.objects.delete", "list": "storage.objects.list"}


def _loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return parts.scheme == "http" and (host in ("localhost", "::1") or host.startswith("127."))


class GcsStore:
    """Objects under one `gs://` prefix. `page_size`, `timeout` and `retry` may be set after construction."""

    page_size = 1000

    def __init__(self, location: Location, settings: Any = None) -> None:
        self.location = location
        endpoint = getattr(settings, "endpoint_url", None)
        project = getattr(settings, "project", None)
        self.timeout = float(getattr(settings, "timeout_seconds", None) or 30)
        # the library's default would keep retrying an unreachable endpoint for two minutes
        self.retry = DEFAULT_RETRY.with_timeout(2 * self.timeout)
        options = {"api_endpoint": endpoint} if endpoint else None
        try:
            if endpoint and _loopback_http(endpoint):
                self._client = storage.Client(project=project or "local", credentials=AnonymousCredentials(),
                                              client_options=options)
            else:
                self._client = storage.Client(project=project, client_options=options)
        except DefaultCredentialsError as err:
            raise StoreDenied(location.url, "no Google credentials found (set up Application Default Credentials: "
                                            "workload identity, GOOGLE_APPLICATION_CREDENTIALS or gcloud)") from err
        except (GoogleAuthError, ValueError) as err:
            raise StoreError(location.url, f"cannot set up the GCS client ({type(err).__name__})") from err
        self._bucket = self._client.bucket(location.bucket)
        self._bucket_seen = False  # set by any answer that proves the bucket exists

    def _fail(self, err: BaseException, operation: str, name: str = "") -> StoreError:
        url = f"{self.location.url}/{name}" if name else self.location.url
        if isinstance(err, api.PreconditionFailed):
            what = "exists already" if operation == "create" else "changed or was deleted since it was read"
            return StoreConflict(url, f"{what} (GCS ifGenerationMatch failed)")
        if isinstance(err, api.NotFound):  # callers handle an absent object before asking here
            return StoreMissing(url, f"bucket {self.location.bucket!r} does not exist")
        if isinstance(err, api.Forbidden):
            needs = _PERMISSION[operation]
            return StoreDenied(url, f"access denied (needs {needs} on bucket {self.location.bucket!r})")
        if isinstance(err, (api.Unauthorized, RefreshError)):
            return StoreDenied(url, f"the Google credentials were rejected ({type(err).__name__})")
        if isinstance(err, api.RetryError):
            cause = type(err.cause).__name__ if err.cause is not None else "deadline"
            return StoreUnavailable(url, f"GCS unreachable or overloaded, gave up after retries ({cause})")
        if isinstance(err, _TRANSIENT) or getattr(err, "code", None) == 408:
            return StoreUnavailable(url, f"GCS unreachable or overloaded ({type(err).__name__})")
        code = getattr(err, "code", None)
        return StoreError(url, f"GCS {operation} failed ({type(err).__name__}{f' {code}' if code else ''})")

    def _bucket_exists(self, name: str) -> bool:
        """GCS answers 404 alike for a missing object and a missing bucket (only the prose differs,
        and that is no API): a one-item listing tells them apart, once per store."""
        if not self._bucket_seen:
            try:
                next(iter(self._client.list_blobs(self.location.bucket, prefix=self.location.key(name), max_results=1,
                                                  timeout=self.timeout, retry=self.retry)), None)
            except api.NotFound:
                return False
            except _ERRORS as err:
                raise self._fail(err, "list", name) from err
            self._bucket_seen = True
        return True

    def _generation(self, version: str, name: str) -> int:
        try:
            return int(version)
        except ValueError:
            raise StoreConflict(f"{self.location.url}/{name}", f"{version!r} is not a GCS generation") from None

    def get(self, name: str) -> tuple[bytes, str] | None:
        blob = self._bucket.blob(self.location.key(name))
        try:
            data = blob.download_as_bytes(timeout=self.timeout, retry=self.retry)
        except api.NotFound as err:
            if self._bucket_exists(name):
                return None
            raise self._fail(err, "get", name) from err
        except _ERRORS as err:
            raise self._fail(err, "get", name) from err
        # one request: the generation comes with the bytes (X-Goog-Generation), not from a second read
        if blob.generation is None:
            raise StoreError(f"{self.location.url}/{name}", "GCS sent the object without its generation")
        self._bucket_seen = True
        return data, str(blob.generation)

    def _upload(self, operation: str, name: str, data: bytes, generation: int | None) -> str:
        # Conditional uploads are retried (they are idempotent), so if a first attempt lands but its
        # answer is lost, the retry answers 412: a create can report a conflict it caused itself.
        blob = self._bucket.blob(self.location.key(name))
        try:
            blob.upload_from_string(data, content_type="application/octet-stream", if_generation_match=generation,
                                    timeout=self.timeout, retry=self.retry)
        except _ERRORS as err:  # an upload's 404 can only be the bucket's
            raise self._fail(err, operation, name) from err
        self._bucket_seen = True
        return str(blob.generation)

    def create(self, name: str, data: bytes) -> str:
        return self._upload("create", name, data, 0)

    def replace(self, name: str, data: bytes, version: str) -> str:
        return self._upload("replace", name, data, self._generation(version, name))

    def put(self, name: str, data: bytes) -> None:
        self._upload("put", name, data, None)

    def delete(self, name: str, version: str | None = None) -> None:
        blob = self._bucket.blob(self.location.key(name))
        match = None if version is None else self._generation(version, name)
        try:
            blob.delete(if_generation_match=match, timeout=self.timeout, retry=self.retry)
        except api.NotFound as err:
            if self._bucket_exists(name):
                return  # already gone
            raise self._fail(err, "delete", name) from err
        except _ERRORS as err:
            raise self._fail(err, "delete", name) from err

    def list(self, prefix: str = "", after: str | None = None) -> list[str]:
        root = self.location.key("")
        # startOffset is inclusive (and ignored by some emulators): it saves pages, the filter decides
        try:
            blobs = self._client.list_blobs(self.location.bucket, prefix=root + prefix, page_size=self.page_size,
                                            start_offset=None if after is None else root + after,
                                            fields="items(name),nextPageToken", timeout=self.timeout, retry=self.retry)
            names = [blob.name[len(root):] for blob in blobs]
        except _ERRORS as err:
            raise self._fail(err, "list") from err
        self._bucket_seen = True
        return sorted(n for n in names if after is None or n > after)

    def close(self) -> None:
        self._client.close()
