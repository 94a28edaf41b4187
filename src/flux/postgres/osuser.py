"""The OS accounts PostgreSQL servers run as.

PostgreSQL refuses to start as root. When Flux runs as root, the platform's own cluster (catalog
+ shared database) runs as `FLUX_PG_OS_USER` (default: the `postgres` account, else `nobody`),
and each dedicated cluster runs as an account of its own, `flux-<hash>-<home tag>`, created
with `useradd --system` (no home, no shell) and removed with the project. A cluster's data and
socket folders are 0700 and owned by its account, so no other cluster's server (and nothing a
database session makes it run) can read them or connect through the socket.

When Flux does not run as root it cannot create accounts: every cluster runs as the invoking
user. The separation then rests on the database side (SPEC §11): no tenant ever holds a
superuser, so no tenant can run programs or touch server files, and every cluster demands a
SCRAM password for every role on every socket and address.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_ACCOUNTS = threading.Lock()  # useradd/userdel lock /etc/passwd; one at a time per process


@dataclass(frozen=True)
class OsUser:
    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict:
        if os.geteuid() != 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _entry(name: str) -> OsUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _myself() -> OsUser:
    entry = pwd.getpwuid(os.geteuid())
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def server_user() -> OsUser:
    """The account the platform's own cluster runs as: ourselves, or an unprivileged one when
    we are root."""
    if os.geteuid() != 0:
        return _myself()
    wanted = os.environ.get("FLUX_PG_OS_USER")
    for name in [wanted] if wanted else ["postgres", "nobody"]:
        user = _entry(name)
        if user is not None and user.uid != 0:
            return user
    raise RuntimeError(
        "running as root and no unprivileged OS user found for PostgreSQL "
        "(create a 'postgres' user or set FLUX_PG_OS_USER)"
    )


def dedicated_account(project_hash: str, home: Path) -> str:
    """The account name of a dedicated cluster: the project hash plus a tag of the Flux home
    (two homes on one machine may hold projects with the same hash)."""
    tag = hashlib.sha1(str(home.resolve()).encode()).hexdigest()[:4]
    return f"flux-{project_hash}-{tag}"


def _run_account_tool(argv: list[str]) -> subprocess.CompletedProcess:
    """Run useradd/userdel, retrying while another process holds the passwd lock (exit 10)."""
    for _ in range(50):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if result.returncode != 10:
            return result
        time.sleep(0.05)
    return result


def ensure_account(name: str) -> OsUser:
    """The unprivileged system account `name`, created if missing; ourselves when not root."""
    if os.geteuid() != 0:
        return _myself()
    with _ACCOUNTS:
        user = _entry(name)
        if user is None:
            result = _run_account_tool(
                [
                    "useradd",
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--comment",
                    "Flux dedicated PostgreSQL",
                    name,
                ]
            )
            user = _entry(name)
            if user is None:
                raise RuntimeError(f"could not create OS user {name}: {result.stderr.strip()}")
    if user.uid == 0:
        raise RuntimeError(f"OS user {name} is root; refusing to run PostgreSQL as it")
    return user


def remove_account(name: str) -> None:
    """Delete the system account `name` (and its group) if it exists and we are root."""
    if os.geteuid() != 0:
        return
    with _ACCOUNTS:
        if _entry(name) is not None:
            _run_account_tool(["userdel", name])


def hand_over(path: Path, user: OsUser) -> None:
    """Make `path` (created if missing) owned by `user`, mode 0700, and reachable from `/` by
    it (parents get the search bit only: nothing in them becomes listable or readable)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.geteuid() != 0:
        os.chmod(path, 0o700)
        return
    os.chown(path, user.uid, user.gid)
    os.chmod(path, 0o700)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)
