"""Gateway overhead benchmark (a script, not a test: it prints figures, it does not judge).

GET one row by primary key with a project JWT through the gateway (real uvicorn on loopback,
REST pool called in process, bridge JWT minted per request) vs. the same request sent straight
to `flux rest` — in single mode (same database, same tenant role, role taken from the JWT) and
in pool mode (with a bridge JWT) — all measured in the same run, alternating rounds after a
warm-up. gateway/pool isolates the gateway's own cost; gateway/direct is the user-visible one. Load: `wrk` when installed,
otherwise an asyncio httpx generator. Prints req/s, p50, p99 per target and the ratios.

    python bench/gateway_bench.py [--duration 10] [--warmup 3] [--connections 16] [--rounds 2]
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
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import psycopg

from flux.catalog.db import Catalog
from flux.catalog.plans import get_plan
from flux.catalog.projects import insert_project
from flux.catalog.users import create_user
from flux.engines.v2_shared import POOL_LOGIN_ROLE, SharedEngine, names_for, prepare_shared_database
from flux.gateway.bridge import sign_hs256
from flux.naming import new_hash
from flux.postgres import Cluster, free_port, socket_dir_for

POOL_SECRET = "bench-pool-secret-" + uuid.uuid4().hex + uuid.uuid4().hex
ROWS = 1000
ROW_ID = 42


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us: float = 0.0  # server-process CPU per request: robust on a busy, shared machine


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- set-up
def setup(root: Path) -> tuple[Cluster, dict[str, str]]:
    """A cluster with a catalog and one v2 project holding `items` (1000 rows)."""
    templates = Path(os.environ.get("FLUX_TEST_TEMPLATES") or root / "templates")
    data = root / "pg"
    cluster = Cluster(
        data,
        free_port(),
        socket_dir_for(data, root / "run"),
        settings={"fsync": "off", "max_connections": "200"},
    )
    cluster.create(templates)
    cluster.start()
    with psycopg.connect(cluster.socket_conninfo(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE flux_system")
        conn.execute("CREATE DATABASE flux_shared")
    catalog = Catalog(cluster.socket_conninfo(dbname="flux_system"))
    catalog.migrate()
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    with catalog.transaction() as conn:
        owner = create_user(conn, "bench@example.com", None)
        plan = get_plan(conn, "enterprise")
        project = insert_project(
            conn,
            tenant_id=uuid.uuid4(),
            slug="bench",
            hash_=new_hash(),
            owner_id=owner.id,
            mode="v2_shared",
            plan="enterprise",
            cluster_id=None,
            jwt_secret=secret,
        )
        conn.execute(
            "UPDATE projects SET rate_limit_per_minute = 1000000000 WHERE hash = %s",
            (project.hash,),
        )
    catalog.close()
    assert plan is not None
    shared = cluster.socket_conninfo(dbname="flux_shared")
    prepare_shared_database(shared, "flux_shared", uuid.uuid4().hex)
    SharedEngine(shared).provision(project, plan)
    names = names_for(project)
    with psycopg.connect(shared, autocommit=True) as conn, conn.transaction():
        conn.execute(f"SET LOCAL ROLE {names.ddl_role}")
        conn.execute(f"CREATE TABLE {names.schema}.items (id int PRIMARY KEY, name text NOT NULL)")
        conn.execute(
            f"INSERT INTO {names.schema}.items SELECT g, 'item ' || g "
            f"FROM generate_series(1, {ROWS}) g"
        )
    return cluster, {
        "catalog": cluster.socket_conninfo(dbname="flux_system"),
        "shared_pool": cluster.socket_conninfo(dbname="flux_shared", user=POOL_LOGIN_ROLE),
        "slug": project.slug,
        "hash": project.hash,
        "secret": secret,
        "schema": names.schema,
        "role": names.runtime_role,
        "tenant_id": str(project.tenant_id),
    }


# ----------------------------------------------------------------------------- servers
def serve_gateway(config: dict[str, str], port: int) -> None:
    """Child process: gateway + in-process REST pool on uvicorn (uvloop, httptools)."""
    import uvicorn

    from flux.gateway.app import build_gateway_app
    from flux.gateway.directory import Directory
    from flux.rest.app import build_app
    from flux.rest.config import RestConfig

    pool = build_app(
        RestConfig(
            db_uri=config["shared_pool"],
            db_schemas=(),
            pool_mode=True,
            pool_jwt_secret=POOL_SECRET,
            db_pool=10,
        )
    )
    app = build_gateway_app(
        directory=Directory(config["catalog"]),
        pool_app=pool,
        pool_jwt_secret=POOL_SECRET,
        base_domain="localhost",
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def start_servers(config: dict[str, str]) -> tuple[list[subprocess.Popen], dict[str, tuple]]:
    gateway_port, direct_port, pool_port = free_port(), free_port(), free_port()
    env = {**os.environ, "GATEWAY_BENCH_CONFIG": json.dumps(config)}
    gateway = subprocess.Popen(
        [sys.executable, __file__, "--serve-gateway", str(gateway_port)], env=env
    )
    direct_env = {
        **os.environ,
        "PGRST_DB_URI": config["shared_pool"],
        "PGRST_DB_SCHEMAS": config["schema"],
        "PGRST_JWT_SECRET": config["secret"],
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
    flux_rest = [sys.executable, "-c", "from flux.rest.server import main; main()"]
    direct = subprocess.Popen(flux_rest, env=direct_env)
    pool = subprocess.Popen(flux_rest, env=pool_env)
    now = int(time.time())
    project_jwt = jwt.encode(
        {"sub": "bench", "role": "authenticated", "exp": now + 3600},
        config["secret"],
        algorithm="HS256",
    )
    direct_jwt = jwt.encode(
        {"sub": "bench", "role": config["role"], "exp": now + 3600},
        config["secret"],
        algorithm="HS256",
    )
    bridge_jwt = sign_hs256(
        {
            "sub": "bench",
            "role": config["role"],
            "tenant_id": config["tenant_id"],
            "aud": "flux-pool",
            "exp": now + 3600,
        },
        POOL_SECRET,
    )
    path = f"/items?id=eq.{ROW_ID}"
    targets = {
        "direct": (f"http://127.0.0.1:{direct_port}{path}", direct_jwt, direct.pid),
        "pool": (f"http://127.0.0.1:{pool_port}{path}", bridge_jwt, pool.pid),
        "gateway": (
            f"http://127.0.0.1:{gateway_port}/api--{config['slug']}--{config['hash']}{path}",
            project_jwt,
            gateway.pid,
        ),
    }
    return [gateway, direct, pool], targets


def wait_ready(targets: dict[str, tuple], timeout: float = 30.0) -> None:
    bodies = {}
    for name, (url, token, _) in targets.items():
        deadline = time.monotonic() + timeout
        while True:
            try:
                response = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
                if response.status_code == 200:
                    bodies[name] = response.json()
                    break
                detail = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as exc:
                detail = type(exc).__name__
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} not ready: {detail}")
            time.sleep(0.2)
    expected = [{"id": ROW_ID, "name": f"item {ROW_ID}"}]
    if any(body != expected for body in bodies.values()):
        raise SystemExit(f"unexpected bodies: {bodies}")


# ----------------------------------------------------------------------------- load
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(name: str, url: str, token: str, seconds: float, connections: int) -> Result:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    count = int(bad.group(1)) if bad else 0
    if errors:
        count += sum(int(n) for n in re.findall(r"\d+", errors.group(0)))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return Result(name, rps, p50, p99, count, requests)


async def _httpx_load(url: str, token: str, seconds: float, connections: int) -> tuple:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits, headers={"Authorization": f"Bearer {token}"}) as c:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while (start := time.perf_counter()) < deadline:
                response = await c.get(url)
                latencies.append((time.perf_counter() - start) * 1000)
                errors += response.status_code != 200

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors


def run_httpx(name: str, url: str, token: str, seconds: float, connections: int) -> Result:
    latencies, errors = asyncio.run(_httpx_load(url, token, seconds, connections))
    cuts = statistics.quantiles(latencies, n=100)
    return Result(name, len(latencies) / seconds, cuts[49], cuts[98], errors, len(latencies))


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per target")
    parser.add_argument("--serve-gateway", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_gateway:
        serve_gateway(json.loads(os.environ["GATEWAY_BENCH_CONFIG"]), args.serve_gateway)
        return

    load = run_wrk if shutil.which("wrk") else run_httpx
    root = Path(tempfile.mkdtemp(prefix="flux-gw-bench-"))
    cluster, config = setup(root)
    processes: list[subprocess.Popen] = []
    try:
        processes, targets = start_servers(config)
        wait_ready(targets)
        for name, (url, token, _) in targets.items():
            load(name, url, token, args.warmup, args.connections)
        results: dict[str, list[Result]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, (url, token, pid) in targets.items():
                before = cpu_seconds(pid)
                result = load(name, url, token, args.duration, args.connections)
                result.cpu_us = (cpu_seconds(pid) - before) / max(1, result.requests) * 1e6
                results[name].append(result)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    report(results, load.__name__.removeprefix("run_"), args)


def report(results: dict[str, list[Result]], tool: str, args: argparse.Namespace) -> None:
    print(
        f"\nGET /items?id=eq.{ROW_ID} with a JWT; {tool}, {args.connections} connections, "
        f"{args.rounds} x {args.duration:g}s rounds after {args.warmup:g}s warm-up"
    )
    print(
        f"{'target':<8} {'round':>5} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'server CPU us/req':>18}"
    )
    for name, rounds in results.items():
        for i, r in enumerate(rounds, 1):
            print(
                f"{name:<8} {i:>5} {r.rps:>8.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} "
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
