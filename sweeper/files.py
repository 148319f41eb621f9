"""Files the sweeper writes (reports, plans, the journal) are private and never written through a link.

Each is created 0600 whatever the umask, through a new temporary file in the same folder that is then
renamed into place: a reader never sees half a file, and an existing symlink at the name, or planted
at a predictable temporary name, is refused instead of followed.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from sweeper.errors import UnsafePath

MODE = 0o600
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def refuse_link(path: Path | str, what: str = "file") -> None:
    """Raise UnsafePath when `path` is a symbolic link (dangling or not)."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise UnsafePath(f"{path}: is a symbolic link; the {what} is not written through it (give the real path)")
    except FileNotFoundError:
        return


def write_private(path: Path | str, data: bytes | str, what: str = "file") -> None:
    """Write `data` to `path` atomically, mode 0600, refusing a symlink at `path`."""
    path = Path(path)
    refuse_link(path, what)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, MODE)
    try:
        try:
            os.fchmod(fd, MODE)  # the umask may have taken bits away; never given any
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def create_private(path: Path | str, what: str = "file") -> None:
    """Make sure `path` exists as a regular file of mode 0600 (created if missing), never via a link."""
    refuse_link(path, what)
    fd = os.open(path, os.O_CREAT | os.O_RDWR | NOFOLLOW, MODE)
    try:
        os.fchmod(fd, MODE)
    finally:
        os.close(fd)
