"""Fixtures for flux.rest tests: a database loaded with the fixture schema, config, app client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

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


def as_user(conninfo: str, user: str) -> str:
    return conninfo.replace("user=postgres", f"user={user}")


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


@pytest.fixture
async def client(rest_config) -> AsyncIterator:
    """An httpx client talking to the ASGI app in-process (lifespan run by the app handle)."""
    import httpx
    from flux.rest.app import build_app

    app = build_app(rest_config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
