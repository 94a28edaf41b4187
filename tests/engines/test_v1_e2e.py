"""v1 dedicated end to end: the control-plane API, the real `flux rest` process, real clients.

Covers the acceptance of the dedicated-engine issue: a created project answers with its anon
key, service_role bypasses RLS and anon does not, kill -9 heals, stop/start keeps data,
rotation invalidates old keys, delete leaves nothing; plus lifecycle and env routes.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from flux.catalog import audit, tokens, users
from flux.catalog import projects as catalog_projects
from flux.control.app import build_control_app
from flux.control.context import ControlContext
from flux.control.lifecycle import restore_dedicated
from flux.engines.runners import LocalRunner
from flux.engines.v1_dedicated import DedicatedEngine
from flux.engines.v2_shared import SharedEngine
from flux.postgres.ports import port_is_free

pytestmark = pytest.mark.slow


def _dedicated(home: Path, templates: Path) -> DedicatedEngine:
    return DedicatedEngine(
        home, templates, LocalRunner(home / "run" / "units"), pg_settings={"fsync": "off"}
    )


@pytest.fixture
def platform(embedded, tmp_path):
    state, catalog = embedded
    engine = _dedicated(tmp_path / "home", state.templates)
    ctx = ControlContext(
        catalog=catalog,
        engines={
            "v2_shared": SharedEngine(state.shared_conninfo(), pool_secret=state.pool_jwt_secret),
            "v1_dedicated": engine,
        },
    )
    with catalog.transaction() as conn:
        user = users.create_user(conn, f"{uuid.uuid4().hex[:8]}@test", None)
        token = tokens.create_token(conn, user.id, "test")
    client = TestClient(build_control_app(ctx), base_url="http://testserver/api/cli/v1")
    client.headers["Authorization"] = f"Bearer {token}"
    yield ctx, engine, client
    engine.shutdown()


def _create(client: TestClient, name: str = "shop") -> tuple[str, dict]:
    res = client.post("/create", json={"name": name, "mode": "v1_dedicated"})
    assert res.status_code == 201, res.text
    h = res.json()["project"]["hash"]
    return h, client.get(f"/projects/{h}/credentials").json()


def _project(ctx: ControlContext, h: str):
    with ctx.catalog.connection() as conn:
        return catalog_projects.get_by_hash(conn, h)


def _rest(ctx, engine, h: str) -> str:
    return engine.api_url(_project(ctx, h))


def _get(base: str, path: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(base + path, headers=headers, timeout=5)


def _wait_ok(base: str, path: str, key: str, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if _get(base, path, key).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{path} did not answer 200 within {timeout}s")


def _seed(creds: dict) -> None:
    with psycopg.connect(creds["postgres"]["url"], autocommit=True) as conn:
        conn.execute(
            "create table api.notes (id int primary key, body text);"
            "insert into api.notes values (1, 'hello'), (2, 'world');"
            "create table api.secrets (id int primary key, owner text);"
            "alter table api.secrets enable row level security;"
            "insert into api.secrets values (1, 'alice');"
        )


def test_create_read_rls_kill_rotate_delete(platform):
    ctx, engine, client = platform
    started = time.monotonic()
    h, creds = _create(client)
    base = _rest(ctx, engine, h)
    assert _get(base, "/", creds["anonKey"]).status_code == 200
    assert time.monotonic() - started < 10
    _seed(creds)
    anon, service = creds["anonKey"], creds["serviceRoleKey"]

    _wait_ok(base, "/notes", anon, 2.0)  # the DDL event trigger reloads the schema cache
    res = _get(base, "/notes?select=body&order=id", anon)
    assert res.status_code == 200, res.text
    assert res.json() == [{"body": "hello"}, {"body": "world"}]
    assert _get(base, "/secrets", anon).json() == []  # RLS, no policy: anon sees nothing
    assert _get(base, "/secrets", service).json() == [{"id": 1, "owner": "alice"}]
    assert _get(base, "/notes", "not-a-jwt").status_code == 401

    project = _project(ctx, h)
    db_pid = engine.runner.info(f"flux-{h}-shop-db").pid
    os.kill(db_pid, signal.SIGKILL)
    assert _wait_ok(base, "/notes", anon) < 5
    api_pid = engine.runner.info(f"flux-{h}-shop-api").pid
    os.kill(api_pid, signal.SIGKILL)
    time.sleep(0.05)
    assert _wait_ok(base, "/notes", anon) < 5
    deadline = time.monotonic() + 2
    while engine.status(project) != "running" and time.monotonic() < deadline:
        time.sleep(0.02)  # the new REST process answers a moment before the runner marks it
    assert engine.status(project) == "running"
    assert engine.runner.info(f"flux-{h}-shop-api").pid not in (None, api_pid)

    new_secret = client.post(f"/projects/{h}/secrets/rotate").json()["jwtSecret"]
    fresh = client.get(f"/projects/{h}/credentials").json()
    assert fresh["jwtSecret"] == new_secret and fresh["anonKey"] != anon
    assert _get(base, "/notes", anon).status_code == 401
    assert _get(base, "/notes", fresh["anonKey"]).status_code == 200

    data = _project(ctx, h).runner_data
    root = engine.home / "projects" / data["dir"]
    pids = [engine.runner.info(n).pid for n in engine.runner.names()]
    assert client.delete(f"/projects/{h}?skipBackupCheck=true").status_code == 200
    assert not root.exists()
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert port_is_free(data["pg_port"]) and port_is_free(data["api_port"])
    assert engine.runner.names() == []


def test_lifecycle_routes_status_env_and_audit(platform):
    ctx, engine, client = platform
    h, creds = _create(client, "life")
    _seed(creds)
    listed = {p["hash"]: p for p in client.get("/list").json()["projects"]}
    assert listed[h]["status"] == "running"

    stopped = client.post(f"/projects/{h}/lifecycle", json={"action": "stop"}).json()
    assert stopped["status"] == "stopped" and stopped["action"] == "stop"
    assert _project(ctx, h).runner_data["desired"] == "stopped"
    assert client.get(f"/projects/{h}").json()["project"]["status"] == "stopped"

    started = client.post(f"/projects/{h}/lifecycle", json={"action": "start"}).json()
    assert started["status"] == "running"
    base = _rest(ctx, engine, h)
    assert _get(base, "/notes?id=eq.2", creds["anonKey"]).json() == [{"id": 2, "body": "world"}]

    repaired = client.post(f"/projects/{h}/lifecycle", json={"action": "repair"}).json()
    assert repaired["status"] == "running" and repaired["done"]

    env = client.get(f"/projects/{h}/env").json()["env"]
    assert env["PGRST_DB_SCHEMAS"] == "api" and env["PGRST_JWT_SECRET"] == "********"
    assert creds["jwtSecret"] not in str(env)

    suspended = client.post(f"/projects/{h}/lifecycle", json={"action": "suspend"}).json()
    assert suspended["status"] == "suspended"
    assert _project(ctx, h).status == "suspended"
    resumed = client.post(f"/projects/{h}/lifecycle", json={"action": "resume"}).json()
    assert resumed["status"] == "running"

    bad = client.post(f"/projects/{h}/lifecycle", json={"action": "explode"})
    assert bad.status_code == 422
    with ctx.catalog.connection() as conn:
        actions = [e["action"] for e in audit.entries(conn, tenant_id=_project(ctx, h).tenant_id)]
    for action in ("stop", "start", "repair", "suspend", "resume"):
        assert f"project.{action}" in actions
    client.delete(f"/projects/{h}?skipBackupCheck=true")


def test_v2_projects_suspend_but_have_no_processes(platform):
    ctx, _, client = platform
    res = client.post("/create", json={"name": "shared-one", "mode": "v2_shared"})
    h = res.json()["project"]["hash"]
    for action in ("start", "stop", "repair"):
        res = client.post(f"/projects/{h}/lifecycle", json={"action": action})
        assert res.status_code == 422 and "suspend/resume" in res.json()["hint"]
    assert client.get(f"/projects/{h}/env").status_code == 422
    res = client.post(f"/projects/{h}/lifecycle", json={"action": "suspend"}).json()
    assert res["status"] == "suspended"
    listed = {p["hash"]: p for p in client.get("/list").json()["projects"]}
    assert listed[h]["status"] == "suspended"
    assert client.post(f"/projects/{h}/lifecycle", json={"action": "resume"}).json()["status"] == (
        "active"
    )
    client.delete(f"/projects/{h}?skipBackupCheck=true")


def test_platform_restart_restores_running_projects(platform, tmp_path):
    ctx, engine, client = platform
    up, upcreds = _create(client, "stays-up")
    down, _ = _create(client, "stays-down")
    _seed(upcreds)
    client.post(f"/projects/{down}/lifecycle", json={"action": "stop"})
    engine.shutdown()  # `flux up` stopped
    assert engine.status(_project(ctx, up)) == "stopped"

    again = _dedicated(engine.home, engine.templates)
    ctx.engines["v1_dedicated"] = again
    try:
        outcome = restore_dedicated(ctx)
        assert {p.hash: err for p, err in outcome} == {up: None}
        assert again.status(_project(ctx, up)) == "running"
        assert again.status(_project(ctx, down)) == "stopped"
        base = again.api_url(_project(ctx, up))
        assert _get(base, "/notes?id=eq.1", upcreds["anonKey"]).json()[0]["body"] == "hello"
    finally:
        client.delete(f"/projects/{up}")
        client.delete(f"/projects/{down}")
        again.shutdown()


def test_failed_create_via_api_rolls_back(platform, embedded):
    ctx, engine, client = platform
    engine.rest_command = ["/bin/sh", "-c", "echo 'rest: refusing to start' >&2; exit 4"]
    res = client.post("/create", json={"name": "doomed", "mode": "v1_dedicated"})
    assert res.status_code == 500
    assert "rolled back" in res.json()["error"] and "refusing" in res.json()["hint"]
    assert client.get("/list").json()["projects"] == []
    assert not list((engine.home / "projects").iterdir())
    assert engine.runner.names() == []
