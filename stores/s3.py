"""`s3://bucket/prefix`: the journal and reports in Amazon S3 (or anything speaking its API), via boto3.

Conditional writes are S3's own: PutObject with `If-None-Match: *` (create) or `If-Match: <ETag>`
(replace), DeleteObject with `If-Match`. Credentials come from the default chain (the job's OIDC
role, a profile, the environment); `[journal] endpoint_url` points at an emulator or a VPC endpoint.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError

from sweeper.store import Location, StoreConflict, StoreDenied, StoreError, StoreMissing, StoreUnavailable

_CONFLICT = frozenset(("PreconditionFailed", "ConditionalRequestConflict", "412", "409"))
_MISSING = frozenset(("NoSuchBucket",))
_DENIED = frozenset(("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                     "AllAccessDisabled"))
_ABSENT = frozenset(("NoSuchKey", "404", "NotFound"))
_PERMISSION = {"get": "s3:GetObject", "create": "s3:PutObject", "replace": "s3:PutObject",
               "put": "s3:PutObject", "delete": "s3:DeleteObject", "list": "s3:ListBucket"}


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


class S3Store:
    page_size = 1000

    def __init__(self, location: Location, settings: Any = None) -> None:
        self.location = location
        endpoint = getattr(settings, "endpoint_url", None)
        timeout = getattr(settings, "timeout_seconds", 30)
        session = boto3.session.Session(profile_name=getattr(settings, "profile", None))
        config = Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=timeout,
                        read_timeout=timeout,
                        s3={"addressing_style": "path"} if endpoint and _loopback(endpoint) else {})
        try:
            self._s3 = session.client("s3", endpoint_url=endpoint, config=config,
                                      region_name=getattr(settings, "region", None) or "us-east-1")
        except BotoCoreError as err:
            raise StoreError(location.url, f"cannot set up the S3 client: {err}") from err

    def _fail(self, err: Exception, operation: str, name: str) -> StoreError:
        url = f"{self.location.url}/{name}".rstrip("/") if name else self.location.url
        if isinstance(err, ClientError):
            code = str(err.response.get("Error", {}).get("Code", ""))
            status = str(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in _CONFLICT or status in ("412", "409"):
                return StoreConflict(url, "changed by another writer since it was read (conditional write lost)")
            if code in _MISSING:
                return StoreMissing(url, f"bucket {self.location.bucket!r} does not exist")
            if code in _DENIED or status == "403":
                return StoreDenied(url, f"access denied ({_PERMISSION[operation]} on {self.location.bucket})")
            if status.startswith("5") or code in ("SlowDown", "Throttling", "RequestTimeout"):
                return StoreUnavailable(url, f"S3 answered {code or status} after retries")
            return StoreError(url, f"S3 {operation} failed: {code or status}")
        if isinstance(err, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)):
            return StoreUnavailable(url, f"cannot reach S3 ({type(err).__name__})")
        return StoreUnavailable(url, f"S3 {operation} failed: {type(err).__name__}")

    def _call(self, operation: str, name: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(Bucket=self.location.bucket, **kwargs)
        except (ClientError, BotoCoreError) as err:
            raise self._fail(err, operation, name) from err

    def get(self, name: str) -> tuple[bytes, str] | None:
        try:
            answer = self._s3.get_object(Bucket=self.location.bucket, Key=self.location.key(name))
            return answer["Body"].read(), answer["ETag"]
        except ClientError as err:
            if str(err.response.get("Error", {}).get("Code", "")) in _ABSENT:
                return None
            raise self._fail(err, "get", name) from err
        except BotoCoreError as err:
            raise self._fail(err, "get", name) from err

    def create(self, name: str, data: bytes) -> str:
        return str(self._call("create", name, self._s3.put_object, Key=self.location.key(name), Body=data,
                              IfNoneMatch="*")["ETag"])

    def replace(self, name: str, data: bytes, version: str) -> str:
        try:
            return str(self._s3.put_object(Bucket=self.location.bucket, Key=self.location.key(name), Body=data,
                                           IfMatch=version)["ETag"])
        except ClientError as err:
            if str(err.response.get("Error", {}).get("Code", "")) in _ABSENT:  # S3: If-Match on no object
                raise StoreConflict(f"{self.location.url}/{name}", "deleted by another writer since it was read") from err
            raise self._fail(err, "replace", name) from err
        except BotoCoreError as err:
            raise self._fail(err, "replace", name) from err

    def put(self, name: str, data: bytes) -> None:
        self._call("put", name, self._s3.put_object, Key=self.location.key(name), Body=data)

    def delete(self, name: str, version: str | None = None) -> None:
        extra = {"IfMatch": version} if version else {}
        try:
            self._s3.delete_object(Bucket=self.location.bucket, Key=self.location.key(name), **extra)
        except ClientError as err:
            if str(err.response.get("Error", {}).get("Code", "")) in _ABSENT:
                return  # already gone
            raise self._fail(err, "delete", name) from err
        except BotoCoreError as err:
            raise self._fail(err, "delete", name) from err

    def list(self, prefix: str = "", after: str | None = None) -> list[str]:
        root = self.location.key("")
        kwargs: dict[str, Any] = {"Prefix": root + prefix, "MaxKeys": self.page_size}
        if after is not None:
            kwargs["StartAfter"] = root + after
        names: list[str] = []
        while True:
            page = self._call("list", "", self._s3.list_objects_v2, **kwargs)
            names += [o["Key"][len(root):] for o in page.get("Contents") or ()]
            if not page.get("IsTruncated"):
                return sorted(names)
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def close(self) -> None:
        self._s3.close()
