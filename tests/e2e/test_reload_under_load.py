"""The reload guarantee (SPEC §7) under load, on every REST worker.

A real `flux up` serves the gateway with its in-process REST pool; two more REST workers run as
separate `flux rest` processes in pool mode on the same shared database and are called with
bridge JWTs minted exactly as the gateway mints them. While background threads keep reading the
project through the gateway and both workers, 20 pushes each add a table (with a foreign key to
a base table, a new column on the base table and a function), and the new shape is queried at
once on all three. No request may see a stale schema, and the load may never get a 5xx.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest

from flux.cli.user_config import config_path, load_user_config
from flux.devserver import FLUX, FluxUp
from flux.embedded import load_state
from flux.gateway.bridge import mint_bridge_token
from flux.postgres import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PUSHES = 20
LOAD_SECONDS_MAX = 240.0  # the load threads stop by themselves after this, whatever happens
STALE_CODES = ("PGRST200", "PGRST202", "PGRST204", "PGRST205")
BASE_SQL = """\
create table base (id int primary key, label text not null);
insert into base values (1, 'one'), (2, 'two');
grant select on base to authenticated;
"""


def _step_sql(i: int) -> str:
    return f"""\
create table t{i} (id int primary key, base_id int not null references base (id), label text);
insert into t{i} values ({i}, 1, 'row {i}');
grant select on t{i} to authenticated;
alter table base add column c{i} int not null default {i};
create function f{i}() returns int language sql stable as $$ select {i} $$;
grant execute on function f{i}() to authenticated;
"""


@dataclass
class Target:
    """One way into the project's data: the gateway (project JWT) or a worker (bridge JWT)."""

    name: str
    base_url: str
    headers: Callable[[], dict[str, str]]  # fresh per request: bridge tokens expire
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def get(self, path: str) -> httpx.Response:
        return self.client.get(self.base_url + path, headers=self.headers())


@dataclass
class Outcomes:
    """What the load generator saw, shared by its threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def record(self, target: str, res: httpx.Response | None, error: str | None = None) -> None:
        with self.lock:
            if res is None:
                self.failures.append(f"{target}: {error}")
                return
            self.statuses[(target, res.status_code)] += 1
            if res.status_code != 200:
                self.failures.append(f"{target}: {res.status_code} {res.text[:300]}")


def _load(target: Target, outcomes: Outcomes, stop: threading.Event) -> None:
    deadline = time.monotonic() + LOAD_SECONDS_MAX
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            res = target.get("/base?select=id,label&order=id")
        except httpx.HTTPError as exc:
            outcomes.record(target.name, None, f"{type(exc).__name__}: {exc}")
            continue
        outcomes.record(target.name, res)


def _create_project(flux_up: FluxUp, name: str) -> tuple[str, str]:
    """Create a v2 project with a high rate limit (the load would exceed the free plan's);
    returns (hash, tenant_id)."""
    result = flux_up.cli("create", name)
    assert result.returncode == 0, result.stderr
    hash_ = re.search(r"\b([0-9a-f]{7})\b", result.stdout).group(1)
    state = load_state(flux_up.flux_home)
    with psycopg.connect(state.catalog_conninfo(), autocommit=True) as conn:
        row = conn.execute(
            "UPDATE projects SET rate_limit_per_minute = 1000000 WHERE hash = %s"
            " RETURNING tenant_id::text, mode",
            (hash_,),
        ).fetchone()
    assert row is not None and row[1] == "v2_shared"
    return hash_, row[0]


def _push(flux_up: FluxUp, hash_: str, filename: str, sql: str) -> None:
    token = load_user_config(config_path(flux_up.home))["token"]
    res = httpx.post(
        f"{flux_up.api_base}/cli/v1/push",
        headers={"Authorization": f"Bearer {token}"},
        json={"hash": hash_, "mode": "versioned", "files": [{"filename": filename, "sql": sql}]},
        timeout=60,
    )
    res.raise_for_status()
    report = res.json()
    assert report["ok"] and report["applied"] == 1, report


def _mint(flux_up: FluxUp, slug: str, hash_: str) -> str:
    result = flux_up.cli("token", "mint", "-p", slug, "--hash", hash_, "--sub", "loader")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def workers(flux_up: FluxUp) -> Iterator[list[str]]:
    """Two `flux rest` pool-mode workers on the shared database; yields their base URLs."""
    state = load_state(flux_up.flux_home)
    procs: list[subprocess.Popen] = []
    urls: list[str] = []
    try:
        for n in range(2):
            port, admin = free_port(), free_port()
            env = {
                **flux_up.env,
                "PGRST_DB_URI": state.pool_conninfo(),
                "PGRST_SERVER_HOST": "127.0.0.1",
                "PGRST_SERVER_PORT": str(port),
                "PGRST_ADMIN_SERVER_PORT": str(admin),
                "FLUX_POOL_MODE": "true",
                "FLUX_POOL_JWT_SECRET": state.pool_jwt_secret,
            }
            log = open(flux_up.root / f"worker{n}.log", "ab")  # noqa: SIM115 (closed by Popen)
            procs.append(
                subprocess.Popen(FLUX + ["rest"], env=env, stdout=log, stderr=subprocess.STDOUT)
            )
            log.close()
            _wait_ready(
                procs[-1], f"http://127.0.0.1:{admin}/ready", flux_up.root / f"worker{n}.log"
            )
            urls.append(f"http://127.0.0.1:{port}")
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"flux rest exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"flux rest did not become ready:\n{log.read_text()}")


def _probes(i: int) -> list[tuple[str, object]]:
    """(path, expected JSON) reading push i's new table (through its new foreign key), its new
    column on `base`, and its new function."""
    return [
        (
            f"/t{i}?select=id,label,base(id,c{i})",
            [{"id": i, "label": f"row {i}", "base": {"id": 1, f"c{i}": i}}],
        ),
        (f"/base?select=id,c{i}&id=eq.2", [{"id": 2, f"c{i}": i}]),
        (f"/rpc/f{i}", i),
    ]


def _stale(res: httpx.Response) -> bool:
    if res.status_code in (400, 404):
        body = (
            res.json() if res.headers.get("content-type", "").startswith("application/json") else {}
        )
        return body.get("code") in STALE_CODES or "column" in str(body.get("message", ""))
    return False


def test_every_worker_sees_each_push_at_once_under_load(flux_up: FluxUp, workers: list[str]):
    hash_, tenant_id = _create_project(flux_up, "loaded")
    _push(flux_up, hash_, "0000_base.sql", BASE_SQL)
    project_jwt = _mint(flux_up, "loaded", hash_)
    claims = jwt.decode(project_jwt, options={"verify_signature": False})
    pool_secret = load_state(flux_up.flux_home).pool_jwt_secret

    def bridge_headers() -> dict[str, str]:
        token = mint_bridge_token(claims, tenant_id=tenant_id, pool_secret=pool_secret)
        return {"Authorization": f"Bearer {token}"}

    targets = [
        Target(
            "gateway",
            f"http://127.0.0.1:{flux_up.gateway_port}/api--loaded--{hash_}",
            lambda: {"Authorization": f"Bearer {project_jwt}"},
        ),
        *(Target(f"worker{n}", url, bridge_headers) for n, url in enumerate(workers)),
    ]
    for target in targets:  # every worker has the schema cached before the pushes start
        res = target.get("/base?select=id")
        assert res.status_code == 200, (target.name, res.text)

    outcomes = Outcomes()
    stop = threading.Event()
    loaders = [
        threading.Thread(
            target=_load,
            args=(Target(t.name, t.base_url, t.headers), outcomes, stop),
            daemon=True,
        )
        for t in targets
    ]
    for thread in loaders:
        thread.start()
    stale: list[str] = []
    checks = 0
    try:
        for i in range(1, PUSHES + 1):
            _push(flux_up, hash_, f"{i:04d}_t{i}.sql", _step_sql(i))
            probes = _probes(i)
            # Who is asked first rotates (a worker right after the push, not only after the
            # gateway), and so does each target's first probe: whichever comes first must
            # already find the new table, column or function (no earlier probe warmed it).
            order = targets[i % len(targets) :] + targets[: i % len(targets)]
            for k, target in enumerate(order):
                start = (i + k) % len(probes)
                for path, expected in probes[start:] + probes[:start]:
                    res = target.get(path)
                    checks += 1
                    if _stale(res):
                        stale.append(f"push {i} {target.name} {path}: {res.status_code} {res.text}")
                    else:
                        assert res.status_code == 200, (i, target.name, path, res.text)
                        assert res.json() == expected, (i, target.name, path, res.text)
    finally:
        stop.set()
        for thread in loaders:
            thread.join(timeout=60)
    server_errors = [f for f in outcomes.failures if re.search(r": 5\d\d ", f)]
    assert not server_errors, "\n".join(server_errors[:20])
    assert not outcomes.failures, "\n".join(outcomes.failures[:20])
    served = Counter()
    for (name, _status), count in outcomes.statuses.items():
        served[name] += count
    assert all(served[t.name] > 0 for t in targets), served
    report = f"{len(stale)} stale of {checks} checks:\n" + "\n".join(stale)
    assert not stale, report
