"""Fixtures for flux.rest tests: a database loaded with the fixture schema, config, app client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from flux.postgres import free_port

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def rest_db(fresh_db: str) -> Iterator[str]:
    """A fresh database with tests/rest/fixtures/schema.sql loaded; yields superuser conninfo."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute((FIXTURES / "schema.sql").read_text())
    yield fresh_db


AUTHENTICATOR_PASSWORD = "authpw"  # set by fixtures/schema.sql


def as_user(conninfo: str, user: str) -> str:
    """`conninfo` logging in as `user` with its password (the fixtures' login roles share one)."""
    return make_conninfo(conninfo, user=user, password=AUTHENTICATOR_PASSWORD)


@pytest.fixture
def authenticator_dsn(rest_db: str) -> str:
    return as_user(rest_db, "authenticator")


JWT_SECRET = "reallyreallyreallyreallyverysafe-secret-for-tests"


@pytest.fixture
def rest_config(authenticator_dsn: str):
    from flux.rest.config import RestConfig

    return RestConfig(
        db_uri=authenticator_dsn,
        db_schemas=("api", "other"),
        db_anon_role="web_anon",
        jwt_secret=JWT_SECRET,
        db_pool=4,
        db_pool_acquisition_timeout=2.0,
    )


@asynccontextmanager
async def app_client(config) -> AsyncIterator:
    """An httpx client talking to the ASGI app in-process, lifespan included."""
    import httpx

    from flux.rest.app import build_app

    app = build_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            http.app = app
            yield http


@pytest.fixture
async def client(rest_config) -> AsyncIterator:
    async with app_client(rest_config) as http:
        yield http


@pytest.fixture
def make_client():
    """`async with make_client(config) as client:` for tests needing a non-default config."""
    return app_client


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"flux rest exited: {proc.stderr.read()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("flux rest did not start")


@pytest.fixture
def rest_server(authenticator_dsn):
    """A real `flux rest` process (uvicorn on loopback): (base URL, admin URL, process)."""
    port, admin_port = free_port(), free_port()
    env = dict(
        os.environ,
        PGRST_DB_URI=authenticator_dsn,
        PGRST_DB_SCHEMAS="api,other",
        PGRST_DB_ANON_ROLE="web_anon",
        PGRST_SERVER_PORT=str(port),
        PGRST_ADMIN_SERVER_PORT=str(admin_port),
        PGRST_DB_POOL="3",
        PGRST_JWT_SECRET="reallyreallyreallyreallyverysafe-secret-for-tests",
        PGRST_SOMETHING_ELSE="1",
        PGRST_DB_PLAN_ENABLED="true",
        PGRST_DB_TX_END="commit-allow-override",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", "from flux.rest.server import main; main()"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_port(port, proc)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
