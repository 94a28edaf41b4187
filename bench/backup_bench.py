"""Backup figures (issue 13), through a real `flux up` and the real CLI:

1. a v2 tenant of `--tables` tables × `--rows` rows: `flux backup create` (dump on a snapshot,
   checksum, test restore into a disposable database, row counts compared) wall time;
2. the request p99 of another v2 tenant (GET by primary key through the gateway, 4 clients at
   2 requests/s each, under the free plan's rate limit) before vs during that backup;
3. a v1 dedicated database of `--v1-mb` MiB: `flux backup create` wall time.

Prints the figures; it does not pass or fail. Usage:
    python bench/backup_bench.py [--tables 100 --rows 10000 --v1-mb 256]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import jwt
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import p50_p99  # noqa: E402

from flux.devserver import FluxUp  # noqa: E402


def _ok(result) -> str:
    if result.returncode != 0:
        raise SystemExit(f"{result.args}: {result.stdout}\n{result.stderr}")
    return result.stdout


def _create(up: FluxUp, name: str, mode: str) -> tuple[str, dict]:
    h = json.loads(_ok(up.cli("create", name, "--mode", mode, "--json")))["project"]["hash"]
    creds = json.loads(_ok(up.cli("project", "credentials", name, "--hash", h, "--json")))
    return h, creds


def _push(up: FluxUp, root: Path, name: str, h: str, sql: str) -> None:
    path = root / f"{name}.sql"
    path.write_text(sql)
    _ok(up.cli("push", str(path), "-p", name, "--hash", h, timeout=3600))


def _backup(up: FluxUp, name: str, h: str) -> tuple[float, dict]:
    started = time.monotonic()
    out = _ok(up.cli("backup", "create", "-p", name, "--hash", h, "--json", timeout=7200))
    return time.monotonic() - started, json.loads(out)["backup"]


PACE = 0.5  # seconds between one client's requests: 4 clients ≈ 480 requests/minute


def _load(url: str, token: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        i = 0
        while not stop.is_set():
            i += 1
            started = time.perf_counter()
            client.get(f"{url}/items?id=eq.{i % 100 + 1}").raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            stop.wait(PACE)  # under the free plan's 600 requests/minute


def _p99_window(url: str, token: str, seconds: float | None, until: threading.Event | None):
    stop, latencies = threading.Event(), []
    workers = [threading.Thread(target=_load, args=(url, token, stop, latencies)) for _ in range(4)]
    for w in workers:
        w.start()
    if until is not None:
        until.wait()
    else:
        time.sleep(seconds or 10)
    stop.set()
    for w in workers:
        w.join()
    return p50_p99(latencies), len(latencies)


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--tables", type=int, default=100)
    args.add_argument("--rows", type=int, default=10_000)
    args.add_argument("--v1-mb", type=int, default=256)
    args.add_argument("--skip-v2", action="store_true", help="only the dedicated figure")
    opts = args.parse_args()
    with tempfile.TemporaryDirectory(prefix="flux-bench-backup-") as folder:
        root = Path(folder)
        up = FluxUp(root)
        up.start(timeout=120)
        try:
            if not opts.skip_v2:
                _v2_figures(up, root, opts)
            _v1_figure(up, opts)
        finally:
            up.stop()


def _v2_figures(up: FluxUp, root: Path, opts: argparse.Namespace) -> None:
    big, _ = _create(up, "big", "v2_shared")
    tables = "".join(
        f"create table t{i} (id int primary key, v text);"
        f"insert into t{i} select g, md5(g::text) from generate_series(1, {opts.rows}) g;"
        for i in range(opts.tables)
    )
    _push(up, root, "big", big, tables)
    quiet, creds = _create(up, "quiet", "v2_shared")
    _push(
        up,
        root,
        "quiet",
        quiet,
        "create table items (id int primary key, v text);"
        "insert into items select g, 'x' from generate_series(1, 100) g;",
    )
    now = int(time.time())
    token = jwt.encode(
        {"sub": "b", "role": "authenticated", "iat": now, "exp": now + 7200},
        creds["jwtSecret"],
        algorithm="HS256",
    )
    url = f"http://127.0.0.1:{up.gateway_port}/api--quiet--{quiet}"
    (base50, base99), base_n = _p99_window(url, token, 20, None)
    done = threading.Event()
    result: dict = {}

    def backup() -> None:
        result["seconds"], result["backup"] = _backup(up, "big", big)
        done.set()

    threading.Thread(target=backup).start()
    (dur50, dur99), dur_n = _p99_window(url, token, None, done)
    b = result["backup"]
    print(
        f"v2 tenant {opts.tables} tables x {opts.rows} rows: backup+verify "
        f"{result['seconds']:.1f}s, {b['sizeBytes'] / 2**20:.1f} MiB, {b['rows']} rows, "
        f"{b['label']}"
    )
    print(
        f"other tenant GET by PK, 4 clients: baseline p50 {base50:.1f} ms p99 "
        f"{base99:.1f} ms ({base_n} req); during backup p50 {dur50:.1f} ms p99 "
        f"{dur99:.1f} ms ({dur_n} req)"
    )


def _v1_figure(up: FluxUp, opts: argparse.Namespace) -> None:
    v1, v1creds = _create(up, "dedicated", "v1_dedicated")
    rows = opts.v1_mb * 1024 * 1024 // 300  # ≈300 bytes per row on disk
    started = time.monotonic()
    with psycopg.connect(v1creds["postgres"]["url"], autocommit=True) as conn:
        conn.execute("create table api.blob (id bigint primary key, v text)")
        conn.execute(
            # random hex: compresses about 2:1, like real text, unlike repeated values
            "insert into api.blob select g, md5(random()::text) || md5(random()::text)"
            " || md5(random()::text) || md5(random()::text) || md5(random()::text)"
            " || md5(random()::text) || md5(random()::text) || md5(random()::text)"
            " from generate_series(1, %s) g",
            (rows,),
        )
        size = conn.execute("select pg_database_size(current_database())").fetchone()[0]
    load = time.monotonic() - started
    seconds, b = _backup(up, "dedicated", v1)
    print(
        f"v1 database {size / 2**20:.0f} MiB (loaded in {load:.0f}s): backup+verify "
        f"{seconds:.1f}s, archive {b['sizeBytes'] / 2**20:.1f} MiB, {b['label']}"
    )


if __name__ == "__main__":
    main()
