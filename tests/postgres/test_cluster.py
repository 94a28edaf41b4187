"""flux.postgres: clusters from template copies, start/stop as non-root, SCRAM everywhere,
private files, and an OS account of its own per cluster when Flux is root."""

import os
import pwd
import stat
import subprocess
import uuid
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
    template_dir,
)
from flux.postgres.osuser import ensure_account, remove_account, server_user


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


def test_every_connection_needs_a_password(tmp_path, pg_templates):
    cluster = _cluster(tmp_path)
    cluster.create(pg_templates)
    cluster.start()
    try:
        password = cluster.superuser_password()
        assert password
        # a template copy does not keep the template's password once it has run
        template = template_dir(pg_templates)
        template_pass = template.with_name(template.name + ".pgpass")
        shared = template_pass.read_text().splitlines()[-1].rsplit(":", 1)[1]
        assert password != shared
        assert "template" not in cluster.passfile.read_text()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(cluster.socket_conninfo(password=shared), connect_timeout=5)
        with psycopg.connect(cluster.socket_conninfo(), autocommit=True) as conn:
            conn.execute("create role nopass login")
            conn.execute("create role withpass login password 'role-pw'")
        with psycopg.connect(cluster.tcp_url("postgres", "postgres", password)) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        with psycopg.connect(cluster.socket_conninfo(user="withpass", password="role-pw")) as conn:
            assert conn.execute("select current_user").fetchone() == ("withpass",)
        refused = [
            cluster.tcp_url("postgres", "postgres", "wrong"),
            cluster.socket_conninfo(password="wrong"),
            cluster.socket_conninfo(user="nopass"),  # no password at all: no trust, no peer
            cluster.socket_conninfo(user="withpass"),  # the password file knows the superuser only
            f"host={cluster.socket_dir} port={cluster.port} dbname=postgres user=postgres "
            "passfile=/nonexistent",
            f"host=127.0.0.1 port={cluster.port} dbname=postgres user=nopass passfile=/nonexistent",
        ]
        for conninfo in refused:
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(conninfo, connect_timeout=5)
    finally:
        cluster.destroy()


def _auth_lines(hba: Path) -> list[list[str]]:
    lines = [line.split("#", 1)[0].split() for line in hba.read_text().splitlines()]
    return [words for words in lines if words]


def test_no_pg_hba_flux_writes_trusts_anyone(tmp_path, pg_templates, pg_cluster):
    cluster = _cluster(tmp_path)
    cluster.create(pg_templates)
    written = [cluster.data_dir / "pg_hba.conf", pg_cluster.data_dir / "pg_hba.conf"]
    written.append(template_dir(pg_templates) / "pg_hba.conf")
    for hba in written:
        lines = _auth_lines(hba)
        assert lines, hba
        for words in lines:
            assert words[-1] == "scram-sha-256", (hba, words)


def test_a_cluster_from_an_older_flux_is_moved_to_scram(tmp_path, pg_templates):
    """Older Flux wrote `local all all trust`, kept no superuser password, and a 0644 log."""
    cluster = _cluster(tmp_path)
    cluster.create(pg_templates)
    cluster.start()
    cluster.passfile.unlink()
    (cluster.data_dir / "pg_hba.conf").write_text("local all all trust\n")
    os.chmod(cluster.log_file, 0o644)
    cluster.start()  # running without a password file: restarted with SCRAM
    try:
        methods = {words[-1] for words in _auth_lines(cluster.data_dir / "pg_hba.conf")}
        assert methods == {"scram-sha-256"}
        assert cluster.superuser_password()
        with psycopg.connect(cluster.socket_conninfo()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(cluster.socket_conninfo(password=""), connect_timeout=5)
        for private in (cluster.log_file, cluster.passfile, cluster.data_dir / "pg_hba.conf"):
            assert stat.S_IMODE(os.stat(private).st_mode) == 0o600, private
    finally:
        cluster.destroy()


def test_data_and_socket_folders_are_private(pg_cluster):
    for folder in (pg_cluster.data_dir, pg_cluster.socket_dir):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
    for private in (pg_cluster.log_file, pg_cluster.passfile):
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600, private


@pytest.mark.skipif(os.geteuid() != 0, reason="own OS accounts need root")
def test_a_cluster_with_its_own_account(tmp_path, pg_templates):
    account = f"flux-t{uuid.uuid4().hex[:6]}-test"
    data = tmp_path / "own"
    cluster = Cluster(data, free_port(), socket_dir_for(data, tmp_path / "run"), os_account=account)
    cluster.create(pg_templates)
    cluster.start()
    try:
        uid = pwd.getpwnam(account).pw_uid
        assert uid not in (0, server_user().uid)
        assert os.stat(f"/proc/{cluster.running_pid()}").st_uid == uid
        for folder in (cluster.data_dir, cluster.socket_dir):
            assert os.stat(folder).st_uid == uid
            assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        # the password file stays Flux's: the server's account cannot read it
        assert os.stat(cluster.passfile).st_uid == 0
    finally:
        cluster.destroy()
    with pytest.raises(KeyError):
        pwd.getpwnam(account)


def test_missing_binaries_names_the_debian_package(monkeypatch):
    monkeypatch.setattr(binaries, "_candidates", lambda: [Path("/nonexistent")])
    binaries.find_bin_dir.cache_clear()
    try:
        with pytest.raises(PostgresNotFound) as info:
            find_bin_dir()
        assert "apt-get install postgresql" in info.value.hint
    finally:
        binaries.find_bin_dir.cache_clear()


@pytest.mark.skipif(os.geteuid() != 0, reason="own OS accounts need root")
def test_accounts_of_deleted_homes_are_removed(tmp_path):
    """A home deleted with its projects (e.g. a test's) leaves accounts behind; the next account
    created removes them, not those whose project folder still exists."""
    tag = uuid.uuid4().hex[:6]
    gone, kept, new = (f"flux-{tag}{n}-test" for n in "gkn")
    (tmp_path / "gone").mkdir()
    (tmp_path / "kept").mkdir()
    ensure_account(gone, tmp_path / "gone" / "db")
    ensure_account(kept, tmp_path / "kept" / "db")
    (tmp_path / "gone").rmdir()
    try:
        ensure_account(new, tmp_path / "kept" / "db2")
        with pytest.raises(KeyError):
            pwd.getpwnam(gone)
        assert pwd.getpwnam(kept).pw_gecos.endswith(str(tmp_path / "kept" / "db"))
    finally:
        for name in (gone, kept, new):
            remove_account(name)
