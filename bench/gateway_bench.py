"""Gateway overhead benchmark (a script, not a test: it prints figures, it does not judge).

GET one row by primary key with a project JWT through the gateway (real uvicorn on loopback,
REST pool called in process, bridge JWT per request) vs. the same request sent straight to
`flux rest` — in single mode (same database, same tenant role, role from the JWT) and in pool
mode (with a bridge JWT) — all in the same run, alternating rounds after a warm-up.
gateway/pool isolates the gateway's own cost; gateway/direct is what a user sees. With
`--projects N`, a last phase sends random-host traffic over N projects through the gateway.

Load: `wrk` (Lua script) when installed, else an asyncio httpx generator. Besides req/s, p50
and p99, each server's CPU time per request is reported: on a busy shared machine it is a far
steadier measure of cost than throughput.

    python bench/gateway_bench.py [--duration 10] [--warmup 3] [--connections 16]
                                  [--rounds 2] [--projects 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import psycopg
from benchlib import (
    FLUX_REST,
    LoadResult,
    httpx_load,
    run_wrk,
    serve_asgi,
    spawn,
    start_cluster,
    stop,
)
from psycopg.conninfo import make_conninfo

from flux.catalog.db import Catalog
from flux.catalog.plans import Plan, get_plan
from flux.catalog.projects import insert_project
from flux.catalog.users import create_user
from flux.engines.v2_shared import POOL_LOGIN_ROLE, SharedEngine, names_for, prepare_shared_database
from flux.gateway.bridge import sign_hs256
from flux.naming import new_hash
from flux.postgres import Cluster, free_port

POOL_SECRET = "bench-pool-secret-" + uuid.uuid4().hex + uuid.uuid4().hex
POOL_LOGIN_PASSWORD = uuid.uuid4().hex
ROWS = 1000
ROW_ID = 42


@dataclass
class Tenant:
    slug: str
    hash: str
    secret: str
    schema: str
    role: str
    tenant_id: str


@dataclass
class Target:
    """Where to send load: a base URL, (path, Authorization) pairs picked at random, a pid."""

    name: str
    base: str
    requests: list[tuple[str, str]]
    pid: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- set-up
def start_platform_cluster(root: Path) -> Cluster:
    """A cluster with a migrated catalog (flux_system) and a prepared flux_shared database."""
    cluster = start_cluster(root, {"fsync": "off", "max_connections": "200"})
    with psycopg.connect(cluster.socket_conninfo(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE flux_system")
        conn.execute("CREATE DATABASE flux_shared")
    Catalog(cluster.socket_conninfo(dbname="flux_system")).migrate()
    prepare_shared_database(
        cluster.socket_conninfo(dbname="flux_shared"),
        "flux_shared",
        POOL_LOGIN_PASSWORD,
        pool_secret=POOL_SECRET,
    )
    return cluster


def add_tenants(cluster: Cluster, slugs: list[str], rows: int) -> list[Tenant]:
    """Catalog rows + SPEC §6 provisioning + an `items` table of `rows` rows, per slug."""
    catalog = Catalog(cluster.socket_conninfo(dbname="flux_system"))
    shared = cluster.socket_conninfo(dbname="flux_shared")
    engine = SharedEngine(shared, pool_secret=POOL_SECRET)
    tenants = []
    with catalog.transaction() as conn:
        owner = conn.execute("SELECT id FROM users LIMIT 1").fetchone()
        owner_id = owner["id"] if owner else create_user(conn, "bench@example.com", None).id
        plan: Plan | None = get_plan(conn, "enterprise")
        assert plan is not None
        for slug in slugs:
            secret = uuid.uuid4().hex + uuid.uuid4().hex
            project = insert_project(
                conn,
                tenant_id=uuid.uuid4(),
                slug=slug,
                hash_=new_hash(),
                owner_id=owner_id,
                mode="v2_shared",
                plan="enterprise",
                cluster_id=None,
                jwt_secret=secret,
            )
            engine.provision(project, plan)
            names = names_for(project)
            with psycopg.connect(shared, autocommit=True) as db, db.transaction():
                db.execute(f"SET LOCAL ROLE {names.ddl_role}")
                db.execute(f"CREATE TABLE {names.schema}.items (id int PRIMARY KEY, name text)")
                db.execute(
                    f"INSERT INTO {names.schema}.items SELECT g, 'item ' || g "
                    f"FROM generate_series(1, {rows}) g"
                )
            tenants.append(
                Tenant(
                    slug,
                    project.hash,
                    secret,
                    names.schema,
                    names.runtime_role,
                    str(project.tenant_id),
                )
            )
        conn.execute("UPDATE projects SET rate_limit_per_minute = 1000000000")
    catalog.close()
    return tenants


# ----------------------------------------------------------------------------- servers
def serve_gateway(config: dict[str, str], port: int) -> None:
    """Child process: gateway + in-process REST pool on uvicorn (uvloop, httptools)."""
    from flux.gateway.app import build_gateway_app
    from flux.gateway.directory import Directory
    from flux.rest.app import build_app
    from flux.rest.config import RestConfig
    from flux.rest.server import tune_garbage_collector

    tune_garbage_collector()  # as `flux up` does for its process
    pool = build_app(
        RestConfig(
            db_uri=config["shared_pool"],
            db_schemas=(),
            pool_mode=True,
            pool_jwt_secret=config["pool_secret"],
            db_pool=10,
        )
    )
    app = build_gateway_app(
        directory=Directory(config["catalog"]),
        pool_app=pool,
        pool_jwt_secret=config["pool_secret"],
        base_domain="localhost",
    )
    serve_asgi(app, port, log_level="warning")


def _bearer(claims: dict, secret: str) -> str:
    return "Bearer " + jwt.encode(
        {"sub": "bench", "exp": int(time.time()) + 3600, **claims}, secret, algorithm="HS256"
    )


def gateway_requests(tenants: list[Tenant], row_id: int) -> list[tuple[str, str]]:
    return [
        (
            f"/api--{t.slug}--{t.hash}/items?id=eq.{row_id}",
            _bearer({"role": "authenticated"}, t.secret),
        )
        for t in tenants
    ]


def start_servers(
    cluster: Cluster, main: Tenant
) -> tuple[list[subprocess.Popen], dict[str, Target]]:
    shared_pool = make_conninfo(
        cluster.socket_conninfo(dbname="flux_shared", user=POOL_LOGIN_ROLE),
        password=POOL_LOGIN_PASSWORD,
    )
    # The single-mode baseline ("direct") is PostgREST's shape: the platform login switches to
    # the tenant role per request, so for this bench only it is made a member of that role.
    with psycopg.connect(cluster.socket_conninfo(dbname="flux_shared"), autocommit=True) as db:
        db.execute(f"GRANT {main.role} TO {POOL_LOGIN_ROLE}")
    gateway_port, direct_port, pool_port = free_port(), free_port(), free_port()
    config = {
        "catalog": cluster.socket_conninfo(dbname="flux_system"),
        "shared_pool": shared_pool,
        "pool_secret": POOL_SECRET,  # tenant logins derive from it: the child must share it
    }
    gateway = spawn(
        [sys.executable, __file__, "--serve-gateway", str(gateway_port)],
        {"GATEWAY_BENCH_CONFIG": json.dumps(config)},
    )
    direct_env = {
        "PGRST_DB_URI": shared_pool,
        "PGRST_DB_SCHEMAS": main.schema,
        "PGRST_JWT_SECRET": main.secret,
        "PGRST_SERVER_HOST": "127.0.0.1",
        "PGRST_SERVER_PORT": str(direct_port),
        "PGRST_DB_POOL": "10",
    }
    pool_env = {
        **direct_env,
        "PGRST_DB_SCHEMAS": "",
        "PGRST_JWT_SECRET": "",
        "PGRST_SERVER_PORT": str(pool_port),
        "FLUX_POOL_MODE": "true",
        "FLUX_POOL_JWT_SECRET": POOL_SECRET,
    }
    direct = spawn(FLUX_REST, direct_env)
    pool = spawn(FLUX_REST, pool_env)
    path = f"/items?id=eq.{ROW_ID}"
    bridge = "Bearer " + sign_hs256(
        {
            "sub": "bench",
            "role": main.role,
            "tenant_id": main.tenant_id,
            "aud": "flux-pool",
            "exp": int(time.time()) + 3600,
        },
        POOL_SECRET,
    )
    targets = {
        "direct": Target(
            "direct",
            f"http://127.0.0.1:{direct_port}",
            [(path, _bearer({"role": main.role}, main.secret))],
            direct.pid,
        ),
        "pool": Target("pool", f"http://127.0.0.1:{pool_port}", [(path, bridge)], pool.pid),
        "gateway": Target(
            "gateway",
            f"http://127.0.0.1:{gateway_port}",
            gateway_requests([main], ROW_ID),
            gateway.pid,
        ),
    }
    return [gateway, direct, pool], targets


def wait_ready(targets: list[Target], expected: object, timeout: float = 60.0) -> None:
    """Every target answers every one of its requests with `expected` (warms caches too)."""
    for target in targets:
        for path, auth in target.requests:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    response = httpx.get(target.base + path, headers={"Authorization": auth})
                    if response.status_code == 200 and response.json() == expected:
                        break
                    detail = f"{response.status_code} {response.text[:200]}"
                except httpx.TransportError as exc:
                    detail = type(exc).__name__
                if time.monotonic() > deadline:
                    raise SystemExit(f"{target.name} not ready: {detail}")
                time.sleep(0.2)


# ----------------------------------------------------------------------------- load
def _lua(requests: list[tuple[str, str]]) -> str:
    paths = ",".join(json.dumps(p) for p, _ in requests)
    auths = ",".join(json.dumps(a) for _, a in requests)
    return (
        f"local paths = {{{paths}}}\nlocal auths = {{{auths}}}\nlocal n = #paths\n"
        "request = function()\n  local i = math.random(n)\n"
        '  return wrk.format("GET", paths[i], {["Authorization"] = auths[i]})\nend\n'
    )


def wrk_load(target: Target, seconds: float, connections: int, workdir: Path) -> LoadResult:
    script = workdir / f"{target.name}.lua"
    script.write_text(_lua(target.requests))
    return run_wrk(target.base, seconds, connections, script=script)


def httpx_target_load(
    target: Target, seconds: float, connections: int, workdir: Path
) -> LoadResult:
    requests = [(target.base + path, auth) for path, auth in target.requests]
    return httpx_load(requests, seconds, connections)


LOAD_TOOLS = {wrk_load: "wrk", httpx_target_load: "httpx"}


def measure(load, target: Target, seconds: float, connections: int, workdir: Path) -> LoadResult:
    before = cpu_seconds(target.pid)
    result = load(target, seconds, connections, workdir)
    result.cpu_us = (cpu_seconds(target.pid) - before) / max(1, result.requests) * 1e6
    return result


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per target")
    parser.add_argument(
        "--projects",
        type=int,
        default=0,
        help="also send random-host traffic over this many projects",
    )
    parser.add_argument("--serve-gateway", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_gateway:
        serve_gateway(json.loads(os.environ["GATEWAY_BENCH_CONFIG"]), args.serve_gateway)
        return

    load = wrk_load if shutil.which("wrk") else httpx_target_load
    root = Path(tempfile.mkdtemp(prefix="flux-gw-bench-"))
    cluster = start_platform_cluster(root)
    processes: list[subprocess.Popen] = []
    results: dict[str, list[LoadResult]] = {}
    try:
        [main_tenant] = add_tenants(cluster, ["bench"], ROWS)
        processes, targets = start_servers(cluster, main_tenant)
        wait_ready(list(targets.values()), [{"id": ROW_ID, "name": f"item {ROW_ID}"}])
        for target in targets.values():
            load(target, args.warmup, args.connections, root)
        results = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, target in targets.items():
                results[name].append(measure(load, target, args.duration, args.connections, root))
        if args.projects:
            started = time.monotonic()
            many = add_tenants(cluster, [f"p{i}" for i in range(args.projects)], 10)
            print(f"provisioned {args.projects} projects in {time.monotonic() - started:.1f}s")
            fleet = Target(
                "fleet", targets["gateway"].base, gateway_requests(many, 7), targets["gateway"].pid
            )
            wait_ready([fleet], [{"id": 7, "name": "item 7"}])
            results[f"{args.projects} projects"] = [
                measure(load, fleet, args.duration, args.connections, root)
            ]
    finally:
        stop(processes)
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    report(results, LOAD_TOOLS[load], args)


def report(results: dict[str, list[LoadResult]], tool: str, args: argparse.Namespace) -> None:
    print(
        f"\nGET /items?id=eq.<n> with a JWT; {tool}, {args.connections} connections, "
        f"{args.rounds} x {args.duration:g}s rounds after {args.warmup:g}s warm-up"
    )
    print(
        f"{'target':<14} {'round':>5} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'server CPU us/req':>18}"
    )
    for name, rounds in results.items():
        for i, r in enumerate(rounds, 1):
            print(
                f"{name:<14} {i:>5} {r.rps:>8.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} "
                f"{r.errors:>6} {r.cpu_us:>18.0f}"
            )
    best = {name: max(rounds, key=lambda r: r.rps) for name, rounds in results.items()}
    cpu = {name: statistics.median(r.cpu_us for r in rounds) for name, rounds in results.items()}
    gateway = best["gateway"]
    print("\nbest rounds (throughput, latency) and median server CPU per request:")
    for base in ("direct", "pool"):
        other = best[base]
        print(
            f"  gateway/{base:<6} throughput = {gateway.rps / other.rps:6.1%}; "
            f"added p50 = {gateway.p50_ms - other.p50_ms:+.2f} ms; "
            f"added p99 = {gateway.p99_ms - other.p99_ms:+.2f} ms; "
            f"CPU/request = {cpu['gateway'] / cpu[base]:6.1%} "
            f"({cpu['gateway'] - cpu[base]:+.0f} us)"
        )


if __name__ == "__main__":
    main()
