"""The v1 dedicated engine's mechanics: cluster, bootstrap, keys, processes, lifecycle, rollback.

The REST process here is a tiny stand-in HTTP server that connects with the PGRST_* settings it
was given (so the engine's wiring is checked for real); the end-to-end tests against the real
`flux rest` live in test_v1_e2e.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest

from flux.catalog.plans import Plan
from flux.catalog.projects import Project
from flux.engines.runners import LocalRunner
from flux.engines.v1_dedicated import DedicatedEngine, ProvisionFailed
from flux.errors import Conflict
from flux.postgres.ports import port_is_free

STAND_IN = r"""
import hashlib, http.server, json, os, psycopg
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            with psycopg.connect(os.environ["PGRST_DB_URI"], connect_timeout=2) as conn:
                user = conn.execute("select current_user").fetchone()[0]
            status, body = 200, {
                "user": user,
                "schemas": os.environ["PGRST_DB_SCHEMAS"],
                "anon": os.environ["PGRST_DB_ANON_ROLE"],
                "secret": hashlib.sha256(os.environ["PGRST_JWT_SECRET"].encode()).hexdigest(),
            }
        except Exception as exc:
            status, body = 503, {"error": str(exc)}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(
    (os.environ["PGRST_SERVER_HOST"], int(os.environ["PGRST_SERVER_PORT"])), Handler
).serve_forever()
"""
PLAN = Plan("free", 600, __import__("datetime").timedelta(seconds=5), 5, None)


def _project(slug: str = "shop") -> Project:
    return Project(
        tenant_id=uuid.uuid4(),
        slug=slug,
        hash=uuid.uuid4().hex[:7],
        owner_id=1,
        mode="v1_dedicated",
        plan="free",
        status="active",
        lifecycle_state="active",
        cluster_id=None,
        jwt_secret="s" * 40 + uuid.uuid4().hex,
        rate_limit_per_minute=None,
        maintenance=False,
        runner_data={},
        created_at=datetime.now(UTC),
        last_accessed_at=None,
    )


def _engine(home: Path, templates: Path, command: list[str] | None = None) -> DedicatedEngine:
    runner = LocalRunner(home / "run" / "units", poll_interval=0.05)
    return DedicatedEngine(
        home,
        templates,
        runner,
        command or [sys.executable, "-c", STAND_IN],
        pg_settings={"fsync": "off"},
    )


def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _hello(engine: DedicatedEngine, project: Project) -> dict:
    return httpx.get(engine.api_url(project) + "/", timeout=5).json()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def engine(tmp_path, pg_templates):
    eng = _engine(tmp_path / "home", pg_templates)
    yield eng
    eng.shutdown()


@pytest.fixture
def project(engine):
    proj = _project()
    engine.provision(proj, PLAN)
    yield proj
    engine.delete(proj)


def test_provision_builds_cluster_bootstrap_and_rest_process(engine, project):
    data = project.runner_data
    assert data["desired"] == "running" and data["dir"] == f"{project.hash}-shop"
    root = engine.home / "projects" / data["dir"]
    assert (root / "db" / "PG_VERSION").exists()
    assert oct((root / "secrets.json").stat().st_mode)[-3:] == "600"
    assert engine.status(project) == "running"
    assert engine.names(project).schema == "api"
    hello = _hello(engine, project)
    assert hello["user"] == "authenticator" and hello["schemas"] == "api"
    assert hello["anon"] == "anon"
    pid = engine.runner.info(f"flux-{project.hash}-shop-db").pid
    assert os.stat(f"/proc/{pid}").st_uid != 0
    with psycopg.connect(engine.admin_conninfo(project)) as conn:
        assert conn.execute("show listen_addresses").fetchone()[0] == "127.0.0.1"
        roles = {
            name: flags
            for name, *flags in conn.execute(
                "select rolname, rolcanlogin, rolinherit, rolbypassrls from pg_roles"
                " where rolname in ('authenticator','anon','authenticated','service_role')"
            )
        }
        assert roles["authenticator"] == [True, False, False]
        assert roles["anon"] == [False, True, False]
        assert roles["service_role"] == [False, True, True]
        members = {
            r[0]
            for r in conn.execute(
                "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid"
                " join pg_roles u on u.oid = m.member where u.rolname = 'authenticator'"
            )
        }
        assert members == {"anon", "authenticated", "service_role"}
        conn.execute("create table api.items (id int primary key, owner text)")
        conn.execute("insert into api.items values (1, 'u1')")
        conn.commit()
        conn.execute("set role anon")
        assert conn.execute("select count(*) from api.items").fetchone() == (1,)
        conn.execute("select set_config('request.jwt.claims', '{\"sub\": \"u1\"}', true)")
        assert conn.execute("select auth.uid(), auth.jwt()->>'sub'").fetchone() == ("u1", "u1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create table flux.x (a int)")


def test_credentials_keys_and_hidden_env(engine, project):
    creds = engine.credentials(project)
    assert creds["mode"] == "v1_dedicated" and creds["jwtSecret"] == project.jwt_secret
    pg = creds["postgres"]
    assert (pg["user"], pg["host"], pg["port"], pg["database"]) == (
        "owner",
        "127.0.0.1",
        project.runner_data["pg_port"],
        "postgres",
    )
    with psycopg.connect(pg["url"]) as conn:  # the owner's password works over TCP
        assert conn.execute(
            "select current_user, rolsuper from pg_roles where rolname = current_user"
        ).fetchone() == ("owner", False)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg["url"].replace(pg["password"], "wrong"))
    for field, role in (("anonKey", "anon"), ("serviceRoleKey", "service_role")):
        claims = jwt.decode(creds[field], project.jwt_secret, algorithms=["HS256"])
        assert claims["role"] == role and claims["iss"] == "flux"
        assert claims["exp"] - claims["iat"] >= 10 * 365 * 24 * 3600
    assert engine.credentials(project)["anonKey"] == creds["anonKey"]  # stable
    env = engine.env(project)
    assert env["PGRST_DB_SCHEMAS"] == "api" and env["PGRST_DB_ANON_ROLE"] == "anon"
    assert env["PGRST_SERVER_HOST"] == "127.0.0.1"
    assert env["PGRST_SERVER_PORT"] == str(project.runner_data["api_port"])
    assert env["PGRST_JWT_SECRET"] == "********"
    assert env["PGRST_DB_POOL"] == "5" and "PGRST_DB_MAX_ROWS" not in env  # from the plan
    assert (
        engine.env(
            dataclasses.replace(project, runner_data={**project.runner_data, "max_rows": 100})
        )["PGRST_DB_MAX_ROWS"]
        == "100"
    )
    assert "authenticator:********@" in env["PGRST_DB_URI"]
    secrets_ = json.loads(
        (engine.home / "projects" / project.runner_data["dir"] / "secrets.json").read_text()
    )
    blob = json.dumps(env) + json.dumps(project.runner_data)
    assert project.jwt_secret not in blob
    assert all(value not in blob for value in secrets_.values())


def test_stop_start_keeps_data_and_desired_state(engine, project):
    with psycopg.connect(engine.credentials(project)["postgres"]["url"]) as conn:
        conn.execute("create table api.kept (x int); insert into api.kept values (42)")
    engine.stop(project)
    assert engine.status(project) == "stopped"
    assert project.runner_data["desired"] == "stopped"
    assert not _listening(project.runner_data["api_port"])
    assert not _listening(project.runner_data["pg_port"])
    engine.start(project)
    assert engine.status(project) == "running" and project.runner_data["desired"] == "running"
    with psycopg.connect(engine.credentials(project)["postgres"]["url"]) as conn:
        assert conn.execute("select x from api.kept").fetchone() == (42,)
    assert _hello(engine, project)["user"] == "authenticator"


def test_kill_9_of_both_processes_heals(engine, project):
    db_pid = engine.runner.info(f"flux-{project.hash}-shop-db").pid
    os.kill(db_pid, signal.SIGKILL)
    assert _wait(lambda: engine.status(project) == "running", 5)
    api_pid = engine.runner.info(f"flux-{project.hash}-shop-api").pid
    os.kill(api_pid, signal.SIGKILL)
    assert _wait(
        lambda: (
            engine.status(project) == "running"
            and engine.runner.info(f"flux-{project.hash}-shop-api").pid != api_pid
        ),
        5,
    )
    assert _wait(lambda: _hello(engine, project).get("user") == "authenticator", 5)


def test_rotation_restarts_rest_with_new_secret(engine, project):
    import hashlib

    before = _hello(engine, project)["secret"]
    old_key = engine.credentials(project)["anonKey"]
    project.jwt_secret = "r" * 48
    engine.after_secret_rotation(project)
    after = _hello(engine, project)["secret"]
    assert before != after == hashlib.sha256(project.jwt_secret.encode()).hexdigest()
    assert engine.credentials(project)["anonKey"] != old_key


def test_failed_create_is_rolled_back(tmp_path, pg_templates):
    broken = _engine(
        tmp_path / "home",
        pg_templates,
        [sys.executable, "-c", "import sys; print('rest: cannot start'); sys.exit(1)"],
    )
    proj = _project("broken")
    try:
        with pytest.raises(ProvisionFailed) as err:
            broken.provision(proj, PLAN)
    finally:
        broken.shutdown()
    assert "rolled back" in err.value.message and "exited during start-up" in err.value.message
    assert "rest: cannot start" in (err.value.hint or "")
    assert not (tmp_path / "home" / "projects" / f"{proj.hash}-broken").exists()
    assert broken.runner.names() == []
    assert port_is_free(proj.runner_data["pg_port"]) and port_is_free(proj.runner_data["api_port"])
    assert not list((tmp_path / "home" / "run" / "units").glob("*.pid"))


def test_delete_leaves_nothing(engine):
    proj = _project("gone")
    engine.provision(proj, PLAN)
    pids = [engine.runner.info(n).pid for n in engine.runner.names()]
    socket_dir = engine._cluster(proj).socket_dir
    engine.delete(proj)
    engine.delete(proj)  # idempotent
    assert engine.status(proj) == "missing"
    assert not (engine.home / "projects" / proj.runner_data["dir"]).exists()
    assert not socket_dir.exists()
    assert engine.runner.names() == []
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert port_is_free(proj.runner_data["pg_port"]) and port_is_free(proj.runner_data["api_port"])


def test_repair_recreates_missing_and_refuses_corrupted(engine, project):
    import shutil

    assert engine.repair(project)[-1].startswith("re-ran the bootstrap")  # idempotent on healthy
    engine.stop(project)
    root = engine.home / "projects" / project.runner_data["dir"]
    shutil.rmtree(root / "db")
    assert engine.status(project) == "missing"
    with pytest.raises(Conflict, match="missing"):
        engine.start(project)
    done = engine.repair(project)
    assert any("recreated the database" in line for line in done)
    assert (
        engine.status(project) == "running" and _hello(engine, project)["user"] == "authenticator"
    )
    engine.stop(project)
    (root / "db" / "PG_VERSION").unlink()
    assert engine.status(project) == "corrupted"
    with pytest.raises(Conflict, match="corrupted"):
        engine.repair(project)


def test_repair_fixes_taken_port_and_lost_passwords(engine, project):
    engine.stop(project)
    root = engine.home / "projects" / project.runner_data["dir"]
    (root / "secrets.json").unlink()
    with pytest.raises(Conflict, match="passwords") as err:
        engine.start(project)
    assert "flux repair" in err.value.hint
    assert engine.credentials(project)["postgres"]["password"] is None
    old_port = project.runner_data["api_port"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        done = engine.repair(project)
    assert "generated new database passwords" in done
    assert any("moved the REST process" in line for line in done)
    assert project.runner_data["api_port"] != old_port
    assert _hello(engine, project)["user"] == "authenticator"
    engine.stop(project)
    lost = dataclasses.replace(project, runner_data={})  # e.g. a catalog row restored by hand
    engine.repair(lost)
    assert lost.runner_data["dir"] == project.runner_data["dir"]
    assert engine.status(lost) == "running" and _hello(engine, lost)["user"] == "authenticator"


def test_restore_running_after_platform_restart(tmp_path, pg_templates):
    home = tmp_path / "home"
    first = _engine(home, pg_templates)
    up, down = _project("up"), _project("down")
    first.provision(up, PLAN)
    first.provision(down, PLAN)
    first.stop(down)
    first.shutdown()  # `flux up` stops: every process goes down, desired states unchanged
    assert first.status(up) == "stopped" and up.runner_data["desired"] == "running"
    second = _engine(home, pg_templates)
    try:
        outcome = second.restore_running([up, down])
        assert [(p.slug, err) for p, err in outcome] == [("up", None)]
        assert second.status(up) == "running" and second.status(down) == "stopped"
        assert _hello(second, up)["user"] == "authenticator"
    finally:
        second.delete(up)
        second.delete(down)
        second.shutdown()


def test_restore_after_the_supervisor_was_killed(tmp_path, pg_templates):
    """`flux up` killed -9: its children live on; the next start adopts the running database,
    replaces the orphaned REST process, and stops leftovers of projects meant to be stopped."""
    import subprocess

    home = tmp_path / "home"
    script = f"""
import json, os, signal, sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_v1_dedicated import PLAN, _engine, _project
engine = _engine(Path({str(home)!r}), Path({str(pg_templates)!r}))
out = []
for slug in ("keep", "halt"):
    p = _project(slug)
    engine.provision(p, PLAN)
    out.append(dict(tenant_id=str(p.tenant_id), hash=p.hash, slug=slug,
                    jwt_secret=p.jwt_secret, runner_data=p.runner_data))
print(json.dumps(out), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    keep, halt = (
        dataclasses.replace(_project(), **{**row, "tenant_id": uuid.UUID(row["tenant_id"])})
        for row in json.loads(run.stdout)
    )
    halt.runner_data["desired"] = "stopped"  # as if `flux stop` had been recorded
    engine = _engine(home, pg_templates)
    try:
        orphan_pg = engine._cluster(keep).running_pid()
        assert orphan_pg is not None  # the database outlived its supervisor
        assert engine.status(keep) == "partial"  # ... but nobody supervises the REST process
        assert [(p.slug, err) for p, err in engine.restore_running([keep, halt])] == [
            ("keep", None)
        ]
        assert engine._cluster(keep).running_pid() == orphan_pg  # adopted, not restarted
        assert engine.status(keep) == "running" and engine.status(halt) == "stopped"
        assert _hello(engine, keep)["user"] == "authenticator"
        assert not _listening(halt.runner_data["api_port"])
        os.kill(orphan_pg, signal.SIGKILL)  # adopted databases are supervised too
        assert _wait(lambda: engine._cluster(keep).running_pid() not in (None, orphan_pg), 5)
    finally:
        engine.delete(keep)
        engine.delete(halt)
        engine.shutdown()
    assert not list((home / "run" / "units").glob("*.pid"))


def test_a_project_of_an_older_flux_gets_a_non_superuser_owner(engine, project):
    """An older Flux handed the user the superuser `postgres` (secrets key
    `superuser_password`), trusted local connections, ran every cluster as one OS account,
    and the user's objects belonged to `postgres`. Starting it moves it to the owner model."""
    import subprocess

    from flux.postgres.osuser import server_user

    cluster = engine._cluster(project)
    root = engine.home / "projects" / project.runner_data["dir"]
    old_password = "the-old-superuser-password"
    with psycopg.connect(cluster.socket_conninfo(), autocommit=True) as conn:
        conn.execute("REASSIGN OWNED BY owner TO postgres")
        conn.execute("DROP OWNED BY owner")
        conn.execute("DROP ROLE owner")
        conn.execute("CREATE TABLE api.legacy (id serial PRIMARY KEY, n int)")
        conn.execute("INSERT INTO api.legacy (n) VALUES (7)")
        conn.execute("CREATE VIEW api.legacy_view AS SELECT n FROM api.legacy")
        conn.execute("CREATE FUNCTION api.legacy_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        conn.execute("CREATE TYPE api.mood AS ENUM ('ok')")
        conn.execute("CREATE SCHEMA private")
        conn.execute("CREATE TABLE flux.flux_migrations (version text)")  # the push ledger
        conn.execute(f"ALTER ROLE postgres PASSWORD '{old_password}'")
    engine.stop(project)
    cluster.passfile.unlink()
    (cluster.data_dir / "pg_hba.conf").write_text("local all all trust\n")
    kept = json.loads((root / "secrets.json").read_text())["authenticator_password"]
    (root / "secrets.json").write_text(
        json.dumps({"superuser_password": old_password, "authenticator_password": kept})
    )
    if os.geteuid() == 0:
        shared = server_user()
        subprocess.run(["chown", "-R", f"{shared.uid}:{shared.gid}", str(root / "db")], check=True)

    engine.start(project)
    creds = engine.credentials(project)["postgres"]
    assert (creds["user"], creds["password"]) == ("owner", old_password)  # same password
    with psycopg.connect(creds["url"], autocommit=True) as conn:
        assert conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)
        owners = conn.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'api.legacy'::regclass"
            " UNION SELECT pg_get_userbyid(relowner) FROM pg_class"
            "  WHERE oid = 'api.legacy_view'::regclass"
            " UNION SELECT pg_get_userbyid(relowner) FROM pg_class"
            "  WHERE oid = 'flux.flux_migrations'::regclass"
            " UNION SELECT pg_get_userbyid(proowner) FROM pg_proc"
            "  WHERE oid = 'api.legacy_fn'::regproc"
            " UNION SELECT pg_get_userbyid(typowner) FROM pg_type WHERE oid = 'api.mood'::regtype"
            " UNION SELECT pg_get_userbyid(nspowner) FROM pg_namespace"
            "  WHERE nspname IN ('api', 'auth', 'private')"
            " UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'postgres'"
        ).fetchall()
        assert owners == [("owner",)]
        conn.execute("ALTER TABLE api.legacy ADD COLUMN note text")  # the owner's to change
        conn.execute("INSERT INTO api.legacy (n) VALUES (8)")  # its sequence followed
        assert conn.execute("SELECT sum(n) FROM api.legacy").fetchone() == (15,)
    with pytest.raises(psycopg.OperationalError):  # the handed-out superuser login is dead
        psycopg.connect(creds["url"].replace("://owner:", "://postgres:", 1), connect_timeout=5)
    assert "superuser_password" not in json.loads((root / "secrets.json").read_text())
    assert "trust" not in (cluster.data_dir / "pg_hba.conf").read_text().split("\n", 2)[-1]
    if os.geteuid() == 0:
        assert (cluster.data_dir / "PG_VERSION").stat().st_uid == cluster.os_user().uid
    assert _hello(engine, project)["user"] == "authenticator"
