"""moto's S3 server on 127.0.0.1 for tests and benchmarks of the `s3://` journal and reports.

moto's WSGI app in a werkzeug server thread of this process (subprocesses reach it over HTTP like any
client), behind a thin layer that counts requests by method, with ordinary dummy credentials in
`env()` and the `[journal]` keys that point at it in `config()` / `config_toml()`.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Callable, Iterable

REGION = "us-east-1"
ENV = {"AWS_ACCESS_KEY_ID": "AKIAS3EMULATOR000000", "AWS_SECRET_ACCESS_KEY": "s3-emulator-secret-not-real",
       "AWS_DEFAULT_REGION": REGION}


class S3Emulator:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()  # by HTTP method
        self._lock = threading.Lock()
        self._server: Any = None

    def start(self) -> "S3Emulator":
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        from providers.emulator import serve_wsgi

        app = DomainDispatcherApplication(create_backend_app)

        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self._lock:
                self.requests[environ.get("REQUEST_METHOD", "?")] += 1
            body: Iterable[bytes] = app(environ, start_response)
            return body

        self._server = serve_wsgi(counted, "moto-s3")
        return self

    def stop(self) -> None:
        from providers.emulator import stop_wsgi

        if self._server is not None:
            stop_wsgi(self._server)
            self._server = None

    def __enter__(self) -> "S3Emulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"])

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def env(self) -> dict[str, str]:
        return dict(ENV)

    def config(self) -> dict[str, str]:
        return {"endpoint_url": self.endpoint_url, "region": REGION}

    def config_toml(self) -> str:
        return f'endpoint_url = "{self.endpoint_url}"\nregion = "{REGION}"\n'


def start() -> S3Emulator:
    return S3Emulator().start()
