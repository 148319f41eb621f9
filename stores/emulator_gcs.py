"""gcp-storage-emulator on 127.0.0.1 for tests and benchmarks of the `gs://` journal and reports.

The emulator's own request handler and in-memory `Storage`, served from a daemon thread on a free
port in this process (so it ends with the process even if `stop()` is never called); subprocesses
reach it over HTTP like any client. The store finds it only through `[journal] endpoint_url`, the
setting a user has (`config_toml()`); a loopback http endpoint means anonymous credentials.

gcp-storage-emulator (checked with 2026.7.19) ignores three parts of the GCS JSON API that the
`gs://` store relies on, so the handler here adds exactly those, as the API documents them:

* `ifGenerationMatch` on uploads and deletes: the emulator writes or deletes whatever the value.
  Here a mismatch answers 412 `conditionNotMet` before anything changes (0 means "no live object");
  a delete of an absent object stays the emulator's 404.
* `X-Goog-Generation` on media downloads, which GCS sends and google-cloud-storage reads the
  downloaded object's generation from: the emulator sends none.
* `maxResults` / `pageToken` / `startOffset` on objects.list: the emulator returns every object in
  one page, so paging would never be exercised.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from functools import partial
from http.server import HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import buckets
from gcp_storage_emulator.server import RequestHandler
from gcp_storage_emulator.storage import Storage

_LIST = re.compile(r"/storage/v1/b/(?P<bucket>[-.\w]+)/o")
_NOT_HELD = "At least one of the pre-conditions you specified did not hold."
_CONDITION_NOT_MET = {"error": {"code": 412, "message": _NOT_HELD,
                                "errors": [{"domain": "global", "reason": "conditionNotMet", "message": _NOT_HELD,
                                            "locationType": "header", "location": "If-Match"}]}}


class _PreconditionFailed(Exception):
    pass


class _Guarded:
    """The emulator's Storage, checking the current request's `ifGenerationMatch` before a write.

    Check and write are atomic because `HTTPServer` serves one request at a time."""

    def __init__(self, storage: Storage, handler: "_Handler") -> None:
        self._storage = storage
        self._handler = handler

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def _live(self, bucket_name: str, file_name: str) -> str | None:
        try:
            return str(self._storage.get_file_obj(bucket_name, file_name)["generation"])
        except NotFound:
            return None

    def create_file(self, bucket_name: str, file_name: str, content: bytes, file_obj: dict[str, Any],
                    file_id: Any = None) -> Any:
        # every upload type ends here (media, multipart, the last chunk of a resumable one, whose
        # session URL carries the initiating request's query); a missing bucket stays a 404
        want = self._handler.query("ifGenerationMatch")
        if want is not None and bucket_name in self._storage.buckets:
            if (self._live(bucket_name, file_name) or "0") != want:
                raise _PreconditionFailed
        return self._storage.create_file(bucket_name, file_name, content, file_obj, file_id)

    def delete_file(self, bucket_name: str, file_name: str) -> Any:
        want = self._handler.query("ifGenerationMatch")
        live = self._live(bucket_name, file_name)
        if want is not None and live is not None and live != want:
            raise _PreconditionFailed
        return self._storage.delete_file(bucket_name, file_name)

    def get_file_obj(self, bucket_name: str, file_name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self._storage.get_file_obj(bucket_name, file_name)
        self._handler.generation = str(obj["generation"])  # sent as X-Goog-Generation
        return obj


class _Handler(RequestHandler):
    """The emulator's handler: 412 for a failed precondition, X-Goog-Generation, paged listings."""

    def __init__(self, storage: Storage, *args: Any, **kwargs: Any) -> None:
        self.generation: str | None = None
        super().__init__(_Guarded(storage, self), *args, **kwargs)

    def query(self, key: str) -> str | None:
        values = parse_qs(urlsplit(self.path).query).get(key)
        return values[0] if values else None

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, handle: Any) -> None:
        self.generation = None
        try:
            handle(self)
        except _PreconditionFailed:  # raised before the emulator wrote anything or answered
            self._reply(412, _CONDITION_NOT_MET)

    def end_headers(self) -> None:
        if self.generation is not None:
            self.send_header("X-Goog-Generation", self.generation)
        super().end_headers()

    def do_GET(self) -> None:
        listing = _LIST.fullmatch(urlsplit(self.path).path)
        if listing and not (self.query("delimiter") or self.query("matchGlob") or self.query("softDeleted")):
            return self._list_page(listing["bucket"])
        self._serve(RequestHandler.do_GET)

    def do_POST(self) -> None:
        self._serve(RequestHandler.do_POST)

    def do_PUT(self) -> None:
        self._serve(RequestHandler.do_PUT)

    def do_DELETE(self) -> None:
        self._serve(RequestHandler.do_DELETE)

    def _list_page(self, bucket: str) -> None:
        """objects.list with paging; the page token is the name the next page starts at."""
        self.generation = None
        try:
            items, _ = self.storage.get_file_list(bucket, self.query("prefix"))
        except NotFound:
            return self._reply(404, {"error": {"code": 404, "message": "The specified bucket does not exist."}})
        start = max(self.query("startOffset") or "", self.query("pageToken") or "")  # both inclusive
        items = [obj for obj in items if obj["name"] >= start]
        size = int(self.query("maxResults") or 1000)
        page: dict[str, Any] = {"kind": "storage#objects", "items": items[:size]}
        if len(items) > size:
            page["nextPageToken"] = items[size]["name"]
        self._reply(200, page)


class GcsEmulator:
    """The emulator with the additions above, in memory, on 127.0.0.1 at a free port."""

    def __init__(self) -> None:
        # the emulator logs every 404 and every request; our 412s pass through its router as errors
        for name in ("gcp_storage_emulator", "api.object", "api.bucket"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self._storage = Storage(use_memory_fs=True)
        self._httpd = HTTPServer(("127.0.0.1", 0), partial(_Handler, self._storage))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="gcs-emulator",
                                        daemon=True)

    def start(self) -> "GcsEmulator":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "GcsEmulator":
        return self if self._thread.is_alive() else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        host, port = self._httpd.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def make_bucket(self, name: str) -> None:
        buckets.create_bucket(name, self._storage)

    def env(self) -> dict[str, str]:
        # Nothing is needed: the store reaches the emulator through endpoint_url, anonymously. A stray
        # STORAGE_EMULATOR_HOST is blanked: google-cloud-storage would send any client without an
        # endpoint there, without credentials.
        return {"STORAGE_EMULATOR_HOST": ""}

    def config(self) -> dict[str, str]:
        return {"endpoint_url": self.endpoint_url}

    def config_toml(self) -> str:
        return f'endpoint_url = "{self.endpoint_url}"\n'


def start() -> GcsEmulator:
    return GcsEmulator().start()
