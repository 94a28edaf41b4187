"""Files only their owner may read: atomic 0600 writes and 0600 append-only logs.

Server logs hold SQL and password files hold secrets (SPEC §11); both are created 0600, and a
log an older Flux created wider is narrowed when it is opened again.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flux.postgres.osuser import OsUser


def write_private(path: Path, text: str, user: OsUser | None = None) -> None:
    """Replace `path` atomically with `text`, mode 0600, owned by `user` (None: by us)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        if user is not None and os.geteuid() == 0:
            os.fchown(fd, user.uid, user.gid)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_private(path: Path) -> int:
    """An append descriptor on `path`, created 0600 and narrowed to 0600 if it was wider."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return fd
