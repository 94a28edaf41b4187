"""One PostgreSQL cluster on disk: create (from a template copy), start, stop, status.

The server runs as a child process of ours (so a supervisor can watch it) in its own session
(so a terminal's Ctrl-C reaches Flux first and Flux shuts Postgres down cleanly), as the
cluster's OS account (`flux.postgres.osuser`).

Authentication (SPEC §11): every start rewrites `pg_hba.conf` so that every role, on the
private unix socket (folder mode 0700) and on loopback TCP, must present a SCRAM-SHA-256
password — no `trust`, no `peer`. The superuser's password is random per cluster and lives
only in `<data_dir>.pgpass` (a libpq password file, 0600, outside the data folder, owned by
the account Flux runs as); `socket_conninfo()` points libpq at it. A template copy starts
with the template's password (known only to Flux) and gets its own as soon as its server is up;
a cluster with no password file (it was lost, or an older Flux created the cluster with local
trust) gets a new password through single-user mode before its server accepts any connection.
The server log (`<data_dir>.log`) is created and kept 0600: it can hold SQL.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from flux.errors import FluxError
from flux.postgres.binaries import find_bin_dir, server_version
from flux.postgres.files import append_private, write_private
from flux.postgres.osuser import OsUser, ensure_account, hand_over, remove_account, server_user

SUPERUSER = "postgres"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for "/.s.PGSQL.NNNNN"
HBA_CONF = """\
# Written by Flux at every start (SPEC §11): every role authenticates with a SCRAM-SHA-256
# password, on the unix socket and on every TCP address. No trust, no peer.
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""
_TEMPLATE_MARK = "# flux: the template's password, replaced at the first start\n"


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


def _passfile_text(password: str, *, template: bool = False) -> str:
    """A libpq password file naming the superuser (each cluster has a file of its own)."""
    return (_TEMPLATE_MARK if template else "") + f"*:*:*:{SUPERUSER}:{password}\n"


def _template_passfile(template: Path) -> Path:
    return template.with_name(template.name + ".pgpass")


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
    # "-scram": templates of an older Flux had local trust and no superuser password
    target = templates_root / f"pg-{server_version(bin_dir)}-scram"
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
        password = secrets.token_urlsafe(32)
        pwfile = templates_root / f".password-{os.getpid()}"
        write_private(pwfile, password + "\n", user)
        try:
            result = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(staging),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                **user.popen_kwargs(),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise ClusterError(f"initdb failed: {result.stderr.strip()[-500:]}")
        with open(staging / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# flux defaults\nlisten_addresses = '127.0.0.1'\n"
                "unix_socket_permissions = 0700\nlogging_collector = off\n"
                "password_encryption = 'scram-sha-256'\n"
            )
        write_private(staging / "pg_hba.conf", HBA_CONF, user)
        write_private(_template_passfile(target), _passfile_text(password, template=True))
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
    # The OS account of its own the server runs as when Flux is root (created on demand,
    # removed by `destroy()`); None = the platform's account (`osuser.server_user()`).
    os_account: str | None = None

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def passfile(self) -> Path:
        """The libpq password file holding the superuser's password (0600, Flux's account)."""
        return self.data_dir.parent / f"{self.data_dir.name}.pgpass"

    def os_user(self) -> OsUser:
        """The account the server runs as (created first if it is a missing own account)."""
        return ensure_account(self.os_account, self.data_dir) if self.os_account else server_user()

    # ----------------------------------------------------------------- creation
    def exists(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def create(self, templates_root: Path) -> None:
        """Create the data folder as a copy of the version's template (initdb only once)."""
        if self.exists():
            return
        template = template_dir(templates_root)
        user = self.os_user()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = self.data_dir.with_name(self.data_dir.name + ".creating")
        shutil.rmtree(staging, ignore_errors=True)
        subprocess.run(["cp", "-a", str(template), str(staging)], check=True, timeout=120)
        _chown_tree(staging, user)
        os.chmod(staging, 0o700)
        try:  # a new cluster: its first start replaces the template's password
            write_private(self.passfile, _template_passfile(template).read_text())
        except FileNotFoundError:  # a template made by an older Flux had no password at all
            self.passfile.unlink(missing_ok=True)
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
        if self.running_pid() and not self.passfile.exists():
            self.stop()  # started by an older Flux with local trust: restart it with SCRAM
        if self.running_pid():
            self._wait_ready(timeout)
            return
        user = self.os_user()
        if os.geteuid() == 0 and self.data_dir.stat().st_uid != user.uid:
            _chown_tree(self.data_dir, user)  # an older Flux ran every cluster as one account
        hand_over(self.data_dir, user)
        write_private(self.data_dir / "pg_hba.conf", HBA_CONF, user)
        if not self.passfile.exists():
            self._set_superuser_password(user)
        hand_over(self.socket_dir, user)
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
        log = append_private(self.log_file)
        try:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(self.data_dir),
                **user.popen_kwargs(),
            )
        finally:
            os.close(log)
        self._wait_ready(timeout)
        if self.passfile.read_text().startswith(_TEMPLATE_MARK):
            self._replace_template_password()

    def _replace_template_password(self) -> None:
        """Give a template copy's superuser a password of its own (the clear password never
        reaches the server: libpq computes the SCRAM verifier here)."""
        password = secrets.token_urlsafe(32)
        with psycopg.connect(self.socket_conninfo(), autocommit=True) as conn:
            verifier = conn.pgconn.encrypt_password(
                password.encode(), SUPERUSER.encode(), b"scram-sha-256"
            )
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(verifier.decode())
                )
            )
        write_private(self.passfile, _passfile_text(password))

    def _set_superuser_password(self, user: OsUser) -> None:
        """Give the superuser a new random password (in single-user mode, so no connection is
        ever accepted without one), then record it in the password file. If anything fails in
        between, the next start simply sets another one."""
        password = secrets.token_urlsafe(32)
        statement = f"ALTER ROLE {SUPERUSER} PASSWORD '{password}'\n"
        result = subprocess.run(
            [
                str(find_bin_dir() / "postgres"),
                "--single",
                "-D",
                str(self.data_dir),
                "-c",
                "log_min_error_statement=panic",  # never echo the statement (it holds the password)
                "postgres",
            ],
            input=statement,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(self.data_dir),
            **user.popen_kwargs(),
        )
        failed = [line for line in result.stderr.splitlines() if "ERROR" in line or "FATAL" in line]
        if result.returncode != 0 or failed:
            raise ClusterError(
                f"could not set the superuser password of {self.data_dir}",
                hint=(failed or [f"single-user mode exited with code {result.returncode}"])[0],
            )
        write_private(self.passfile, _passfile_text(password))

    def superuser_password(self) -> str | None:
        """The superuser's password from the password file (None before the first start)."""
        try:
            line = self.passfile.read_text().strip().splitlines()[-1]
        except (OSError, IndexError):
            return None
        return line.split(":", 4)[4] if line.count(":") >= 4 else None

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
        self.passfile.unlink(missing_ok=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        if self.os_account:
            remove_account(self.os_account)

    # ----------------------------------------------------------------- connecting
    def socket_conninfo(
        self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None
    ) -> str:
        """libpq conninfo over the private unix socket. SCRAM always: with `password`, that
        one; without, libpq looks the role up in the cluster's password file (which knows the
        superuser only)."""
        secret = {"password": password} if password is not None else {"passfile": self.passfile}
        return make_conninfo(
            host=str(self.socket_dir), port=self.port, dbname=dbname, user=user, **secret
        )

    def tcp_url(self, dbname: str, user: str, password: str) -> str:
        from urllib.parse import quote

        return (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname, safe='')}"
        )
