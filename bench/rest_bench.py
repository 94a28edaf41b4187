"""`flux rest` read-path benchmark (a script, not a test: it prints figures, it does not judge).

Every throughput figure is paired with a floor measured in the same run: a minimal Starlette
endpoint on the same stack (uvicorn + uvloop + httptools, psycopg 3 async pool, pipeline mode,
same pool size and prepare threshold) that sends PostgreSQL exactly the statements `flux rest`
sends for that request — BEGIN, the set_config() settings, the query, COMMIT — with fixed
parameters: no parsing, planning or JWT work. Before measuring, the script checks with
`log_statement=all` that both servers send the same statement texts.

Measurements:
  pk      GET one row by primary key with a JWT (32 connections): req/s, p50, p99, ratio
  embed   GET 20 rows with a two-level embed: req/s, p99, ratio
  cache   cold load of a 1,000-table schema (from the server's own metrics), against a
          10-table schema loaded in the same run; 2,000 tenant schemas of 10 tables served
          by one pool-mode server (bridge JWTs) — RSS before/after, default and small
          pool-schema-cache-size.

    python bench/rest_bench.py [--duration 10] [--warmup 3] [--connections 32] [--rounds 2]
                               [--wide-tables 1000] [--reloads 3] [--tenants 2000]
                               [--tenant-concurrency 8] [--cache-sizes 1000,100]
                               [--only pk,embed,cache]

Load comes from `wrk` (one thread) when installed, otherwise an asyncio httpx generator in a
separate process. Servers each run in their own process; PostgreSQL is co-located.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import jwt
import psycopg
from benchlib import (
    FLUX_REST,
    LoadResult,
    create_database,
    httpx_load,
    run_wrk,
    serve_asgi,
    spawn,
    start_cluster,
    stop,
)
from psycopg.conninfo import make_conninfo

from flux.engines.v2_shared import login_statements
from flux.postgres import Cluster, free_port
from flux.rest.tenant_pool import RESET_SESSION_DDL

JWT_SECRET = "bench-jwt-secret-" + uuid.uuid4().hex
POOL_SECRET = "bench-pool-secret-" + uuid.uuid4().hex
DB_POOL = 10
PK_ID = 4242
PK_PATH = f"/items?id=eq.{PK_ID}"
EMBED_PATH = "/projects?select=id,name,client:clients(id,name),tasks(id,title,assignee:users(id,name))&order=id&limit=20"


# ----------------------------------------------------------------------------- data
def login(cluster: Cluster, dbname: str, user: str) -> str:
    """The conninfo of one of the bench's login roles (every cluster asks for a password)."""
    return make_conninfo(cluster.socket_conninfo(dbname=dbname, user=user), password="bench-login")


ROLES_SQL = """
CREATE ROLE bench_user NOLOGIN;
CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD 'bench-login';
CREATE ROLE floor_login LOGIN NOINHERIT PASSWORD 'bench-login';
CREATE ROLE pool_login LOGIN NOINHERIT PASSWORD 'bench-login';
GRANT bench_user TO authenticator, floor_login;
"""
SCHEMA_SQL = """
CREATE SCHEMA api;
CREATE TABLE api.items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2),
                        tags text[], created timestamptz NOT NULL DEFAULT now());
INSERT INTO api.items SELECT g, 'item ' || g, g % 1000 / 10.0, ARRAY['t' || g % 7]
  FROM generate_series(1, 10000) g;
CREATE TABLE api.clients (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE api.users (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE api.projects (id int PRIMARY KEY, name text NOT NULL,
                           client_id int REFERENCES api.clients (id));
CREATE TABLE api.tasks (id int PRIMARY KEY, title text NOT NULL,
                        project_id int NOT NULL REFERENCES api.projects (id),
                        assignee_id int REFERENCES api.users (id));
CREATE INDEX ON api.tasks (project_id);
INSERT INTO api.clients SELECT g, 'client ' || g FROM generate_series(1, 100) g;
INSERT INTO api.users SELECT g, 'user ' || g FROM generate_series(1, 50) g;
INSERT INTO api.projects SELECT g, 'project ' || g, 1 + g % 100 FROM generate_series(1, 1000) g;
INSERT INTO api.tasks SELECT g, 'task ' || g, 1 + g % 1000, 1 + g % 50
  FROM generate_series(1, 3000) g;
GRANT USAGE ON SCHEMA api TO bench_user;
GRANT SELECT ON ALL TABLES IN SCHEMA api TO bench_user;
ANALYZE;
"""


def start_bench_cluster(root: Path) -> Cluster:
    cluster = start_cluster(
        root, {"fsync": "off", "max_connections": "200", "log_line_prefix": "%u|"}
    )
    with psycopg.connect(cluster.socket_conninfo(), autocommit=True) as conn:
        conn.execute(ROLES_SQL)
    return cluster


# ----------------------------------------------------------------------------- floor
# The statements `flux rest` sends for PK_PATH and EMBED_PATH, copied from a log_statement=all
# capture (psycopg placeholders; `check_statements()` re-verifies them on every run).
BEGIN_READ = "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
SETTINGS = (
    "SELECT pg_catalog.set_config('role', %s, true), "
    "pg_catalog.set_config('search_path', %s, true), "
    "pg_catalog.set_config('request.jwt.claims', %s, true), "
    "pg_catalog.set_config('request.method', %s, true), "
    "pg_catalog.set_config('request.path', %s, true), "
    "pg_catalog.set_config('request.headers', %s, true), "
    "pg_catalog.set_config('request.cookies', %s, true)"
)
_ENVELOPE = (
    "SELECT null::bigint AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, "
    "coalesce(json_agg(_postgrest_t), '[]')::text AS body, "
    "nullif(current_setting('response.headers', true), '') AS response_headers, "
    "nullif(current_setting('response.status', true), '') AS response_status "
    "FROM ( {} ) _postgrest_t"
)
PK_QUERY = _ENVELOPE.format(
    'SELECT "api"."items".* FROM "api"."items" WHERE "api"."items"."id" = %s'
)
EMBED_QUERY = _ENVELOPE.format(
    'SELECT "api"."projects"."id", "api"."projects"."name", '
    'row_to_json("projects_clients_1".*)::jsonb AS "client", '
    'COALESCE( "projects_tasks_3"."projects_tasks_3", \'[]\') AS "tasks" FROM "api"."projects" '
    'LEFT JOIN LATERAL ( SELECT "clients_1"."id", "clients_1"."name" '
    'FROM "api"."clients" AS "clients_1" WHERE "clients_1"."id" = "api"."projects"."client_id" ) '
    'AS "projects_clients_1" ON TRUE LEFT JOIN LATERAL ( SELECT json_agg("projects_tasks_3")::jsonb '
    'AS "projects_tasks_3" FROM (SELECT "tasks_1"."id", "tasks_1"."title", '
    'row_to_json("tasks_users_2".*)::jsonb AS "assignee" FROM "api"."tasks" AS "tasks_1" '
    'LEFT JOIN LATERAL ( SELECT "users_2"."id", "users_2"."name" FROM "api"."users" AS "users_2" '
    'WHERE "users_2"."id" = "tasks_1"."assignee_id" ) AS "tasks_users_2" ON TRUE '
    'WHERE "tasks_1"."project_id" = "api"."projects"."id" ) AS "projects_tasks_3" ) '
    'AS "projects_tasks_3" ON TRUE ORDER BY "api"."projects"."id" LIMIT 20'
)


def floor_routes(token: str, port: int) -> dict[str, list]:
    """Request target → (settings parameters, query, query parameters), all fixed."""
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    claims_json = json.dumps(claims, separators=(",", ":"))
    headers_json = json.dumps(
        {"host": f"127.0.0.1:{port}", "authorization": f"Bearer {token}"}, separators=(",", ":")
    )

    def settings(path: str) -> list[str]:
        return ["bench_user", '"api", "public"', claims_json, "GET", path, headers_json, "{}"]

    return {
        PK_PATH: [settings("/items"), PK_QUERY, [str(PK_ID)]],
        EMBED_PATH: [settings("/projects"), EMBED_QUERY, []],
    }


def serve_floor(port: int, conninfo: str, routes: dict[str, list]) -> None:
    """Child process: the floor — Starlette on uvicorn, psycopg pool, one pipeline per request."""
    import contextlib

    from psycopg_pool import AsyncConnectionPool
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    pool = AsyncConnectionPool(
        conninfo,
        min_size=DB_POOL,
        max_size=DB_POOL,
        kwargs={"autocommit": True, "prepare_threshold": 5},
        open=False,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await pool.open()
        yield
        await pool.close()

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        target = scope["path"] + "?" + scope["query_string"].decode()
        settings, query, params = routes[target]
        async with pool.connection() as conn:
            async with conn.pipeline():
                await conn.execute(BEGIN_READ)
                await conn.execute(SETTINGS, settings)
                cur = await conn.execute(query, params)
                await conn.execute("COMMIT")
            row = await cur.fetchone()
        return Response(row[2], headers={"Content-Type": "application/json; charset=utf-8"})

    app = Starlette(routes=[Route("/{path:path}", endpoint)], lifespan=lifespan)
    serve_asgi(app, port)


# ----------------------------------------------------------------------------- processes
def flux_rest(env: dict[str, str]) -> subprocess.Popen:
    return spawn(
        FLUX_REST,
        {"PGRST_SERVER_HOST": "127.0.0.1", "PGRST_LOG_LEVEL": "error", **env},
        stdout=subprocess.DEVNULL,
    )


def wait_ok(url: str, token: str | None = None, timeout: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    while True:
        try:
            response = httpx.get(url, headers=headers)
            if response.status_code == 200:
                return response.content
            detail = f"{response.status_code} {response.text[:300]}"
        except httpx.TransportError as exc:
            detail = type(exc).__name__
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} not ready: {detail}")
        time.sleep(0.2)


def rss_mib(process: subprocess.Popen) -> float:
    status = Path(f"/proc/{process.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


# ----------------------------------------------------------------------------- load
def wrk_load(url: str, token: str, seconds: float, connections: int) -> LoadResult:
    return run_wrk(url, seconds, connections, headers=(f"Authorization: Bearer {token}",))


def subprocess_httpx_load(url: str, token: str, seconds: float, connections: int) -> LoadResult:
    """The fallback generator, in its own process so it never shares a core's loop with us."""
    args = json.dumps([url, token, seconds, connections])
    out = subprocess.run(
        [sys.executable, __file__, "--httpx-load", args], capture_output=True, text=True, check=True
    ).stdout
    return LoadResult(**json.loads(out))


def load_fn():
    return wrk_load if shutil.which("wrk") else subprocess_httpx_load


LOAD_TOOLS = {wrk_load: "wrk", subprocess_httpx_load: "httpx"}


# ----------------------------------------------------------------------------- statements
_LOGGED = re.compile(r"^(\w+)\|LOG:  execute [^:]+: (.*)$")


def logged_statements(log_text: str, user: str) -> list[str]:
    """Statement texts one login role sent (multi-line statements joined, whitespace folded)."""
    statements: list[str] = []
    current: list[str] | None = None
    for line in log_text.splitlines():
        match = _LOGGED.match(line)
        if match:
            current = [match.group(2)] if match.group(1) == user else None
            if current is not None:
                statements.append("")
        elif line.startswith("\t") and current is not None:
            current.append(line)
        else:
            current = None
        if current is not None:
            statements[-1] = " ".join(" ".join(current).split())
    return statements


def check_statements(cluster: Cluster, targets: dict[str, tuple[str, str]]) -> bool:
    """Send each path once to both servers with log_statement=all; compare what Postgres saw."""
    superuser = cluster.socket_conninfo()
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)
    mark = cluster.log_file.stat().st_size
    try:
        for base, token in targets.values():
            for path in (PK_PATH, EMBED_PATH):
                wait_ok(base + path, token)
        time.sleep(0.5)
    finally:
        with psycopg.connect(superuser, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET log_statement")
            conn.execute("SELECT pg_reload_conf()")
    with open(cluster.log_file, errors="replace") as log:
        log.seek(mark)
        text = log.read()
    flux = logged_statements(text, "authenticator")
    floor = logged_statements(text, "floor_login")
    same = flux == floor and len(flux) == 8
    if not same:
        print("statement mismatch between flux rest and the floor:")
        for a, b in zip(flux, floor, strict=False):
            if a != b:
                print(f"  flux : {a}\n  floor: {b}")
        print(f"  ({len(flux)} vs {len(floor)} statements)")
    return same


# ----------------------------------------------------------------------------- pk / embed
def bench_reads(cluster: Cluster, args: argparse.Namespace) -> None:
    create_database(cluster, "bench", SCHEMA_SQL)
    token = jwt.encode(
        {"role": "bench_user", "sub": "bench", "exp": int(time.time()) + 24 * 3600},
        JWT_SECRET,
        algorithm="HS256",
    )
    flux_port, floor_port = free_port(), free_port()
    floor_env = {
        "REST_BENCH_FLOOR": json.dumps(
            [
                login(cluster, "bench", "floor_login"),
                floor_routes(token, floor_port),
            ]
        )
    }
    processes = [
        flux_rest(
            {
                "PGRST_DB_URI": login(cluster, "bench", "authenticator"),
                "PGRST_DB_SCHEMAS": "api",
                "PGRST_JWT_SECRET": JWT_SECRET,
                "PGRST_SERVER_PORT": str(flux_port),
                "PGRST_DB_POOL": str(DB_POOL),
            }
        ),
        spawn([sys.executable, __file__, "--serve-floor", str(floor_port)], floor_env),
    ]
    targets = {
        "floor": (f"http://127.0.0.1:{floor_port}", token),
        "flux": (f"http://127.0.0.1:{flux_port}", token),
    }
    load = load_fn()
    try:
        for path in (PK_PATH, EMBED_PATH):
            bodies = {name: wait_ok(base + path, tok) for name, (base, tok) in targets.items()}
            if bodies["floor"] != bodies["flux"]:
                raise SystemExit(f"bodies differ for {path}: {bodies}")
        same = check_statements(cluster, targets)
        print(f"statements sent by flux rest and by the floor identical: {'yes' if same else 'NO'}")
        results: dict[tuple[str, str], list[LoadResult]] = {}
        for label, path in (("pk", PK_PATH), ("embed", EMBED_PATH)):
            if label not in args.only:
                continue
            for base, tok in targets.values():
                load(base + path, tok, args.warmup, args.connections)
            for _ in range(args.rounds):
                for name, (base, tok) in targets.items():
                    result = load(base + path, tok, args.duration, args.connections)
                    results.setdefault((label, name), []).append(result)
    finally:
        stop(processes)
    report_reads(results, LOAD_TOOLS[load], args)


def report_reads(
    results: dict[tuple[str, str], list[LoadResult]], tool: str, args: argparse.Namespace
) -> None:
    print(
        f"\n{tool}, {args.connections} connections, {args.rounds} x {args.duration:g}s rounds "
        f"(alternating) after {args.warmup:g}s warm-up; db-pool {DB_POOL} on both servers"
    )
    print(
        f"{'request':<6} {'server':<6} {'round':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'err':>5}"
    )
    for (label, name), rounds in results.items():
        for i, r in enumerate(rounds, 1):
            print(
                f"{label:<6} {name:<6} {i:>5} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
                f"{r.errors:>5}"
            )
    print("\nbest round of each (flux rest / floor); paired = median of round-by-round ratios:")
    for label in ("pk", "embed"):
        if (label, "flux") not in results:
            continue
        paired = statistics.median(
            a.rps / b.rps
            for a, b in zip(results[(label, "flux")], results[(label, "floor")], strict=True)
        )
        flux = max(results[(label, "flux")], key=lambda r: r.rps)
        floor = max(results[(label, "floor")], key=lambda r: r.rps)
        print(
            f"  {label:<6} flux {flux.rps:7.0f} req/s p50 {flux.p50_ms:5.2f} p99 {flux.p99_ms:6.2f} ms"
            f" | floor {floor.rps:7.0f} req/s p50 {floor.p50_ms:5.2f} p99 {floor.p99_ms:6.2f} ms"
            f" | ratio {flux.rps / floor.rps:6.1%}, paired {paired:6.1%}"
        )


# ----------------------------------------------------------------------------- schema cache
# A chain of tables (each references the previous one), so relationships are part of the load.
WIDE_SQL = """
CREATE SCHEMA {schema};
GRANT USAGE ON SCHEMA {schema} TO bench_user;
DO $$
BEGIN
  FOR i IN 1..{tables} LOOP
    EXECUTE format(
      'CREATE TABLE {schema}.t%s (id int PRIMARY KEY, name text NOT NULL, value numeric(12,2),'
      ' tags text[], created timestamptz NOT NULL DEFAULT now(), parent_id int %s)',
      i, CASE WHEN i > 1 THEN format('REFERENCES {schema}.t%s (id)', i - 1) ELSE '' END);
  END LOOP;
END $$;
GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO bench_user;
"""

TENANT_FN_SQL = """
CREATE FUNCTION bench_tenant(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE ROLE %I NOLOGIN', 't_' || s || '_role');
  EXECUTE format('CREATE SCHEMA %I', 't_' || s || '_api');
  FOR i IN 1..10 LOOP
    EXECUTE format(
      'CREATE TABLE %I.t%s (id int PRIMARY KEY, name text NOT NULL, value numeric(12,2),'
      ' created timestamptz NOT NULL DEFAULT now(), parent_id int %s)',
      't_' || s || '_api', i,
      CASE WHEN i > 1 THEN format('REFERENCES %I.t%s (id)', 't_' || s || '_api', i - 1) END);
  END LOOP;
  EXECUTE format('INSERT INTO %I.t1 VALUES (1, %L, 1.5, now(), NULL)', 't_' || s || '_api', s);
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', 't_' || s || '_api', 't_' || s || '_role');
  EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I',
                 't_' || s || '_api', 't_' || s || '_role');
END $$;
"""


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def schema_loads(admin: str) -> tuple[int, float]:
    """(loads, total seconds) from the server's own Prometheus metrics."""
    text = httpx.get(f"{admin}/metrics").text
    return (
        int(_metric(text, "flux_rest_schema_cache_load_seconds_count")),
        _metric(text, "flux_rest_schema_cache_load_seconds_sum"),
    )


def bench_cold_load(cluster: Cluster, args: argparse.Namespace) -> None:
    """Cold load of a 1,000-table schema vs. a 10-table one, same server, same run."""
    sql = WIDE_SQL.format(schema="wide", tables=args.wide_tables)
    sql += WIDE_SQL.format(schema="small", tables=10)
    started = time.perf_counter()
    create_database(cluster, "wide", sql)
    print(f"\ncreated {args.wide_tables} + 10 tables in {time.perf_counter() - started:.1f}s")
    port, admin_port = free_port(), free_port()
    server = flux_rest(
        {
            "PGRST_DB_URI": login(cluster, "wide", "authenticator"),
            "PGRST_DB_SCHEMAS": "wide,small",
            "PGRST_JWT_SECRET": JWT_SECRET,
            "PGRST_SERVER_PORT": str(port),
            "PGRST_ADMIN_SERVER_PORT": str(admin_port),
        }
    )
    admin = f"http://127.0.0.1:{admin_port}"
    token = jwt.encode(
        {"role": "bench_user", "exp": int(time.time()) + 3600}, JWT_SECRET, algorithm="HS256"
    )
    headers = {"Authorization": f"Bearer {token}"}
    loads: dict[str, list[float]] = {"small": [], "wide": []}
    first_request: dict[str, float] = {}
    try:
        wait_ok(f"{admin}/live")
        for schema in ("small", "wide"):  # cold: the first request of each schema loads it
            before = schema_loads(admin)
            started = time.perf_counter()
            response = httpx.get(
                f"http://127.0.0.1:{port}/t1?select=id&limit=1",
                headers={**headers, "Accept-Profile": schema},
                timeout=60,
            )
            first_request[schema] = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.text
            after = schema_loads(admin)
            loads[schema].append((after[1] - before[1]) * 1000)
        with psycopg.connect(cluster.socket_conninfo(dbname="wide"), autocommit=True) as conn:
            for _ in range(args.reloads):
                for schema in ("small", "wide"):
                    before = schema_loads(admin)
                    conn.execute(f"NOTIFY pgrst, 'reload schema {schema}'")
                    deadline = time.monotonic() + 30
                    while (after := schema_loads(admin))[0] == before[0]:
                        if time.monotonic() > deadline:
                            raise SystemExit("schema reload did not happen")
                        time.sleep(0.02)
                    loads[schema].append((after[1] - before[1]) * 1000)
    finally:
        stop([server])
    print(f"schema cache load ({args.reloads} NOTIFY reloads after the cold load):")
    for schema, label in (("small", "10 tables"), ("wide", f"{args.wide_tables} tables")):
        ms = loads[schema]
        print(
            f"  {label:<12} cold {ms[0]:7.1f} ms (first request {first_request[schema]:7.1f} ms);"
            f" reloads median {statistics.median(ms[1:]) if ms[1:] else float('nan'):7.1f} ms"
        )
    print(f"  ratio wide/small (cold) = {loads['wide'][0] / loads['small'][0]:.1f}x")


def create_tenants(cluster: Cluster, count: int) -> list[uuid.UUID]:
    """`count` tenant schemas t_<shortid>_api of 10 tables with their roles, like v2 shared."""
    from flux.naming import shortid

    tenants = [uuid.uuid4() for _ in range(count)]
    create_database(cluster, "tenants", TENANT_FN_SQL)
    started = time.perf_counter()
    with psycopg.connect(cluster.socket_conninfo(dbname="tenants"), autocommit=True) as conn:
        conn.execute(RESET_SESSION_DDL)
        for i in range(0, count, 50):
            batch = [shortid(t) for t in tenants[i : i + 50]]
            with conn.transaction():
                conn.execute("SELECT bench_tenant(s) FROM unnest(%s::text[]) s", [batch])
                for short in batch:  # the tenant's own pool login, as the v2 engine makes it
                    for statement in login_statements(f"t_{short}_role", "tenants", POOL_SECRET):
                        conn.execute(statement)
    print(f"\ncreated {count} tenant schemas x 10 tables in {time.perf_counter() - started:.1f}s")
    return tenants


async def _tenant_pass(base: str, tenants: list[uuid.UUID], concurrency: int) -> tuple[float, int]:
    """GET /t1?id=eq.1 once per tenant with a freshly minted bridge JWT; (seconds, errors).
    Each tenant's row names its own shortid, so a response from another schema is an error."""
    from flux.gateway.bridge import mint_bridge_token
    from flux.naming import shortid

    queue = list(reversed(tenants))
    errors = 0
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def worker() -> None:
            nonlocal errors
            while queue:
                tenant = str(queue.pop())
                token = mint_bridge_token(
                    {"sub": "bench"}, tenant_id=tenant, pool_secret=POOL_SECRET
                )
                response = await client.get(
                    "/t1?id=eq.1", headers={"Authorization": f"Bearer {token}"}
                )
                ok = response.status_code == 200 and response.json()[0]["name"] == shortid(tenant)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, errors


def bench_tenants(cluster: Cluster, args: argparse.Namespace) -> None:
    """2,000 tenants through one pool-mode server per cache size: RSS and pass throughput."""
    import random

    tenants = create_tenants(cluster, args.tenants)
    rows = []
    for size in args.cache_sizes:
        port, admin_port = free_port(), free_port()
        server = flux_rest(
            {
                "PGRST_DB_URI": login(cluster, "tenants", "pool_login"),
                "PGRST_DB_SCHEMAS": "",
                "PGRST_SERVER_PORT": str(port),
                "PGRST_ADMIN_SERVER_PORT": str(admin_port),
                "PGRST_DB_POOL": str(DB_POOL),
                "FLUX_POOL_MODE": "true",
                "FLUX_POOL_JWT_SECRET": POOL_SECRET,
                "FLUX_POOL_SCHEMA_CACHE_SIZE": str(size),
            }
        )
        base, admin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
        try:
            wait_ok(f"{admin}/live")
            asyncio.run(_tenant_pass(base, tenants[:1], 1))
            rss = [rss_mib(server)]
            passes = []
            for order in (tenants, random.sample(tenants, len(tenants))):
                passes.append(asyncio.run(_tenant_pass(base, order, args.tenant_concurrency)))
                rss.append(rss_mib(server))
            loads, load_seconds = schema_loads(admin)
        finally:
            stop([server])
        rows.append((size, rss, passes, loads, load_seconds))
    print(
        f"one pool-mode flux rest, {args.tenants} tenants x 10 tables, GET /t1?id=eq.1 per "
        f"tenant with a fresh bridge JWT, {args.tenant_concurrency} concurrent; pass 1 in "
        "creation order (all cold), pass 2 shuffled"
    )
    print(
        f"{'cache size':>10} {'RSS start':>10} {'after p1':>9} {'after p2':>9} {'p1 req/s':>9} "
        f"{'p2 req/s':>9} {'loads':>6} {'mean load':>10} {'errors':>6}"
    )
    for size, rss, passes, loads, load_seconds in rows:
        rates = [len(tenants) / seconds for seconds, _ in passes]
        print(
            f"{size:>10} {rss[0]:>8.0f}Mi {rss[1]:>7.0f}Mi {rss[2]:>7.0f}Mi {rates[0]:>9.0f} "
            f"{rates[1]:>9.0f} {loads:>6} {load_seconds / max(loads, 1) * 1000:>8.1f}ms "
            f"{sum(e for _, e in passes):>6}"
        )


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per target")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per target")
    parser.add_argument("--wide-tables", type=int, default=1000)
    parser.add_argument("--reloads", type=int, default=3)
    parser.add_argument("--tenants", type=int, default=2000)
    parser.add_argument("--tenant-concurrency", type=int, default=8)
    parser.add_argument(
        "--cache-sizes",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1000, 100],
        help="pool-schema-cache-size values to run the tenant pass with",
    )
    parser.add_argument(
        "--only", type=lambda v: set(v.split(",")), default={"pk", "embed", "cache"}
    )
    parser.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--httpx-load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        conninfo, routes = json.loads(os.environ["REST_BENCH_FLOOR"])
        serve_floor(args.serve_floor, conninfo, routes)
        return
    if args.httpx_load:
        url, token, seconds, connections = json.loads(args.httpx_load)
        result = httpx_load([(url, f"Bearer {token}")], seconds, connections)
        print(json.dumps(result.__dict__))
        return

    root = Path(tempfile.mkdtemp(prefix="flux-rest-bench-"))
    cluster = start_bench_cluster(root)
    try:
        if args.only & {"pk", "embed"}:
            bench_reads(cluster, args)
        if "cache" in args.only:
            bench_cold_load(cluster, args)
            bench_tenants(cluster, args)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
