"""One platform per `$FLUX_HOME` (SPEC §11.6): an exclusive `flock` on `$FLUX_HOME/flux.lock`.

`flux up` takes the lock before it touches anything else in the home and holds it for the
life of its process (the kernel drops it when the process dies, however it dies). The holder
writes its pid and ports into the file, so a second `flux up` can name the running instance.

The file is never deleted: unlinking a lock file lets two processes lock two different
inodes under the same name. Its content is only read while somebody holds the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from flux.errors import FluxError

LOCK_NAME = "flux.lock"


class HomeBusy(FluxError):
    """Another `flux up` holds the home."""


class HomeLock:
    """The held lock of one home; `release()` (or process exit) lets it go."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, home: Path) -> HomeLock:
        """Lock `home` (created 0700 if missing) or raise HomeBusy naming the holder."""
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = home / LOCK_NAME
        # no O_TRUNC: opening must not wipe the holder's pid and ports before we know we own it
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise HomeBusy(
                f"Flux is already running on {home} ({describe_holder(holder)}); "
                "stop it first, or use another --home",
                code="home_busy",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    def record(self, *, api_port: int, gateway_port: int) -> None:
        """Write this process's pid and ports into the lock file (read by a refused peer)."""
        data = json.dumps({"pid": os.getpid(), "apiPort": api_port, "gatewayPort": gateway_port})
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data.encode() + b"\n", 0)
        os.fsync(self._fd)

    def __enter__(self) -> HomeLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._fd >= 0:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = -1


def _read_holder(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def describe_holder(holder: dict) -> str:
    """'pid 123, api port 8080, gateway port 8000' (unknown parts say so: it may be starting)."""

    def part(label: str, key: str) -> str:
        value = holder.get(key)
        return f"{label} {value}" if isinstance(value, int) else f"{label} unknown"

    return ", ".join(
        (part("pid", "pid"), part("api port", "apiPort"), part("gateway port", "gatewayPort"))
    )
