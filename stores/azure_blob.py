"""`az://container/prefix`: the journal and reports in Azure Blob Storage (or Azurite), via azure-storage-blob.

Conditional writes are the Blob service's own: Put Blob with `If-None-Match: *` (create) or
`If-Match: <ETag>` (replace), Delete Blob with `If-Match`; versions are ETags. Credentials come from
`[journal] azure_account_url` with DefaultAzureCredential (a managed identity, workload identity,
`az login`), or from `connection_string_env`, the *name* of an environment variable holding a
connection string (the value is a secret and appears in no message).
"""

from __future__ import annotations

import os
import re
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (AzureError, ClientAuthenticationError, HttpResponseError, ResourceExistsError,
                                   ResourceNotFoundError)
from azure.storage.blob import ContainerClient, ExponentialRetry

from sweeper.store import Location, StoreConflict, StoreDenied, StoreError, StoreMissing, StoreUnavailable

_CONFLICT = frozenset(("ConditionNotMet", "BlobAlreadyExists", "TargetConditionNotMet"))
_TRANSIENT = frozenset((408, 429, 500, 502, 503, 504))


def _one_line(text: str) -> str:
    """The first line of an SDK message, with query strings cut (a SAS token's `sig=` lives there)."""
    line = (text.strip().splitlines() or [""])[0]
    return re.sub(r"\?[^\s'\"]*", "?…", line)[:200]


class AzureBlobStore:
    page_size = 5000  # the service's maximum; tests set it small to exercise paging

    def __init__(self, location: Location, settings: Any = None) -> None:
        self.location = location
        self._credential: Any = None
        account_url = getattr(settings, "azure_account_url", None)
        env_name = getattr(settings, "connection_string_env", None)
        timeout = float(getattr(settings, "timeout_seconds", 30))
        # The SDK's default retry waits about 18 s, 24 s, 42 s per failed call; the journal would rather
        # fail soon with StoreUnavailable and let the run be retried: 1.5 s, 2.3 s, 3.4 s (+-0.5 s).
        options: dict[str, Any] = {
            # (the SDK annotates increment_base and random_jitter_range as int; its arithmetic takes floats)
            "retry_policy": ExponentialRetry(initial_backoff=0, increment_base=1.5,  # type: ignore[arg-type]
                                             random_jitter_range=0.5,  # type: ignore[arg-type]
                                             retry_total=int(getattr(settings, "retries", 3))),
            "connection_timeout": min(timeout, 10.0),  # a dead host should not eat the whole budget per try
            "read_timeout": timeout,
        }
        if bool(account_url) == bool(env_name):
            raise StoreError(location.url, "set exactly one of [journal] azure_account_url (Azure AD "
                                           "credentials) or connection_string_env (an environment variable's name)")
        try:
            if env_name:
                secret = os.environ.get(env_name)
                if not secret:
                    raise StoreError(location.url, f"connection_string_env names ${env_name}, which is not set")
                self._container = ContainerClient.from_connection_string(secret, location.bucket, **options)
            else:
                if not str(account_url).startswith("https://"):
                    # azure-core refuses bearer tokens over plain HTTP; say so now, not as "unavailable"
                    raise StoreError(location.url, f"azure_account_url {account_url} must be https:// for Azure "
                                                   "AD credentials (for Azurite use connection_string_env)")
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
                self._container = ContainerClient(str(account_url), location.bucket, credential=self._credential,
                                                  **options)
        except (ValueError, AzureError) as err:
            # from_connection_string's ValueError does not quote the string, but say nothing of it anyway
            raise StoreError(location.url, f"cannot set up the Azure Blob client ({type(err).__name__}); "
                                           "check the connection string or account URL") from err

    def _fail(self, err: AzureError, doing: str, name: str = "") -> StoreError:
        url = f"{self.location.url}/{name}".rstrip("/") if name else self.location.url
        status = getattr(err, "status_code", None)
        code = getattr(err, "error_code", None) or ""
        code = str(getattr(code, "value", code))  # a StorageErrorCode enum member, or a plain string
        if isinstance(err, ClientAuthenticationError) or status == 403:
            why = code or _one_line(err.message or str(err))  # e.g. "DefaultAzureCredential failed to ..."
            return StoreDenied(url, f"access denied while {doing} in container {self.location.bucket!r} ({why})")
        if code == "ContainerNotFound":
            return StoreMissing(url, f"container {self.location.bucket!r} does not exist")
        if code in _CONFLICT or status == 412:
            return StoreConflict(url, "changed by another writer since it was read (conditional write lost)")
        if not isinstance(err, HttpResponseError) or status in _TRANSIENT:
            # ServiceRequestError (refused, DNS, connect timeout), ServiceResponseError (read timeout), 5xx
            why = f"{code or 'HTTP'} {status}" if status else f"{type(err).__name__}: {_one_line(str(err))}"
            return StoreUnavailable(url, f"Azure Blob Storage unreachable while {doing}, after retries ({why})")
        return StoreError(url, f"{doing} failed: HTTP {status} {code}".rstrip())

    def get(self, name: str) -> tuple[bytes, str] | None:
        try:
            download = self._container.download_blob(self.location.key(name))
            return download.readall(), download.properties.etag
        except ResourceNotFoundError as err:
            if getattr(err, "error_code", None) == "BlobNotFound":
                return None
            raise self._fail(err, "reading", name) from err
        except AzureError as err:
            raise self._fail(err, "reading", name) from err

    def create(self, name: str, data: bytes) -> str:
        try:  # overwrite=False is Put Blob with If-None-Match: *; an existing blob answers 409 BlobAlreadyExists
            blob = self._container.get_blob_client(self.location.key(name))
            return str(blob.upload_blob(data, overwrite=False)["etag"])
        except ResourceExistsError as err:
            if getattr(err, "error_code", None) == "BlobAlreadyExists":
                raise StoreConflict(f"{self.location.url}/{name}", "exists already (created by another writer)") from err
            raise self._fail(err, "creating", name) from err
        except AzureError as err:
            raise self._fail(err, "creating", name) from err

    def replace(self, name: str, data: bytes, version: str) -> str:
        try:
            blob = self._container.get_blob_client(self.location.key(name))
            return str(blob.upload_blob(data, overwrite=True, etag=version,
                                        match_condition=MatchConditions.IfNotModified)["etag"])
        except ResourceNotFoundError as err:
            if getattr(err, "error_code", None) == "BlobNotFound":  # If-Match on a deleted blob
                raise StoreConflict(f"{self.location.url}/{name}", "deleted by another writer since it was read") from err
            raise self._fail(err, "replacing", name) from err
        except AzureError as err:
            raise self._fail(err, "replacing", name) from err

    def put(self, name: str, data: bytes) -> None:
        try:
            self._container.get_blob_client(self.location.key(name)).upload_blob(data, overwrite=True)
        except AzureError as err:
            raise self._fail(err, "writing", name) from err

    def delete(self, name: str, version: str | None = None) -> None:
        condition: dict[str, Any] = \
            {"etag": version, "match_condition": MatchConditions.IfNotModified} if version else {}
        try:
            self._container.delete_blob(self.location.key(name), **condition)
        except ResourceNotFoundError as err:
            if getattr(err, "error_code", None) != "BlobNotFound":  # already gone is fine; a missing container is not
                raise self._fail(err, "deleting", name) from err
        except AzureError as err:
            raise self._fail(err, "deleting", name) from err

    def list(self, prefix: str = "", after: str | None = None) -> list[str]:
        root = self.location.key("")
        try:  # the pager follows every continuation token (NextMarker) itself
            keys = list(self._container.list_blob_names(name_starts_with=root + prefix,
                                                        results_per_page=self.page_size))
        except AzureError as err:
            raise self._fail(err, "listing") from err
        names = sorted(key[len(root):] for key in keys)
        return [n for n in names if after is None or n > after]

    def close(self) -> None:
        self._container.close()
        if self._credential is not None:
            self._credential.close()
