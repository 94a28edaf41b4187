"""Gateway fixtures: a real catalog database, projects in it, a real loopback upstream, Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import psycopg
import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message

from flux.postgres import free_port
from flux.rest.auth import PoolAuthenticator

CATALOG_SQL = Path(__file__).resolve().parents[2] / "src/flux/catalog/sql/0001_init.sql"
POOL_SECRET = "pool-secret-" + "x" * 40


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Project:
    tenant_id: str
    slug: str
    hash: str
    secret: str
    mode: str

    @property
    def host(self) -> str:
        return f"api--{self.slug}--{self.hash}.localhost"

    @property
    def shortid(self) -> str:
        return self.tenant_id.replace("-", "")[:12]

    def token(self, **claims: object) -> str:
        payload = {"sub": "user-1", "exp": int(time.time()) + 300, **claims}
        return jwt.encode(payload, self.secret, algorithm="HS256")

    def auth(self, **claims: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**claims)}"}


class Catalog:
    """A real flux_system schema in a fresh database, with helpers to add projects."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(CATALOG_SQL.read_text())
            self.owner = conn.execute(
                "INSERT INTO users (email) VALUES ('owner@example.com') RETURNING id"
            ).fetchone()[0]

    def add_project(
        self,
        slug: str,
        *,
        mode: str = "v2_shared",
        plan: str = "free",
        tenant_id: str | None = None,
        **columns: object,
    ) -> Project:
        tenant_id = tenant_id or str(uuid.uuid4())
        hash_ = uuid.uuid4().hex[:7]
        secret = uuid.uuid4().hex + uuid.uuid4().hex
        values = {
            "tenant_id": tenant_id,
            "slug": slug,
            "hash": hash_,
            "owner_id": self.owner,
            "mode": mode,
            "plan": plan,
            "jwt_secret": secret,
            **{k: json.dumps(v) if isinstance(v, dict) else v for k, v in columns.items()},
        }
        names = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        self.execute(f"INSERT INTO projects ({names}) VALUES ({marks})", tuple(values.values()))
        return Project(tenant_id, slug, hash_, secret, mode)

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []


@pytest.fixture
def catalog(fresh_db: str) -> Catalog:
    return Catalog(fresh_db)


class ServerThread:
    """A real uvicorn server on a loopback port, in a background thread."""

    def __init__(self, app: ASGIApp, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class RedisServer:
    """A throwaway redis-server on a free loopback port (no persistence); stop/start by pid."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class EchoPool:
    """A stand-in backend for routing tests: verifies the bridge token with the REST engine's
    own PoolAuthenticator and echoes what it received (the real pool: test_pool.py)."""

    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.auth = PoolAuthenticator(POOL_SECRET)
        self.hold = hold
        self.calls = 0

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        request = Request(scope, receive)
        body = await request.body()
        if self.hold is not None:
            await self.hold.wait()
        result = self.auth.authenticate(request.headers.get("authorization"))
        response = JSONResponse(
            {
                "path": scope["path"],
                "raw_path": scope.get("raw_path", b"").decode(),
                "query": scope["query_string"].decode(),
                "role": result.role,
                "schema": result.schema,
                "claims": result.claims,
                "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                "body": body.decode(),
            }
        )
        await response(scope, receive, send)


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Run an ASGI app's lifespan startup/shutdown around a block (ASGITransport does not)."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    message = await outbox.get()
    if message["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"lifespan startup failed: {message}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


async def clear_of_window_edge(seconds_needed: float) -> None:
    """Rate-limit windows are epoch minutes; wait for a fresh one when the current one ends
    within `seconds_needed`, so a test's requests all count in one window."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        await asyncio.sleep(left + 0.05)
