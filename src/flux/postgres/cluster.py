"""One PostgreSQL cluster on disk: create (from a template copy), start, stop, status.

The server runs as a child process of ours (so a supervisor can watch it) in its own session
(so a terminal's Ctrl-C reaches Flux first and Flux shuts Postgres down cleanly). Local
connections go through a private unix-socket folder (mode 0700, trust); TCP on loopback needs
a password (scram-sha-256).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flux.errors import FluxError
from flux.postgres.binaries import find_bin_dir, server_version
from flux.postgres.osuser import OsUser, hand_over, server_user

SUPERUSER = "postgres"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for "/.s.PGSQL.NNNNN"


class ClusterError(FluxError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, code="cluster_error", hint=hint, status=500)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _program(pid: int) -> bytes | None:
    """The program name of process `pid`, or None when there is none to speak of: no such
    process, or one that has exited and not been reaped (a zombie has no command line)."""
    if pid <= 0 or not _pid_alive(pid):
        return None
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return None
    return os.path.basename(argv0) or None


def _is_postgres(program: bytes | None) -> bool:
    return program is not None and program.startswith(b"postgres")


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _chown_tree(root: Path, user: OsUser) -> None:
    if os.geteuid() != 0:
        return
    os.chown(root, user.uid, user.gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), user.uid, user.gid)


def template_dir(templates_root: Path) -> Path:
    """A pre-initialised cluster for this server version, created once (under a lock)."""
    bin_dir = find_bin_dir()
    templates_root = templates_root.resolve()
    target = templates_root / f"pg-{server_version(bin_dir)}"
    if (target / "PG_VERSION").exists():
        return target
    user = server_user()
    with _file_lock(templates_root / ".lock"):
        if (target / "PG_VERSION").exists():
            return target
        hand_over(templates_root, user)
        staging = templates_root / f".staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        hand_over(staging, user)
        result = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(staging),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            **user.popen_kwargs(),
        )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise ClusterError(f"initdb failed: {result.stderr.strip()[-500:]}")
        with open(staging / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# flux defaults\nlisten_addresses = '127.0.0.1'\n"
                "unix_socket_permissions = 0700\nlogging_collector = off\n"
                "password_encryption = 'scram-sha-256'\n"
            )
        os.rename(staging, target)
    return target


def socket_dir_for(data_dir: Path, run_root: Path) -> Path:
    """A short private folder for the cluster's unix socket (sun_path is tiny)."""
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:10]
    candidate = run_root / digest
    if len(str(candidate)) + 16 <= _SOCKET_PATH_MAX:
        return candidate
    return Path(tempfile.gettempdir()) / f"flux-{digest}"


@dataclass
class Cluster:
    """A cluster's data folder plus where it listens. Cheap to construct; touches disk lazily."""

    data_dir: Path
    port: int
    socket_dir: Path
    host: str = "127.0.0.1"
    settings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    # ----------------------------------------------------------------- creation
    def exists(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def create(self, templates_root: Path) -> None:
        """Create the data folder as a copy of the version's template (initdb only once)."""
        if self.exists():
            return
        template = template_dir(templates_root)
        user = server_user()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = self.data_dir.with_name(self.data_dir.name + ".creating")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(["cp", "-a", str(template), str(staging)], check=True, timeout=120)
        _chown_tree(staging, user)
        os.chmod(staging, 0o700)
        os.rename(staging, self.data_dir)
        hand_over(self.data_dir, user)

    # ----------------------------------------------------------------- status
    def _pidfile(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def _read_pidfile(self) -> tuple[int, str] | None:
        """(pid, status) of postmaster.pid, read at once so both describe the same server."""
        try:
            lines = self._pidfile().read_text().splitlines()
        except OSError:
            return None
        try:
            pid = int(lines[0])
        except (IndexError, ValueError):
            return (-1, "")
        return (pid, lines[7].strip() if len(lines) >= 8 else "")

    def running_pid(self) -> int | None:
        """The postmaster's pid if it runs.

        A postmaster.pid left by a crash is reported as not running but kept: PostgreSQL
        removes it itself on the next start after checking that no orphaned backend still
        holds the old shared memory (deleting it would skip that interlock). Only a file
        naming a live process that is not PostgreSQL (a reused pid) is removed, since the
        server would refuse to start over it.
        """
        recorded = self._read_pidfile()
        if recorded is None:
            return None
        pid = recorded[0]
        program = _program(pid)
        if program is None:
            return None
        if _is_postgres(program):
            return pid
        self._pidfile().unlink(missing_ok=True)  # the pid now belongs to another program
        return None

    def is_ready(self) -> bool:
        """A live postmaster has recorded that it accepts connections."""
        recorded = self._read_pidfile()
        if recorded is None:
            return False
        pid, status = recorded
        return status == "ready" and _is_postgres(_program(pid))

    def status(self) -> str:
        if not self.data_dir.exists():
            return "missing"
        if not self.exists():
            return "corrupted"
        return "running" if self.running_pid() else "stopped"

    # ----------------------------------------------------------------- start / stop
    def start(self, timeout: float = 30.0) -> None:
        """Start the server (no-op if it already runs) and wait until it accepts connections."""
        if not self.exists():
            raise ClusterError(f"no cluster at {self.data_dir}", hint="create it first")
        if self.running_pid():
            self._wait_ready(timeout)
            return
        user = server_user()
        hand_over(self.socket_dir, user)
        os.chmod(self.socket_dir, 0o700)
        bin_dir = find_bin_dir()
        args = [
            str(bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-c",
            f"listen_addresses={self.host}",
        ]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(self.data_dir),
                **user.popen_kwargs(),
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ClusterError(
                    f"PostgreSQL at {self.data_dir} exited during start-up "
                    f"(code {self.process.returncode})",
                    hint=f"see {self.log_file}: {self._log_tail()}",
                )
            if self.is_ready():
                return
            time.sleep(0.01)
        raise ClusterError(
            f"PostgreSQL at {self.data_dir} did not become ready in {timeout}s",
            hint=f"see {self.log_file}",
        )

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace").strip().splitlines()[-1]
        except (OSError, IndexError):
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT), escalating to immediate (SIGQUIT) then SIGKILL."""
        pid = self.running_pid()
        if pid is None:
            self._reap()
            return
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self._reap()
                if not _pid_alive(pid):
                    break
                time.sleep(0.02)
            if not _pid_alive(pid):
                break
        self._reap()

    def _reap(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    # ----------------------------------------------------------------- connecting
    def socket_conninfo(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        """libpq conninfo over the private unix socket (trust; only our OS user reaches it)."""
        return f"host={self.socket_dir} port={self.port} dbname={dbname} user={user}"

    def tcp_url(self, dbname: str, user: str, password: str) -> str:
        from urllib.parse import quote

        return (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname, safe='')}"
        )
