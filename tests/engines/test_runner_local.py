"""The local runner with real child processes and a real PostgreSQL cluster."""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from pathlib import Path

import psycopg
import pytest

from flux.engines.runners import LocalRunner, ProcessSpec, RunnerError
from flux.postgres import Cluster, free_port, socket_dir_for

SLEEPER = (
    "import pathlib, signal, sys, time\n"
    "if len(sys.argv) > 2: signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "pathlib.Path(sys.argv[1]).write_text(str(__import__('os').getpid()))\n"
    "print('child up', flush=True)\n"
    "time.sleep(600)\n"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"


def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _spec(tmp_path: Path, *extra: str, **kw) -> ProcessSpec:
    marker = tmp_path / "marker"

    def ready() -> bool:
        return marker.exists()

    marker.unlink(missing_ok=True)
    return ProcessSpec(
        argv=[sys.executable, "-c", SLEEPER, str(marker), *extra],
        log_file=tmp_path / "child.log",
        ready=ready,
        **kw,
    )


@pytest.fixture
def runner(tmp_path):
    r = LocalRunner(tmp_path / "run", backoff_initial=0.05, backoff_max=0.4, poll_interval=0.02)
    yield r
    r.shutdown(2.0)


def test_start_waits_until_ready_and_logs(runner, tmp_path):
    runner.start_process("svc", _spec(tmp_path))
    info = runner.info("svc")
    assert info.state == "running" and info.pid and _alive(info.pid)
    assert int((tmp_path / "marker").read_text()) == info.pid
    assert _wait(lambda: "child up" in (tmp_path / "child.log").read_text())
    assert stat.S_IMODE((tmp_path / "child.log").stat().st_mode) == 0o600  # logs may hold SQL


def test_an_existing_wider_log_is_narrowed(runner, tmp_path):
    (tmp_path / "child.log").write_text("from an older Flux\n")
    os.chmod(tmp_path / "child.log", 0o644)
    runner.start_process("svc", _spec(tmp_path))
    assert stat.S_IMODE((tmp_path / "child.log").stat().st_mode) == 0o600


def test_crash_is_restarted_and_stop_is_final(runner, tmp_path):
    runner.start_process("svc", _spec(tmp_path))
    first = runner.info("svc").pid
    os.kill(first, signal.SIGKILL)
    assert _wait(lambda: runner.info("svc").state == "running" and runner.info("svc").pid != first)
    info = runner.info("svc")
    assert info.restarts == 1 and info.last_exit_code == -signal.SIGKILL
    runner.stop("svc")
    assert runner.state("svc") == "stopped"
    assert _wait(lambda: not _alive(info.pid))
    time.sleep(0.3)
    assert runner.state("svc") == "stopped" and runner.info("svc").pid is None


def test_backoff_doubles_between_restarts(tmp_path):
    runner = LocalRunner(tmp_path / "run", backoff_initial=0.1, backoff_max=10, poll_interval=0.01)
    spec = ProcessSpec(argv=["sh", "-c", "exit 3"])
    try:
        runner.start_process("flappy", spec)
        time.sleep(1.2)  # attempts at ~0.1, 0.3, 0.7 (then 1.5) → 3 restarts, not dozens
        info = runner.info("flappy")
        assert 2 <= info.restarts <= 4, info
        assert info.last_exit_code == 3
    finally:
        runner.shutdown(2.0)
    assert runner.state("flappy") == "stopped"


def test_failed_start_reports_log_tail(runner, tmp_path):
    spec = ProcessSpec(
        argv=[sys.executable, "-c", "print('boom: bad config'); raise SystemExit(2)"],
        log_file=tmp_path / "bad.log",
        ready=lambda: False,
    )
    with pytest.raises(RunnerError) as err:
        runner.start_process("bad", spec)
    assert "code 2" in err.value.message and "boom: bad config" in err.value.hint
    assert runner.state("bad") == "stopped"


def test_ready_timeout_kills_the_process(runner, tmp_path):
    spec = ProcessSpec(argv=["sleep", "600"], ready=lambda: False, ready_timeout=0.3)
    with pytest.raises(RunnerError, match="did not become ready"):
        runner.start_process("slow", spec)
    assert not (tmp_path / "run" / "slow.pid").exists()


def test_sigkill_after_stop_timeout(runner, tmp_path):
    runner.start_process("stubborn", _spec(tmp_path, "ignore-term"))
    pid = runner.info("stubborn").pid
    started = time.monotonic()
    runner.stop("stubborn", timeout=0.3)
    assert not _alive(pid)
    assert time.monotonic() - started < 3


def test_same_spec_is_a_noop_and_new_spec_restarts(runner, tmp_path):
    spec = _spec(tmp_path)
    runner.start_process("svc", spec)
    pid = runner.info("svc").pid
    runner.start_process("svc", spec)
    assert runner.info("svc").pid == pid
    runner.start_process("svc", _spec(tmp_path, env={**os.environ, "X": "1"}))
    assert runner.info("svc").pid != pid and not _alive(pid)


def test_orphan_of_a_dead_supervisor_is_stopped(tmp_path):
    first = LocalRunner(tmp_path / "run", poll_interval=3600)  # its watcher never wakes: dead
    first.start_process("svc", _spec(tmp_path))
    orphan = first.info("svc").pid
    second = LocalRunner(tmp_path / "run")  # as if `flux up` was killed and started again
    try:
        second.start_process("svc", _spec(tmp_path))
        assert not _alive(orphan)
        assert second.info("svc").pid != orphan
    finally:
        second.shutdown(2.0)


def test_forget_and_unknown(runner, tmp_path):
    assert runner.state("nope") == "unknown"
    runner.stop("nope")
    runner.start_process("svc", _spec(tmp_path))
    runner.forget("svc")
    assert runner.names() == [] and runner.state("svc") == "unknown"


def test_cluster_is_supervised(runner, tmp_path, pg_templates):
    data = tmp_path / "db"
    cluster = Cluster(
        data, free_port(), socket_dir_for(data, tmp_path / "s"), settings={"fsync": "off"}
    )
    cluster.create(pg_templates)
    runner.start_cluster("db", cluster)
    pid = runner.info("db").pid
    assert pid == cluster.running_pid()
    os.kill(pid, signal.SIGKILL)
    # pid is None while the killed postmaster is a zombie, and the old pid just before
    assert _wait(
        lambda: runner.info("db").state == "running" and runner.info("db").pid not in (None, pid), 8
    )
    with psycopg.connect(cluster.socket_conninfo()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    runner.stop("db")
    assert cluster.status() == "stopped"
    cluster.destroy()


def test_spawn_now_wait_later_and_stop_while_starting(runner, tmp_path):
    runner.start_process("svc", _spec(tmp_path), wait=False)
    assert runner.state("svc") in ("starting", "running")
    runner.wait_ready("svc")
    assert runner.state("svc") == "running"
    pid = runner.info("svc").pid
    runner.start_process("svc", _spec(tmp_path, env={**os.environ, "Y": "1"}), wait=False)
    assert not _alive(pid) and runner.state("svc") == "starting"
    runner.stop("svc")
    assert runner.state("svc") == "stopped"
    with pytest.raises(RunnerError):
        runner.wait_ready("unknown")


def test_stop_of_an_unknown_name_stops_its_recorded_orphan(tmp_path):
    first = LocalRunner(tmp_path / "run", poll_interval=3600)  # its watcher never wakes: dead
    first.start_process("svc", _spec(tmp_path))
    orphan = first.info("svc").pid
    second = LocalRunner(tmp_path / "run")
    second.stop("svc")
    assert _wait(lambda: not _alive(orphan))
    assert not (tmp_path / "run" / "svc.pid").exists()


def test_run_as_an_unprivileged_user(runner, tmp_path):
    from flux.postgres.osuser import server_user

    user = server_user()
    log = tmp_path / "whoami.log"
    spec = ProcessSpec(argv=["sh", "-c", "id -u; sleep 600"], log_file=log, run_as=user)
    runner.start_process("asuser", spec)
    assert _wait(lambda: log.exists() and log.read_text().strip() == str(user.uid))
    assert os.stat(f"/proc/{runner.info('asuser').pid}").st_uid == user.uid


def test_backoff_resets_after_a_stable_run(tmp_path):
    runner = LocalRunner(
        tmp_path / "run", backoff_initial=0.05, stable_after=0.3, poll_interval=0.01
    )
    lives_a_while = ProcessSpec(argv=["sleep", "0.5"])
    dies_at_once = ProcessSpec(argv=["false"])  # a binary: lives milliseconds even under load
    try:
        runner.start_process("steady", lives_a_while)
        runner.start_process("flappy", dies_at_once)
        assert _wait(lambda: runner.info("steady").restarts >= 3, 10)
        assert runner.info("steady").failures == 1  # each crash came after a stable run
        assert runner.info("flappy").failures >= 3
    finally:
        runner.shutdown(2.0)
