"""OPTIONS `Allow` per relation (view updatability and INSTEAD OF triggers, read at schema-cache
load) and PostgREST's CORS policy in the standalone server (preflight, exposed headers,
server-cors-allowed-origins)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from flux.rest.app import build_app
from flux.rest.cors import Cors, allowed_headers

pytestmark = pytest.mark.anyio

FIXTURE = Path(__file__).parent / "fixtures" / "openapi.sql"
ORIGIN = "http://app.example"
EXPOSED = (
    "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, "
    "Transfer-Encoding, Range-Unit"
)


@pytest.fixture
def docs_config(rest_db, rest_config):
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute(FIXTURE.read_text())
    return rest_config.with_(db_schemas=("docs",))


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/books", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"),
        ("/visits", "OPTIONS,GET,HEAD,POST,PATCH,DELETE"),  # no primary key: no PUT
        ("/book_titles", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"),  # auto-updatable view
        ("/author_counts", "OPTIONS,GET,HEAD"),
        ("/book_snapshot", "OPTIONS,GET,HEAD"),
        ("/lending", "OPTIONS,GET,HEAD,POST"),  # INSTEAD OF INSERT only
        ("/returns", "OPTIONS,GET,HEAD,DELETE"),  # INSTEAD OF DELETE only
        ("/loans", "OPTIONS,GET,HEAD,POST,PATCH,DELETE"),  # partitioned, no primary key
        ("/", "OPTIONS,GET,HEAD"),
        ("/rpc/search?term=x", "OPTIONS,GET,HEAD,POST"),
        ("/rpc/reshelve?book=1&target=fiction", "OPTIONS,POST"),
    ],
)
async def test_allow_header(docs_config, make_client, path, allow):
    async with make_client(docs_config) as client:
        r = await client.options(path)
    assert r.status_code == 200
    assert r.headers["allow"] == allow
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["content-length"] == "0" and r.content == b""


async def test_unknown_relation_is_404(docs_config, make_client):
    async with make_client(docs_config) as client:
        r = await client.options("/nothing_here")
    assert (r.status_code, r.json()["code"]) == (404, "PGRST205")


async def test_functions_resolve_like_a_get_call(docs_config, make_client):
    async with make_client(docs_config) as client:
        unknown = await client.options("/rpc/nothing_here")
        missing_argument = await client.options("/rpc/search")
    for r in (unknown, missing_argument):
        assert (r.status_code, r.json()["code"]) == (404, "PGRST202")
    assert "docs.search without parameters" in missing_argument.json()["message"]


async def test_server_timing_on_options(docs_config, make_client):
    async with make_client(docs_config.with_(server_timing_enabled=True)) as client:
        r = await client.options("/books")
    names = [part.split(";")[0] for part in r.headers["server-timing"].split(", ")]
    assert names == ["jwt", "parse", "response"]


async def test_preflight_is_permissive_by_default(docs_config, make_client):
    async with make_client(docs_config) as client:
        r = await client.options(
            "/books",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "PATCH",
                "Access-Control-Request-Headers": "Prefer, content-type",
            },
        )
    assert (r.status_code, r.content) == (200, b"")
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["access-control-allow-methods"] == (
        "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD"
    )
    assert r.headers["access-control-allow-headers"] == (
        "Authorization, Prefer, content-type, Accept, Accept-Language, Content-Language"
    )
    assert r.headers["access-control-max-age"] == "86400"
    assert "allow" not in r.headers  # answered before the engine
    assert "access-control-allow-credentials" not in r.headers


async def test_regular_responses_expose_headers(docs_config, make_client):
    async with make_client(docs_config) as client:
        ok = await client.get("/books", headers={"Origin": ORIGIN})
        failed = await client.get("/nothing_here", headers={"Origin": ORIGIN})
        plain = await client.get("/books")
    for r in (ok, failed):
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["access-control-expose-headers"] == EXPOSED
    assert failed.status_code == 404
    assert "access-control-allow-origin" not in plain.headers


async def test_allowed_origins(docs_config, make_client):
    config = docs_config.with_(server_cors_allowed_origins=(ORIGIN, "http://other.example"))
    preflight = {"Access-Control-Request-Method": "POST"}
    async with make_client(config) as client:
        listed = await client.options("/books", headers={"Origin": ORIGIN, **preflight})
        regular = await client.get("/books", headers={"Origin": ORIGIN})
        unlisted = await client.get("/books", headers={"Origin": "http://evil.example"})
        unlisted_preflight = await client.options(
            "/books", headers={"Origin": "http://evil.example", **preflight}
        )
    for r in (listed, regular):
        assert r.headers["access-control-allow-origin"] == ORIGIN
        assert r.headers["access-control-allow-credentials"] == "true"
    assert unlisted.status_code == 200
    assert not any(h.startswith("access-control-") for h in unlisted.headers)
    # the policy ignores the failure: the engine answers the OPTIONS request itself
    assert unlisted_preflight.headers["allow"] == "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    assert "access-control-allow-methods" not in unlisted_preflight.headers


async def test_preflight_for_unknown_method_reaches_the_engine(docs_config, make_client):
    async with make_client(docs_config) as client:
        r = await client.options(
            "/books", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "TRACE"}
        )
    assert r.headers["allow"] == "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
    assert "access-control-allow-methods" not in r.headers


def test_allowed_headers():
    assert allowed_headers(None) == b"Authorization, Accept, Accept-Language, Content-Language"
    assert allowed_headers(b" accept , X-Id,,") == (
        b"Authorization, accept, X-Id, Accept-Language, Content-Language"
    )


def test_pool_mode_leaves_cors_to_the_gateway(rest_config):
    standalone = build_app(rest_config)
    pooled = build_app(rest_config.with_(pool_mode=True, pool_jwt_secret="s"))
    assert [m.cls for m in standalone.user_middleware] == [Cors]
    assert pooled.user_middleware == []
