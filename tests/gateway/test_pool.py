"""End to end through the real REST pool: catalog → gateway → bridge JWT → flux.rest (pool
mode, in process) → tenant schemas provisioned per SPEC §6 in a real database.

Isolation cases from the issue: each must fail to cross from tenant A to tenant B."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
import psycopg
import pytest

from flux.catalog.plans import Plan
from flux.engines.base import TenantNames
from flux.engines.v2_shared import POOL_LOGIN_ROLE, prepare_shared_database, provision_statements
from flux.gateway.app import build_gateway_app
from flux.gateway.bridge import mint_bridge_token
from flux.gateway.directory import Directory

from .conftest import POOL_SECRET, Project, clear_of_window_edge, lifespan

rest_app = pytest.importorskip("flux.rest.app", reason="flux.rest.app (REST pool) not available")
from flux.rest.config import RestConfig  # noqa: E402

pytestmark = pytest.mark.anyio
AUTH_401 = "authorization required"  # the `error` key of every gateway 401


def provision_tenant(conninfo: str, project: Project, table: str, rows: list[str]) -> None:
    """SPEC §6 v2 provisioning (the engine's own statements) plus one table of rows."""
    s = project.shortid
    role, ddl, schema = f"t_{s}_role", f"t_{s}_ddl", f"t_{s}_api"
    names = TenantNames(schema, role, ddl)
    plan = Plan("test", 1000, timedelta(seconds=5), 5, None)
    dbname = psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"]
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        for statement in provision_statements(names, plan, dbname, POOL_SECRET):
            conn.execute(statement)
        conn.execute(f"SET LOCAL ROLE {ddl}")
        conn.execute(f"CREATE TABLE {schema}.{table} (id int PRIMARY KEY, body text NOT NULL)")
        for i, body in enumerate(rows, 1):
            conn.execute(f"INSERT INTO {schema}.{table} VALUES (%s, %s)", (i, body))
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.{table} TO {role}")
        conn.execute(
            f"CREATE VIEW {schema}.whoami AS SELECT current_user::text AS db_user, "
            "current_setting('request.jwt.claims', true)::json AS claims"
        )
        conn.execute(f"GRANT SELECT ON {schema}.whoami TO {role}")


@dataclass
class Stack:
    app: object
    pool_tokens: list[str]
    a: Project
    b: Project

    def client(self, host: str = "localhost:8000") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=f"http://{host}"
        )


class TokenRecorder:
    """Wraps the pool to remember every bridge token it was handed (to prove none leaks)."""

    def __init__(self, pool) -> None:
        self.pool = pool
        self.tokens: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            for key, value in scope["headers"]:
                if key == b"authorization":
                    self.tokens.append(value.decode().split(" ", 1)[1])
        await self.pool(scope, receive, send)


@pytest.fixture
def tenant_db(fresh_db: str, pg_cluster) -> str:
    """The pool's conninfo (its platform login) on a database prepared like a shared one."""
    dbname = psycopg.conninfo.conninfo_to_dict(fresh_db)["dbname"]
    prepare_shared_database(fresh_db, dbname, "pool-login-password", pool_secret=POOL_SECRET)
    return pg_cluster.socket_conninfo(
        dbname=dbname, user=POOL_LOGIN_ROLE, password="pool-login-password"
    )


async def _stack(
    catalog, fresh_db, tenant_db, redis_url=None, b_limits=None, **limits
) -> tuple[Stack, object]:
    a = catalog.add_project("tenant-a", **limits)
    b = catalog.add_project("tenant-b", **(b_limits or {}))
    provision_tenant(fresh_db, a, "notes", ["a-one", "a-two"])
    provision_tenant(fresh_db, b, "secrets", ["b-secret"])
    pool = rest_app.build_app(
        RestConfig(
            db_uri=tenant_db, db_schemas=(), pool_mode=True, pool_jwt_secret=POOL_SECRET, db_pool=4
        )
    )
    recorder = TokenRecorder(pool)
    app = build_gateway_app(
        directory=Directory(catalog.conninfo, redis_url=redis_url, redis_secret=POOL_SECRET),
        pool_app=recorder,
        pool_jwt_secret=POOL_SECRET,
        base_domain="localhost",
        redis_url=redis_url,
    )
    return Stack(app, recorder.tokens, a, b), pool


@pytest.fixture
async def stack(catalog, fresh_db, tenant_db):
    built, pool = await _stack(catalog, fresh_db, tenant_db, rate_limit_per_minute=1000)
    async with lifespan(pool), lifespan(built.app):
        yield built
    _assert_no_leak(built, [])


def _assert_no_leak(stack: Stack, responses: list[httpx.Response]) -> None:
    for response in responses:
        text = response.text + json.dumps(dict(response.headers))
        assert not any(token in text for token in stack.pool_tokens)


async def test_valid_project_jwt_reads_rows(stack: Stack) -> None:
    a = stack.a
    async with stack.client(a.host) as http:
        response = await http.get("/notes?select=id,body&order=id", headers=a.auth())
    assert response.status_code == 200, response.text
    assert response.json() == [{"id": 1, "body": "a-one"}, {"id": 2, "body": "a-two"}]
    async with stack.client() as http:
        by_path = await http.get(
            f"/api--{a.slug}--{a.hash}/rest/v1/notes?id=eq.2", headers=a.auth()
        )
    assert by_path.status_code == 200 and by_path.json() == [{"id": 2, "body": "a-two"}]
    async with stack.client(a.host) as http:  # supabase-js's default profile
        public = await http.get("/notes?id=eq.1", headers={**a.auth(), "Accept-Profile": "public"})
    assert public.status_code == 200 and public.json() == [{"id": 1, "body": "a-one"}]
    _assert_no_leak(stack, [response, by_path])


async def test_claims_reach_the_database(stack: Stack) -> None:
    a = stack.a
    async with stack.client(a.host) as http:
        response = await http.get(
            "/whoami", headers=a.auth(sub="user-42", role="authenticated", org="x")
        )
    assert response.status_code == 200, response.text
    [result] = response.json()
    assert result["db_user"] == f"t_{a.shortid}_role"
    claims = result["claims"]
    assert claims["sub"] == "user-42" and claims["org"] == "x"
    assert claims["role"] == f"t_{a.shortid}_role" and claims["tenant_id"] == a.tenant_id
    assert claims["aud"] == "flux-pool"
    _assert_no_leak(stack, [response])


async def test_writes_through_the_gateway(stack: Stack) -> None:
    a = stack.a
    async with stack.client(a.host) as http:
        created = await http.post(
            "/notes",
            json={"id": 3, "body": "a-three"},
            headers={**a.auth(), "Prefer": "return=representation", "Content-Profile": "public"},
        )
        if created.status_code == 400 and created.json().get("code") == "PGRST127":
            pytest.skip("the REST pool does not implement writes yet (PGRST127)")
        patched = await http.patch("/notes?id=eq.3", json={"body": "changed"}, headers=a.auth())
        read = await http.get("/notes?id=eq.3", headers=a.auth())
        deleted = await http.delete("/notes?id=eq.3", headers=a.auth())
    assert created.status_code == 201, created.text
    assert created.json() == [{"id": 3, "body": "a-three"}]
    assert patched.status_code == 204
    assert read.json() == [{"id": 3, "body": "changed"}]
    assert deleted.status_code == 204
    _assert_no_leak(stack, [created, patched, read, deleted])


async def test_no_token_and_foreign_secret_are_401(stack: Stack) -> None:
    a, b = stack.a, stack.b
    async with stack.client(a.host) as http:
        for headers in (
            {},
            b.auth(),
            {"Authorization": "Bearer " + a.token(exp=int(time.time()) - 60)},
        ):
            response = await http.get("/notes", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"] == AUTH_401
            assert response.headers["www-authenticate"] == "Bearer"
    assert stack.pool_tokens == []


async def test_isolation_cases_never_cross(stack: Stack) -> None:
    a, b = stack.a, stack.b
    forged = mint_bridge_token({"sub": "x"}, tenant_id=b.tenant_id, pool_secret=POOL_SECRET)
    responses = []
    async with stack.client(b.host) as on_b:
        # tenant A's valid token on tenant B's host
        responses.append(await on_b.get("/secrets", headers=a.auth()))
        # a forged bridge token sent to the gateway from outside
        responses.append(await on_b.get("/secrets", headers={"Authorization": f"Bearer {forged}"}))
    async with stack.client(a.host) as on_a:
        # A's token claiming B's role
        responses.append(await on_a.get("/notes", headers=a.auth(role=f"t_{b.shortid}_role")))
    assert [r.status_code for r in responses] == [401, 401, 401]
    assert all(r.json()["error"] == AUTH_401 for r in responses)
    assert stack.pool_tokens == []

    async with stack.client(a.host) as on_a:
        # A's token asking for B's schema by profile header
        profiled = await on_a.get(
            "/secrets", headers={**a.auth(), "Accept-Profile": f"t_{b.shortid}_api"}
        )
        qualified = await on_a.get(f"/t_{b.shortid}_api.secrets", headers=a.auth())
        write = await on_a.post(
            "/secrets",
            json={"id": 9, "body": "planted"},
            headers={**a.auth(), "Content-Profile": f"t_{b.shortid}_api"},
        )
        openapi = await on_a.get("/", headers=a.auth())
    for response in (profiled, qualified, write):
        assert response.status_code >= 400, response.text
        assert "b-secret" not in response.text
    assert profiled.status_code == 406 and write.status_code == 406
    assert openapi.status_code == 200
    assert "notes" in openapi.text and "secrets" not in openapi.text
    _assert_no_leak(stack, [*responses, profiled, qualified, write, openapi])


async def test_rate_limit_burst_leaves_other_projects_alone(catalog, fresh_db, tenant_db) -> None:
    built, pool = await _stack(catalog, fresh_db, tenant_db, rate_limit_per_minute=20)
    await clear_of_window_edge(15)
    async with (
        lifespan(pool),
        lifespan(built.app),
        built.client(built.a.host) as on_a,
        built.client(built.b.host) as on_b,
    ):
        burst = await asyncio.gather(
            *(on_a.get("/notes?id=eq.1", headers=built.a.auth()) for _ in range(80))
        )
        others = await asyncio.gather(
            *(on_b.get("/secrets", headers=built.b.auth()) for _ in range(10))
        )
    statuses = sorted(r.status_code for r in burst)
    assert statuses.count(200) == 20
    assert set(statuses) == {200, 429}
    limited = [r for r in burst if r.status_code == 429]
    assert all(r.json()["error"] == "rate limit exceeded" for r in limited)
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in limited)
    assert [r.status_code for r in others] == [200] * 10


async def test_redis_stopped_mid_run(catalog, fresh_db, tenant_db, redis_server) -> None:
    unlimited = {"rate_limit_per_minute": 100000}  # this test is about Redis, not limits
    built, pool = await _stack(
        catalog, fresh_db, tenant_db, redis_url=redis_server.url, b_limits=unlimited, **unlimited
    )
    statuses: list[int] = []
    failures: list[str] = []
    async with lifespan(pool), lifespan(built.app), built.client() as http:

        async def traffic(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                for project, table in ((built.a, "notes"), (built.b, "secrets")):
                    response = await http.get(
                        f"/api--{project.slug}--{project.hash}/{table}?limit=1",
                        headers=project.auth(),
                    )
                    statuses.append(response.status_code)
                    if response.status_code != 200:
                        failures.append(response.text)

        await traffic(0.5)
        stopping = asyncio.get_running_loop().run_in_executor(None, redis_server.stop)
        await traffic(1.0)
        await stopping
        built.app.state.gateway.directory.evict()  # force catalog reads with Redis gone
        await traffic(0.5)
    assert len(statuses) > 10 and set(statuses) == {200}, failures[:3]


async def test_gateway_lifespan_runs_the_pool_lifespan(catalog, tenant_db) -> None:
    pool = rest_app.build_app(
        RestConfig(db_uri=tenant_db, db_schemas=(), pool_mode=True, pool_jwt_secret=POOL_SECRET)
    )
    app = build_gateway_app(
        directory=Directory(catalog.conninfo),
        pool_app=pool,
        pool_jwt_secret=POOL_SECRET,
        base_domain="localhost",
    )
    async with lifespan(app):
        assert pool.state.engine.started
    assert not pool.state.engine.started


async def test_slow_query_storm_is_capped_per_project(catalog, fresh_db, tenant_db) -> None:
    """A pg_sleep storm in A: excess requests get 503 at once, B keeps answering quickly."""
    a = catalog.add_project("stormy", rate_limit_per_minute=10_000)
    b = catalog.add_project("calm", rate_limit_per_minute=10_000)
    provision_tenant(fresh_db, a, "notes", ["a"])
    provision_tenant(fresh_db, b, "notes", ["b"])
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        schema = f"t_{a.shortid}_api"
        conn.execute(f"CREATE VIEW {schema}.slow AS SELECT pg_sleep(1)::text AS slept")
        conn.execute(f"GRANT SELECT ON {schema}.slow TO t_{a.shortid}_role")
    pool = rest_app.build_app(
        RestConfig(
            db_uri=tenant_db, db_schemas=(), pool_mode=True, pool_jwt_secret=POOL_SECRET, db_pool=5
        )
    )
    app = build_gateway_app(
        directory=Directory(catalog.conninfo),
        pool_app=pool,
        pool_jwt_secret=POOL_SECRET,
        base_domain="localhost",
        in_flight_cap=3,
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        lifespan(app),
        httpx.AsyncClient(transport=transport, base_url=f"http://{a.host}") as on_a,
        httpx.AsyncClient(transport=transport, base_url=f"http://{b.host}") as on_b,
    ):
        assert (await on_b.get("/notes", headers=b.auth())).status_code == 200  # warm

        async def timed(client: httpx.AsyncClient, path: str, project: Project):
            started = time.monotonic()
            response = await client.get(path, headers=project.auth())
            return response.status_code, time.monotonic() - started

        baseline = [await timed(on_b, "/notes", b) for _ in range(100)]
        storm = [asyncio.create_task(timed(on_a, "/slow", a)) for _ in range(12)]
        await asyncio.sleep(0.1)
        calm = []
        while not all(task.done() for task in storm) or len(calm) < 100:
            calm.append(await timed(on_b, "/notes", b))
        stormed = await asyncio.gather(*storm)
    assert sorted(status for status, _ in stormed) == [200] * 3 + [503] * 9
    assert all(seconds < 0.5 for status, seconds in stormed if status == 503)
    assert all(status == 200 for status, _ in baseline + calm), calm
    # B's p99 during A's storm stays within 2x its own baseline (10 ms floor against the
    # scheduling noise of a shared machine; a B request queued behind A's 1 s sleeps would
    # take hundreds of ms)
    baseline_p99 = _p99([seconds for _, seconds in baseline])
    calm_p99 = _p99([seconds for _, seconds in calm])
    assert calm_p99 <= 2 * max(baseline_p99, 0.010), (baseline_p99, calm_p99)


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
