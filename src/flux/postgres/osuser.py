"""Running PostgreSQL as an unprivileged OS user when Flux itself runs as root.

Postgres refuses to start as root. When the caller is root we run initdb and the server as
`FLUX_PG_OS_USER` (default: the `postgres` account, else `nobody`), own the data folders by
that user, and make sure the folders above the state directory are searchable (x only) by it.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OsUser:
    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict:
        if os.geteuid() != 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def server_user() -> OsUser:
    """The account Postgres runs as: ourselves, or an unprivileged one when we are root."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    wanted = os.environ.get("FLUX_PG_OS_USER")
    for name in [wanted] if wanted else ["postgres", "nobody"]:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    raise RuntimeError(
        "running as root and no unprivileged OS user found for PostgreSQL "
        "(create a 'postgres' user or set FLUX_PG_OS_USER)"
    )


def hand_over(path: Path, user: OsUser) -> None:
    """Make `path` (created if missing) owned by `user` and reachable from `/` by it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.geteuid() != 0:
        return
    os.chown(path, user.uid, user.gid)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)
