"""Schema cache: introspection of the fixture schema, views, relationships, LRU, reload."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

import psycopg
import pytest

from flux.rest.schema_cache import SchemaCache, introspect, view_column_origins

pytestmark = pytest.mark.anyio


def _connector(dsn: str):
    @asynccontextmanager
    async def connect():
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        try:
            yield conn
        finally:
            await conn.close()

    return connect


def _rels(snap, source, target):
    return [r for r in snap.relationships.get(source, []) if r.foreign_table == target]


async def test_introspects_relations_columns_and_keys(rest_db):
    async with await psycopg.AsyncConnection.connect(rest_db, autocommit=True) as conn:
        snap = await introspect(conn, "api")
    assert {"clients", "projects", "authors", "books", "big_projects"} <= set(snap.relations)
    clients = snap.relations["clients"]
    assert clients.description == "Our clients"
    assert clients.pk == ("id",)
    assert clients.columns["name"].nullable is False
    assert snap.relations["countries"].pk == ("code", "region")
    assert snap.relations["countries"].columns["code"].type == "character(2)"
    items = snap.relations["items"].columns
    assert items["tags"].type == "text[]" and items["during"].type == "int4range"
    assert snap.relations["tasks"].columns["done"].default == "false"
    assert snap.relations["authors"].is_view
    assert "add" in snap.routines and snap.routines["add"][0].params[1].has_default


async def test_relationship_cardinalities(rest_db):
    async with await psycopg.AsyncConnection.connect(rest_db, autocommit=True) as conn:
        snap = await introspect(conn, "api")
    (m2o,) = _rels(snap, "projects", "clients")
    assert (m2o.cardinality, m2o.constraint, m2o.columns) == (
        "M2O",
        "projects_client_id_fkey",
        (("client_id", "id"),),
    )
    (o2m,) = _rels(snap, "clients", "projects")
    assert o2m.cardinality == "O2M" and o2m.columns == (("id", "client_id"),)
    (o2o,) = _rels(snap, "users", "user_profiles")
    assert o2o.cardinality == "O2O" and o2o.is_parent
    (m2m,) = [r for r in _rels(snap, "users", "tasks") if r.cardinality == "M2M"]
    assert m2m.junction.table == "users_tasks"
    assert m2m.junction.source_columns == (("id", "user_id"),)
    assert m2m.junction.target_columns == (("task_id", "id"),)
    (composite,) = _rels(snap, "cities", "countries")
    assert composite.columns == (("country_code", "code"), ("country_region", "region"))
    assert len(_rels(snap, "messages", "users")) == 2
    assert {r.cardinality for r in _rels(snap, "employees", "employees")} == {"M2O", "O2M"}


async def test_relationships_through_views(rest_db):
    async with await psycopg.AsyncConnection.connect(rest_db, autocommit=True) as conn:
        snap = await introspect(conn, "api")
    (rel,) = _rels(snap, "books", "authors")
    assert rel.cardinality == "M2O" and rel.columns == (("writer_id", "id"),)
    assert rel.foreign_is_view
    # a view over a table of the same schema gets the table's relationships too
    assert _rels(snap, "big_projects", "clients")[0].columns == (("client_id", "id"),)
    assert any(r.foreign_table == "big_projects" for r in snap.relationships["clients"])


def test_view_origins_parser_handles_escapes():
    text = (
        "({QUERY :commandType 1 :rtable ({RTE :targetList ({TARGETENTRY :resname bad "
        ":resorigtbl 9 :resorigcol 9})}) :targetList ({TARGETENTRY :expr {VAR :varno 1} "
        ":resno 1 :resname my\\ col\\(x\\) :ressortgroupref 0 :resorigtbl 16384 "
        ":resorigcol 2 :resjunk false} {TARGETENTRY :resname lit :resorigtbl 0 "
        ":resorigcol 0 :resjunk false}) :jointree <>})"
    )
    assert view_column_origins(text) == {"my col(x)": (16384, 2)}


async def test_cache_lazy_lru_and_background_reload(rest_db):
    loads = []
    cache = SchemaCache(
        _connector(rest_db),
        max_schemas=2,
        on_load=lambda schema, secs: loads.append(schema),
    )
    first = await cache.get("api")
    assert await cache.get("api") is first and loads == ["api"]
    await cache.get("other")
    await cache.get("private")
    assert len(cache) == 2 and cache.cached("api") is None  # least recently used evicted
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE other.fresh (id int)")
    stale = cache.cached("other")
    cache.reload("other")
    assert cache.cached("other") is stale  # still served while the reload runs
    await cache.reload_now("other")
    assert "fresh" in cache.cached("other").relations
    await cache.aclose()


async def test_refresh_serves_requests_from_a_load_begun_after_they_arrived(rest_db):
    import asyncio

    loads = []
    cache = SchemaCache(_connector(rest_db), on_load=lambda schema, secs: loads.append(schema))
    before = time.monotonic()
    snap = await cache.get("api")
    assert snap.loaded_at >= before  # the time its catalog read began
    assert await cache.refresh("api", before) is snap  # fresh enough: no load
    arrived = time.monotonic()
    with psycopg.connect(rest_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE api.just_made (id int)")
    # misses that arrived after the snapshot began share one new load
    fresh = await asyncio.gather(*(cache.refresh("api", arrived) for _ in range(5)))
    assert all(f is fresh[0] for f in fresh) and "just_made" in fresh[0].relations
    assert loads == ["api", "api"]
    # a miss that arrived while an older load runs waits it out, then gets a newer one
    older = asyncio.ensure_future(cache.reload_now("api"))
    await asyncio.sleep(0)  # the older load has begun
    late = time.monotonic()
    newer = await cache.refresh("api", late)
    await older
    assert newer.loaded_at >= late and loads == ["api"] * 4
    await cache.aclose()


async def test_cold_load_of_1000_tables_is_fast(fresh_db):
    ddl = ";".join(
        f"CREATE TABLE big.t{i} (id int PRIMARY KEY, name text, ref int"
        + (f" REFERENCES big.t{i - 1}(id)" if i else "")
        + ", created timestamptz)"
        for i in range(1000)
    )
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA big")
        conn.execute(ddl)
    async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
        await introspect(conn, "big")  # warm the catalog caches of this backend
    best = float("inf")
    for _ in range(3):
        async with await psycopg.AsyncConnection.connect(fresh_db, autocommit=True) as conn:
            started = time.perf_counter()
            snap = await introspect(conn, "big")
            best = min(best, time.perf_counter() - started)
    assert len(snap.relations) == 1000
    assert len(snap.relationships["t5"]) == 2
    assert best < 0.2, f"cold load took {best * 1000:.0f} ms"
