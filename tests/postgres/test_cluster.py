import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from flux.postgres import (
    Cluster,
    PostgresNotFound,
    binaries,
    find_bin_dir,
    free_port,
    socket_dir_for,
)


def _cluster(root: Path) -> Cluster:
    data = root / "c"
    return Cluster(data, free_port(), socket_dir_for(data, root / "run"))


def test_session_cluster_answers(pg_cluster):
    with psycopg.connect(pg_cluster.socket_conninfo()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert pg_cluster.status() == "running"


def test_server_never_runs_as_root(pg_cluster):
    pid = pg_cluster.running_pid()
    assert pid is not None
    assert os.stat(f"/proc/{pid}").st_uid != 0


def test_create_start_stop_restart_keeps_data(tmp_path, pg_templates):
    cluster = _cluster(tmp_path)
    assert cluster.status() == "missing"
    cluster.create(pg_templates)
    assert cluster.status() == "stopped"
    cluster.start()
    with psycopg.connect(cluster.socket_conninfo(), autocommit=True) as conn:
        conn.execute("create table kept(x int); insert into kept values (42)")
    cluster.stop()
    assert cluster.status() == "stopped"
    assert cluster.running_pid() is None
    cluster.start()
    with psycopg.connect(cluster.socket_conninfo()) as conn:
        assert conn.execute("select x from kept").fetchone() == (42,)
    cluster.destroy()
    assert cluster.status() == "missing"


def test_stale_postmaster_pid_is_detected_and_left_to_postgres(tmp_path, pg_templates):
    cluster = _cluster(tmp_path)
    cluster.create(pg_templates)
    cluster.start()
    pid = cluster.running_pid()
    subprocess.run(["kill", "-9", str(pid)], check=True)
    cluster.process.wait(timeout=10)
    # the pid file is left behind by a crash; status must not trust it, and it stays for
    # PostgreSQL's own check that no orphaned backend still uses the old shared memory
    assert (cluster.data_dir / "postmaster.pid").exists()
    assert cluster.status() == "stopped" and not cluster.is_ready()
    assert (cluster.data_dir / "postmaster.pid").exists()
    cluster.start()
    assert cluster.status() == "running" and cluster.running_pid() != pid
    cluster.destroy()


def test_pid_file_naming_a_reused_pid_is_removed(tmp_path, pg_templates):
    cluster = _cluster(tmp_path)
    cluster.create(pg_templates)
    # the pid now belongs to another program (this test's own process)
    (cluster.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{cluster.data_dir}\n")
    assert cluster.status() == "stopped"
    assert not (cluster.data_dir / "postmaster.pid").exists()
    cluster.start()
    assert cluster.status() == "running"
    cluster.destroy()


def test_tcp_requires_password(tmp_path, pg_templates):
    cluster = _cluster(tmp_path)
    cluster.create(pg_templates)
    cluster.start()
    try:
        with psycopg.connect(cluster.socket_conninfo(), autocommit=True) as conn:
            conn.execute("alter role postgres password 'sekret-pw'")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(cluster.tcp_url("postgres", "postgres", "wrong"))
        with psycopg.connect(cluster.tcp_url("postgres", "postgres", "sekret-pw")) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        cluster.destroy()


def test_missing_binaries_names_the_debian_package(monkeypatch):
    monkeypatch.setattr(binaries, "_candidates", lambda: [Path("/nonexistent")])
    binaries.find_bin_dir.cache_clear()
    try:
        with pytest.raises(PostgresNotFound) as info:
            find_bin_dir()
        assert "apt-get install postgresql" in info.value.hint
    finally:
        binaries.find_bin_dir.cache_clear()
