"""The OS accounts PostgreSQL servers run as.

PostgreSQL refuses to start as root. When Flux runs as root, the platform's own cluster (catalog
+ shared database) runs as `FLUX_PG_OS_USER` (default: the `postgres` account, else `nobody`),
and each dedicated cluster runs as an account of its own, `flux-<hash>-<home tag>`, created
with `useradd --system` (no home, no shell) and removed with the project. A cluster's data and
socket folders are 0700 and owned by its account, so no other cluster's server (and nothing a
database session makes it run) can read them or connect through the socket. An account's
comment names its data folder; accounts whose folder's parent is gone (a Flux home deleted
without deleting its projects, e.g. by a test run) are removed when the next one is created,
so the small range of system uids does not run out.

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
_COMMENT = "Flux PostgreSQL "  # + the data folder the account exists for


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


def _comment(data_dir: Path) -> str:
    """The account's comment: `_COMMENT` + the data folder, unless the path cannot be stored
    in /etc/passwd as is (then the account is never taken for an orphan)."""
    folder = str(data_dir.resolve())
    return _COMMENT.strip() if set(folder) & {":", ",", "=", "\n"} else _COMMENT + folder


def _remove_orphaned_accounts() -> None:
    """userdel the accounts this module created for clusters whose folder is gone: the data
    folder's parent, which exists before the account is created (a cluster being copied has
    no data folder yet). userdel refuses, and the account stays, while a process runs as it."""
    for entry in pwd.getpwall():
        folder = entry.pw_gecos.removeprefix(_COMMENT)
        if entry.pw_gecos.startswith(_COMMENT) and not Path(folder).parent.exists():
            _run_account_tool(["userdel", entry.pw_name])


def ensure_account(name: str, data_dir: Path) -> OsUser:
    """The unprivileged system account `name` for the cluster at `data_dir`, created if
    missing; ourselves when not root."""
    if os.geteuid() != 0:
        return _myself()
    with _ACCOUNTS:
        user = _entry(name)
        if user is None:
            _remove_orphaned_accounts()
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
                    _comment(data_dir),
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
