"""Shared plumbing of the bench/ scripts (not a benchmark itself).

Owns what every load benchmark does the same way: a throwaway PostgreSQL cluster for a run,
child-process start/stop, serving an ASGI app on the measured stack (uvicorn + uvloop +
httptools on loopback), `wrk` invocation and output parsing, the asyncio httpx fallback
generator, and percentiles. Each script keeps its own scenarios, floors and reports.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from flux.postgres import Cluster, free_port, socket_dir_for

FLUX_REST = [sys.executable, "-c", "from flux.rest.server import main; main()"]


# ----------------------------------------------------------------------------- figures
@dataclass
class LoadResult:
    """One load run: throughput, latency percentiles, failed requests, requests sent."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us: float = 0.0  # server-process CPU per request, for callers that measure it


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (an observed value) of `values`."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def p50_p99(latencies_ms: list[float]) -> tuple[float, float]:
    """Interpolated p50 and p99 of a latency sample (statistics.quantiles, n=100)."""
    cuts = statistics.quantiles(latencies_ms, n=100)
    return cuts[49], cuts[98]


# ----------------------------------------------------------------------------- cluster
def start_cluster(root: Path, settings: dict[str, str]) -> Cluster:
    """A started cluster under `root` (templates from $FLUX_TEST_TEMPLATES or root/templates)."""
    templates = Path(os.environ.get("FLUX_TEST_TEMPLATES") or root / "templates")
    data = root / "pg"
    cluster = Cluster(data, free_port(), socket_dir_for(data, root / "run"), settings=settings)
    cluster.create(templates)
    cluster.start()
    return cluster


def create_database(cluster: Cluster, name: str, sql: str) -> None:
    """CREATE DATABASE `name`, then run `sql` in it as the superuser."""
    with psycopg.connect(cluster.socket_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(cluster.socket_conninfo(dbname=name), autocommit=True) as conn:
        conn.execute(sql)


# ----------------------------------------------------------------------------- processes
def spawn(args: list[str], env: dict[str, str], **popen: Any) -> subprocess.Popen:
    """Start a child with `env` layered over this process's environment."""
    return subprocess.Popen(args, env={**os.environ, **env}, **popen)


def stop(processes: list[subprocess.Popen], timeout: float = 15.0) -> None:
    """Terminate every process, then wait for each (killing one that outlives `timeout`)."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve_asgi(app: Any, port: int, log_level: str = "error", **options: Any) -> None:
    """Serve `app` on 127.0.0.1:`port` with uvicorn, uvloop and httptools, no access log."""
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        access_log=False,
        **options,
    )


# ----------------------------------------------------------------------------- wrk
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_ms(text: str) -> float:
    """A wrk latency such as `812.00us`, `1.20ms` or `2.01s`, in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(out: str) -> LoadResult:
    """Figures from `wrk --latency` output; errors = non-2xx/3xx responses + socket errors."""
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors:.*", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(0)))
    return LoadResult(
        float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        wrk_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        wrk_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        errors,
        int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    )


def run_wrk(
    url: str,
    seconds: float,
    connections: int,
    *,
    threads: int = 1,
    script: Path | None = None,
    headers: tuple[str, ...] = (),
) -> LoadResult:
    """One `wrk --latency` run (whole seconds, at least 1) against `url`, parsed."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    for header in headers:
        cmd += ["-H", header]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


# ----------------------------------------------------------------------------- httpx fallback
async def _httpx_workers(
    requests: list[tuple[str, str]], seconds: float, connections: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(limits=limits) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while (start := time.perf_counter()) < deadline:
                url, auth = random.choice(requests)
                response = await client.get(url, headers={"Authorization": auth})
                latencies.append((time.perf_counter() - start) * 1000)
                errors += response.status_code != 200

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors


def httpx_load(requests: list[tuple[str, str]], seconds: float, connections: int) -> LoadResult:
    """GET load from `connections` asyncio workers, each request a random (URL, Authorization)
    pair; errors = responses other than 200. For machines without `wrk`."""
    latencies, errors = asyncio.run(_httpx_workers(requests, seconds, connections))
    p50, p99 = p50_p99(latencies)
    return LoadResult(len(latencies) / seconds, p50, p99, errors, len(latencies))
