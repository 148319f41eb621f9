"""Azurite (Microsoft's Azure Storage emulator, an npm package) on 127.0.0.1 for tests of the `az://` journal.

`ensure_azurite()` finds `azurite-blob` in the project's `.venv/npm` or on PATH, or installs it there
once with npm (a file lock keeps parallel test processes from installing twice). `start()` runs it
in memory on a free port, in its own process group, stopped by `stop()` or at interpreter exit
(POSIX only, like the journal's file lock).
Clients use the emulator's well-known development account: its key is published in Azurite's docs
and compiled into Azurite, so it is a public constant, not a secret.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
NPM_PREFIX = ROOT / ".venv" / "npm"
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ENV_NAME = "SWEEPER_AZURITE_CONNECTION_STRING"


def _installed() -> Path | None:
    exe = NPM_PREFIX / "node_modules" / ".bin" / "azurite-blob"
    if exe.exists():
        return exe
    found = shutil.which("azurite-blob")
    return Path(found) if found else None


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    with open(NPM_PREFIX / ".install.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@functools.cache  # one attempt per process: a failed install is not retried by every test module
def ensure_azurite() -> tuple[Path | None, str]:
    """(path of azurite-blob, "") or (None, why not). Installs azurite@3 into .venv/npm if needed."""
    if exe := _installed():
        return exe, ""
    npm = shutil.which("npm")
    if npm is None:
        return None, "Azurite is not installed and npm is not on PATH (install Node.js, or `npm i -g azurite`)"
    with _install_lock():
        if exe := _installed():  # another process installed it while we waited for the lock
            return exe, ""
        try:
            done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM_PREFIX),
                                   "azurite@3"], capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as err:
            return None, f"npm install azurite@3 failed: {err}"
    if done.returncode != 0 or not (exe := _installed()):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"npm install azurite@3 failed (exit {done.returncode}): {tail}"
    return exe, ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AzuriteEmulator:
    def __init__(self, exe: Path) -> None:
        self.exe = exe
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="azurite-")

    def start(self, wait_seconds: float = 20) -> "AzuriteEmulator":
        log = Path(self._dir.name) / "azurite.log"
        atexit.register(self.stop)  # a test run that dies early must not leave node listening
        for _ in range(3):  # the free port can be taken between our probe and Azurite's bind: try another
            self.port = _free_port()
            with open(log, "wb") as out:
                # its own process group, so stop() ends node and anything it spawned
                self._proc = subprocess.Popen(
                    [str(self.exe), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--inMemoryPersistence",
                     "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                    cwd=self._dir.name)  # its workspace folder defaults to the current one
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline and self._proc.poll() is None:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
                time.sleep(0.1)
            self.stop()
            if "EADDRINUSE" not in log.read_text(errors="replace"):
                break
        tail = (log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"Azurite did not answer on 127.0.0.1:{self.port} within {wait_seconds} s: {tail}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def __enter__(self) -> "AzuriteEmulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def connection_string(self, key: str = KEY) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
                f"BlobEndpoint={self.account_url};")

    def make_container(self, name: str) -> None:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient.from_connection_string(self.connection_string()) as service:
            with contextlib.suppress(ResourceExistsError):
                service.create_container(name)

    def env(self, env_name: str = ENV_NAME) -> dict[str, str]:
        return {env_name: self.connection_string()}

    def config(self, env_name: str = ENV_NAME) -> dict[str, str]:
        return {"connection_string_env": env_name}

    def config_toml(self, env_name: str = ENV_NAME) -> str:
        return f'connection_string_env = "{env_name}"\n'


def start() -> AzuriteEmulator:
    """A running Azurite; raises RuntimeError saying why when it cannot be installed or started."""
    exe, why = ensure_azurite()
    if exe is None:
        raise RuntimeError(why)
    return AzuriteEmulator(exe).start()
