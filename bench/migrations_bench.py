"""Migration benchmarks: `flux push` of a directory of N small files through the real platform
(a `flux up` subprocess and the real CLI), the re-push of the same files (all skipped, target
< 1 s), and `flux push --plan`.

    python bench/migrations_bench.py [--files 200] [--repeats 3] [--templates DIR]

Each figure is wall time of the CLI command (interpreter start included) and of the same
request sent straight to the API (`POST /api/cli/v1/push`, i.e. without the CLI). Same-run
baselines: the CLI's own start (`flux --help`) and the same files applied directly with psycopg
as the superuser, one transaction per file, in a scratch schema of the same database — so the
per-file overhead of Flux (guard, adaptation, security-definer execution, post-checks, ledger
row, NOTIFY and schema reload) is `(push - direct) / N`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from flux.cli.user_config import config_path, load_user_config
from flux.devserver import FluxUp
from flux.embedded import load_state


def migration_sql(i: int) -> str:
    return (
        f"create table t{i:04d} (id bigint primary key, label text not null default '');\n"
        f"create index t{i:04d}_label on t{i:04d} (label);\n"
        f"grant select, insert on t{i:04d} to authenticated;\n"
    )


def write_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(1, count + 1):
        path = folder / f"{i:04d}_t{i:04d}.sql"
        path.write_text(migration_sql(i))
        paths.append(path)
    return paths


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def children_cpu() -> float:
    """CPU seconds (user + system) used so far by finished child processes (the CLI runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_cli(fn, *args, **kwargs) -> tuple[float, float, object]:
    """(wall seconds, CLI process CPU seconds, result): on a busy machine the CPU time is the
    figure that does not depend on what else runs."""
    cpu = children_cpu()
    seconds, result = timed(fn, *args, **kwargs)
    return seconds, children_cpu() - cpu, result


def cli_ok(platform: FluxUp, *args: str, cwd: Path) -> str:
    result = platform.cli(*args, cwd=cwd, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"flux {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Api:
    """The push request without the CLI: same body the CLI sends."""

    def __init__(self, platform: FluxUp, hash_: str, paths: list[Path]) -> None:
        token = load_user_config(config_path(platform.home))["token"]
        self.client = httpx.Client(
            base_url=platform.api_base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=1800,
        )
        self.body = {
            "hash": hash_,
            "mode": "versioned",
            "files": [{"filename": p.name, "sql": p.read_text()} for p in paths],
        }

    def push(self, **flags: bool) -> dict:
        res = self.client.post("/cli/v1/push", json={**self.body, **flags})
        res.raise_for_status()
        return res.json()


def direct_apply(conninfo: str, paths: list[Path]) -> float:
    """The floor: each file in its own transaction as the superuser, nothing else (grants go
    to a scratch role, as the push's go to the tenant role)."""
    texts = [p.read_text().replace("to authenticated", "to bench_direct_role") for p in paths]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA bench_direct")
        conn.execute("CREATE ROLE bench_direct_role NOLOGIN")
        try:
            started = time.perf_counter()
            for text in texts:
                with conn.transaction():
                    conn.execute("SET LOCAL search_path TO bench_direct")
                    conn.execute(text.encode())
            return time.perf_counter() - started
        finally:
            conn.execute("DROP SCHEMA bench_direct CASCADE")
            conn.execute("DROP ROLE bench_direct_role")


def best_and_median(samples: list[float]) -> str:
    return f"best {min(samples):.3f} s, median {statistics.median(samples):.3f} s"


def wall_and_cpu(samples: list[tuple[float, float]]) -> str:
    walls = [wall for wall, _ in samples]
    return f"{best_and_median(walls)}; CLI CPU best {min(cpu for _, cpu in samples):.3f} s"


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="flux-mig-bench-") as tmp:
        root = Path(tmp)
        templates = Path(args.templates) if args.templates else root / "templates"
        templates.mkdir(parents=True, exist_ok=True)
        platform = FluxUp(root, templates)
        print(f"flux up started in {platform.start(timeout=120):.2f} s")
        try:
            measure(platform, root, args)
        finally:
            platform.stop()


def measure(platform: FluxUp, root: Path, args: argparse.Namespace) -> None:
    n = args.files
    repo = root / "app"
    paths = write_files(repo / "migrations", n)
    cli_ok(platform, "init", cwd=repo)
    manifest = json.loads((repo / "flux.json").read_text())
    api_project = json.loads(cli_ok(platform, "create", "bench-api", "--json", cwd=root))
    api = Api(platform, api_project["project"]["hash"], paths)

    cli_start = [timed_cli(platform.cli, "--help", cwd=repo)[:2] for _ in range(args.repeats)]

    cli_push, _, out = timed_cli(cli_ok, platform, "push", "--json", cwd=repo)
    report = json.loads(out)
    assert report["applied"] == n, report
    server_ms = sum(f.get("durationMs") or 0 for f in report["files"])
    api_push, api_report = timed(api.push)
    assert api_report["applied"] == n, api_report

    cli_repush: list[tuple[float, float]] = []
    cli_plan: list[tuple[float, float]] = []
    api_repush: list[float] = []
    api_plan: list[float] = []
    for _ in range(args.repeats):
        seconds, cpu, out = timed_cli(cli_ok, platform, "push", "--json", cwd=repo)
        assert json.loads(out)["skipped"] == n
        cli_repush.append((seconds, cpu))
        seconds, again = timed(api.push)
        assert again["skipped"] == n
        api_repush.append(seconds)
        cli_plan.append(timed_cli(cli_ok, platform, "push", "--plan", cwd=repo)[:2])
        api_plan.append(timed(api.push, plan=True)[0])

    direct = direct_apply(load_state(platform.flux_home).shared_conninfo(), paths)

    floor = min(wall for wall, _ in cli_start)
    print(f"\n{n} small migration files (3 statements each), project {manifest['slug']}")
    print(f"  CLI start (flux --help):        {wall_and_cpu(cli_start)}")
    print(
        f"  flux push (all applied):        {cli_push:.2f} s total, "
        f"{cli_push / n * 1000:.1f} ms/file ({(cli_push - floor) / n * 1000:.1f} ms/file "
        "without CLI start)"
    )
    print(
        f"  API push (all applied):         {api_push:.2f} s total, {api_push / n * 1000:.1f} ms/file"
    )
    print(
        f"  server time in files (ledger):  {server_ms / 1000:.2f} s ({server_ms / n:.1f} ms/file)"
    )
    print(f"  direct psycopg, 1 tx per file:  {direct:.2f} s ({direct / n * 1000:.1f} ms/file)")
    print(
        f"  Flux overhead per file:         {(api_push - direct) / n * 1000:.1f} ms (API - direct)"
    )
    verdict = "OK" if min(wall for wall, _ in cli_repush) < 1.0 else "MISSED"
    print(f"  flux push again (all skipped):  {wall_and_cpu(cli_repush)}  [wall < 1 s: {verdict}]")
    print(f"  API push again (all skipped):   {best_and_median(api_repush)}")
    print(f"  flux push --plan:               {wall_and_cpu(cli_plan)}")
    print(f"  API plan:                       {best_and_median(api_plan)}")
    print(f"  (load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--templates", help="initdb templates folder to reuse (else a new one)")
    args = parser.parse_args()
    if args.files < 1 or args.repeats < 1:
        sys.exit("--files and --repeats must be at least 1")
    run(args)


if __name__ == "__main__":
    main()
