"""The `local` runner: supervises named processes on this host (SPEC §6 "v1 dedicated" step 5).

A unit is either a plain child process (`ProcessSpec`: argv, env, cwd, log file (kept 0600),
OS user, readiness probe) or a PostgreSQL cluster (`flux.postgres.Cluster`, started through its own
`start()`). Starting waits until the unit is ready. A background thread watches every unit that
should run; a crashed one is restarted with exponential back-off (`backoff_initial` doubling up
to `backoff_max`; the count resets once a unit has stayed up `stable_after` seconds). Stopping
sends SIGTERM (or the spec's signal) to the process group and SIGKILL after a timeout.

Plain children record `<run_dir>/<name>.pid` (pid + kernel start time) so an orphan left by a
supervisor that died is found and stopped before the name is started again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from flux.errors import FluxError
from flux.postgres import Cluster
from flux.postgres.files import append_private
from flux.postgres.osuser import OsUser

log = logging.getLogger(__name__)

RUNNING, STARTING, BACKOFF, STOPPED, UNKNOWN = (
    "running",
    "starting",
    "backoff",
    "stopped",
    "unknown",
)


class RunnerError(FluxError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, code="runner_error", hint=hint, status=500)


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one plain child process. `env` is the full environment (None = inherit)."""

    argv: Sequence[str]
    env: Mapping[str, str] | None = field(default=None, repr=False)  # may hold secrets
    cwd: Path | None = None
    log_file: Path | None = None
    run_as: OsUser | None = None
    ready: Callable[[], bool] | None = field(default=None, compare=False)
    ready_timeout: float = 15.0
    stop_signal: int = signal.SIGTERM


@dataclass(frozen=True)
class ProcessInfo:
    """What the runner knows about one unit (no secrets)."""

    name: str
    state: str
    pid: int | None
    restarts: int
    last_exit_code: int | None
    failures: int = 0  # consecutive crashes (reset once it stays up `stable_after` seconds)


# ---------------------------------------------------------------------- units
def _start_time(pid: int) -> str | None:
    """The kernel start time of `pid` (field 22 of /proc/<pid>/stat), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields_after_comm = stat.rsplit(")", 1)[1].split()
    return fields_after_comm[19] if len(fields_after_comm) > 19 else None


def _log_tail(path: Path | None, lines: int = 3) -> str:
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by `pid` (every child runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _stop_recorded(name: str, pidfile: Path) -> None:
    """Stop a process recorded by an earlier supervisor (same pid *and* start time), e.g. one
    left running when `flux up` was killed, then drop the record."""
    try:
        pid_text, _, started = pidfile.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return
    if started and _start_time(pid) == started:
        log.warning("stopping orphaned process %s (pid %s)", name, pid)
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while _start_time(pid) == started and time.monotonic() < deadline:
            time.sleep(0.02)
    pidfile.unlink(missing_ok=True)


class _Child:
    """A plain child process in its own session (so signals reach its whole group)."""

    def __init__(self, name: str, spec: ProcessSpec, pidfile: Path) -> None:
        self.name = name
        self.spec = spec
        self.pidfile = pidfile
        self.process: subprocess.Popen | None = None

    def launch(self) -> None:
        self.spawn()
        self.wait_ready()

    def spawn(self) -> None:
        _stop_recorded(self.name, self.pidfile)
        spec = self.spec
        if spec.log_file is not None:
            spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        kwargs = spec.run_as.popen_kwargs() if spec.run_as else {}
        if spec.log_file is None:
            out = os.open(os.devnull, os.O_WRONLY)
        else:
            out = append_private(spec.log_file)  # logs may hold SQL and request data
        try:
            self.process = subprocess.Popen(
                list(spec.argv),
                env=dict(spec.env) if spec.env is not None else None,
                cwd=str(spec.cwd) if spec.cwd else None,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )
        finally:
            os.close(out)
        pid = self.process.pid
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.write_text(f"{pid} {_start_time(pid) or ''}\n")

    def wait_ready(self) -> None:
        """Poll the readiness probe; raise if the process exits or the timeout passes (the
        caller terminates it)."""
        process = self.process
        if process is None or self.spec.ready is None:
            return
        deadline = time.monotonic() + self.spec.ready_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                code = process.returncode
                raise RunnerError(
                    f"process {self.name} exited during start-up (code {code})",
                    hint=_log_tail(self.spec.log_file) or None,
                )
            try:
                if self.spec.ready():
                    return
            except Exception:  # a probe that fails just means "not yet"
                pass
            time.sleep(0.02)
        raise RunnerError(
            f"process {self.name} did not become ready in {self.spec.ready_timeout:.0f}s",
            hint=_log_tail(self.spec.log_file) or None,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pid(self) -> int | None:
        process = self.process
        return process.pid if process is not None and process.poll() is None else None

    def exit_code(self) -> int | None:
        return self.process.returncode if self.process is not None else None

    def terminate(self, timeout: float) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, self.spec.stop_signal)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(5.0)
            # the group may hold grandchildren that outlived the leader
            _signal_group(process.pid, signal.SIGKILL)
        self._forget()

    def _forget(self) -> None:
        self.pidfile.unlink(missing_ok=True)


class _ClusterUnit:
    """A PostgreSQL cluster; its postmaster is watched through the Popen or postmaster.pid."""

    def __init__(self, name: str, cluster: Cluster, timeout: float) -> None:
        self.name = name
        self.cluster = cluster
        self.timeout = timeout
        self.spec = (cluster.data_dir, cluster.port, tuple(sorted(cluster.settings.items())))

    def launch(self) -> None:
        self.cluster.start(self.timeout)

    spawn = launch  # starting a cluster already waits until it accepts connections

    def wait_ready(self) -> None:
        return

    def alive(self) -> bool:
        process = self.cluster.process
        if process is not None and process.poll() is not None:
            return False
        return self.cluster.running_pid() is not None

    def pid(self) -> int | None:
        return self.cluster.running_pid()

    def exit_code(self) -> int | None:
        process = self.cluster.process
        return process.returncode if process is not None else None

    def terminate(self, timeout: float) -> None:
        self.cluster.stop(timeout)


# ---------------------------------------------------------------------- supervision
@dataclass
class _Supervised:
    unit: _Child | _ClusterUnit
    state: str = STOPPED
    started_at: float = 0.0
    failures: int = 0
    restarts: int = 0
    next_attempt: float = 0.0
    last_exit_code: int | None = None
    restarting: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)


class LocalRunner:
    """Starts, watches, restarts and stops named units on this host. Thread-safe."""

    def __init__(
        self,
        run_dir: Path,
        *,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        stable_after: float = 60.0,
        poll_interval: float = 0.1,
    ) -> None:
        self.run_dir = run_dir
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.poll_interval = poll_interval
        self._units: dict[str, _Supervised] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    # ------------------------------------------------------------------ public API
    def start_process(self, name: str, spec: ProcessSpec, *, wait: bool = True) -> None:
        """Run `spec` under `name` and wait until ready; a running unit with another spec
        is restarted, one with the same spec is left alone. With `wait=False` the process
        is spawned and `wait_ready(name)` (or a later `start_process`) finishes the start, so
        callers can overlap its boot with other work."""
        self._start(name, _Child(name, spec, self.run_dir / f"{name}.pid"), wait=wait)

    def wait_ready(self, name: str) -> None:
        """Finish a `start_process(..., wait=False)`: wait until ready (or raise)."""
        entry = self._units.get(name)
        if entry is None:
            raise RunnerError(f"no process named {name}")
        with entry.lock:
            self._finish_start(entry)

    def start_cluster(self, name: str, cluster: Cluster, timeout: float = 30.0) -> None:
        """Start `cluster` under `name` (restart on crash = `cluster.start()`)."""
        self._start(name, _ClusterUnit(name, cluster, timeout))

    def stop(self, name: str, timeout: float = 10.0) -> None:
        """Stop the unit (no restart until started again). For a name this runner never
        started, an orphan recorded under it by an earlier supervisor is stopped."""
        entry = self._units.get(name)
        if entry is None:
            _stop_recorded(name, self.run_dir / f"{name}.pid")
            return
        with entry.lock:
            entry.state = STOPPED
            entry.unit.terminate(timeout)

    def forget(self, name: str, timeout: float = 10.0) -> None:
        """Stop the unit and drop it from supervision."""
        self.stop(name, timeout)
        with self._lock:
            self._units.pop(name, None)

    def info(self, name: str) -> ProcessInfo:
        entry = self._units.get(name)
        if entry is None:
            return ProcessInfo(name, UNKNOWN, None, 0, None)
        state = entry.state
        if state == RUNNING and not entry.unit.alive():
            state = BACKOFF  # crashed; the watcher has not noticed yet
        pid = entry.unit.pid() if state == RUNNING else None
        return ProcessInfo(name, state, pid, entry.restarts, entry.last_exit_code, entry.failures)

    def state(self, name: str) -> str:
        return self.info(name).state

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._units)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every unit and the watcher (used when the platform stops): plain processes
        first (they may use the databases), then clusters, each group in parallel."""
        self._stopping.set()
        with self._lock:
            units = list(self._units.items())
        children = [name for name, entry in units if isinstance(entry.unit, _Child)]
        clusters = [name for name, entry in units if not isinstance(entry.unit, _Child)]
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="flux-stop") as pool:
            for group in (children, clusters):
                list(pool.map(lambda name: self.stop(name, timeout), group))
        if self._watcher is not None:
            self._watcher.join(timeout)
            self._watcher = None
        self._stopping.clear()

    # ------------------------------------------------------------------ internals
    def _start(self, name: str, unit: _Child | _ClusterUnit, *, wait: bool = True) -> None:
        with self._lock:
            entry = self._units.setdefault(name, _Supervised(unit))
        with entry.lock:
            same = type(entry.unit) is type(unit) and entry.unit.spec == unit.spec
            if same and entry.state in (RUNNING, STARTING) and entry.unit.alive():
                if wait:
                    self._finish_start(entry)
                return
            if entry.state in (RUNNING, STARTING, BACKOFF):
                entry.unit.terminate(10.0)
            entry.unit = unit
            entry.failures = 0
            entry.state = STARTING
            try:
                entry.unit.spawn()
            except BaseException:
                entry.state = STOPPED
                raise
            if wait:
                self._finish_start(entry)

    def _finish_start(self, entry: _Supervised) -> None:
        if entry.state != STARTING:
            return
        try:
            entry.unit.wait_ready()
        except BaseException:
            entry.state = STOPPED
            entry.unit.terminate(5.0)
            raise
        entry.state = RUNNING
        entry.started_at = time.monotonic()
        self._ensure_watcher()

    def _ensure_watcher(self) -> None:
        with self._lock:
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(
                    target=self._watch, name="flux-local-runner", daemon=True
                )
                self._watcher.start()

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll_interval):
            with self._lock:
                entries = list(self._units.items())
            for name, entry in entries:
                self._check(name, entry)

    def _check(self, name: str, entry: _Supervised) -> None:
        if not entry.lock.acquire(blocking=False):
            return  # someone is starting or stopping it right now
        try:
            now = time.monotonic()
            if entry.state == RUNNING and not entry.unit.alive():
                entry.last_exit_code = entry.unit.exit_code()
                if now - entry.started_at >= self.stable_after:
                    entry.failures = 0
                self._schedule(name, entry, now, f"exited (code {entry.last_exit_code})")
            elif entry.state == BACKOFF and not entry.restarting and now >= entry.next_attempt:
                entry.restarting = True
                threading.Thread(
                    target=self._restart, args=(name, entry), name=f"restart-{name}", daemon=True
                ).start()
        finally:
            entry.lock.release()

    def _schedule(self, name: str, entry: _Supervised, now: float, why: str) -> None:
        entry.failures += 1
        delay = min(self.backoff_initial * 2 ** (entry.failures - 1), self.backoff_max)
        entry.state = BACKOFF
        entry.next_attempt = now + delay
        log.warning("%s %s; restarting in %.1fs", name, why, delay)

    def _restart(self, name: str, entry: _Supervised) -> None:
        with entry.lock:
            try:
                if entry.state != BACKOFF or self._stopping.is_set():
                    return
                entry.unit.terminate(5.0)  # reap what is left of the crashed one
                try:
                    entry.unit.launch()
                except Exception as exc:
                    entry.unit.terminate(5.0)
                    message = exc.message if isinstance(exc, FluxError) else str(exc)
                    self._schedule(name, entry, time.monotonic(), f"failed to restart: {message}")
                    return
                entry.state = RUNNING
                entry.started_at = time.monotonic()
                entry.restarts += 1
            finally:
                entry.restarting = False
