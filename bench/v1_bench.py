"""v1 dedicated benchmarks: create → first successful API request (p50/p95), memory per idle
project (Postgres + REST process), and N dedicated projects running at once all answering.

    python bench/v1_bench.py [--creates 20] [--fsync]

Runs the control-plane service `create_project` in process on a throwaway FLUX_HOME (real
catalog, real clusters, real `flux rest` processes). Same-run baselines: a bare cluster
copy + start from the template, and a bare `flux rest` interpreter start (import only), i.e.
the two pieces a dedicated create cannot avoid.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from benchlib import percentile

from flux.catalog import tokens, users
from flux.control import projects as svc
from flux.control.context import ControlContext
from flux.embedded import load_state, open_catalog, start_database
from flux.engines.runners import LocalRunner
from flux.engines.v1_dedicated import DedicatedEngine
from flux.postgres import Cluster, free_port, socket_dir_for


def first_ok(url: str, key: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    raise RuntimeError(f"{url} never answered 200")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB of `pid` and its direct children (a postmaster's backends)."""
    rss = pss = 0
    for each in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name == "Rss":
                    rss += int(value.split()[0])
                elif name == "Pss":
                    pss += int(value.split()[0])
        except OSError:
            continue
    return rss, pss


def baseline_cluster(root: Path, templates: Path) -> float:
    data = root / "baseline-db"
    cluster = Cluster(data, free_port(), socket_dir_for(data, root / "run"))
    started = time.perf_counter()
    cluster.create(templates)
    cluster.start()
    elapsed = time.perf_counter() - started
    cluster.destroy()
    return elapsed


def baseline_rest_import() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import flux.rest.server"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=20)
    parser.add_argument("--fsync", action="store_true", help="keep fsync on (default off)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="flux-v1-bench-"))
    state = load_state(root)
    start_database(state)
    catalog = open_catalog(state)
    engine = DedicatedEngine(
        root,
        state.templates,
        LocalRunner(root / "run" / "units"),
        pg_settings={} if args.fsync else {"fsync": "off"},
    )
    ctx = ControlContext(catalog=catalog, engines={"v1_dedicated": engine})
    with catalog.transaction() as conn:
        user = users.create_user(conn, f"bench-{uuid.uuid4().hex[:6]}@local", None)
        tokens.create_token(conn, user.id, "bench")
    created = []
    try:
        clusters = [baseline_cluster(root, state.templates) for _ in range(3)]
        imports = [baseline_rest_import() for _ in range(3)]
        timings = []
        for i in range(args.creates):
            started = time.perf_counter()
            project, creds = svc.create_project(ctx, user, f"bench {i}", mode="v1_dedicated")
            first_ok(engine.api_url(project) + "/", creds["anonKey"])
            timings.append(time.perf_counter() - started)
            created.append((project, creds))
        time.sleep(3)  # let every project settle to idle
        memories = {n: memory_kib(engine.runner.info(n).pid) for n in engine.runner.names()}
        answered = 0
        with httpx.Client(timeout=5) as client:
            for project, creds in created:
                res = client.get(
                    engine.api_url(project) + "/",
                    headers={"Authorization": f"Bearer {creds['anonKey']}"},
                )
                answered += res.status_code == 200
        n = len(created)
        p50, p95 = statistics.median(timings), percentile(timings, 95)
        base = statistics.median(clusters) + statistics.median(imports)
        print(
            f"baseline: cluster copy+start {statistics.median(clusters) * 1000:.0f} ms, "
            f"`flux rest` import {statistics.median(imports) * 1000:.0f} ms"
        )
        print(
            f"v1 create → first 200 x{n}: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {max(timings) * 1000:.0f} ms (p50 = {p50 / base:.2f}x baseline sum)"
        )
        for label, suffix in (("Postgres", "-db"), ("REST", "-api"), ("total", "")):
            picked = [m for name, m in memories.items() if name.endswith(suffix)]
            rss = sum(m[0] for m in picked) / n / 1024
            pss = sum(m[1] for m in picked) / n / 1024
            print(f"memory per idle project, {label}: RSS {rss:.0f} MiB, PSS {pss:.0f} MiB")
        print(f"{n} dedicated projects running at once: {answered}/{n} answered 200")
    finally:
        for project, _ in created:
            svc.delete_project(ctx, user, project)
        engine.shutdown()
        catalog.close()
        state.cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
