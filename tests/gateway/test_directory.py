"""Tenant resolution from a real flux_system catalog: hashes, slugs, domains, cache, Redis."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
import redis

from flux.gateway.directory import CatalogUnavailable, Directory
from flux.gateway.hosts import RouteKey

from .conftest import POOL_SECRET

pytestmark = pytest.mark.anyio


async def test_resolve_by_hash_slug_and_domain(catalog) -> None:
    app = catalog.add_project("my-app", rate_limit_per_minute=42)
    dedicated = catalog.add_project(
        "ded", mode="v1_dedicated", plan="pro", runner_data={"api_port": 54021}
    )
    catalog.execute(
        "INSERT INTO domains (hostname, tenant_id) VALUES ('data.example.com', %s)",
        (app.tenant_id,),
    )
    directory = Directory(catalog.conninfo)
    try:
        route = await directory.resolve(RouteKey(hash=app.hash, slug="my-app"))
        assert route is not None
        assert (route.tenant_id, route.slug, route.hash, route.mode) == (
            app.tenant_id,
            "my-app",
            app.hash,
            "v2_shared",
        )
        assert route.jwt_secret == app.secret and app.secret not in repr(route)
        assert route.rate_limit_per_minute == 42
        assert (route.status, route.lifecycle_state, route.maintenance) == (
            "active",
            "active",
            False,
        )
        assert route.upstream is None
        assert route.role == f"t_{app.shortid}_role" and route.schema == f"t_{app.shortid}_api"

        assert await directory.resolve(RouteKey(hash=app.hash, slug="old-name")) is None
        assert await directory.resolve(RouteKey(hash="0000000", slug="my-app")) is None
        by_domain = await directory.resolve(RouteKey(hostname="data.example.com"))
        assert by_domain is not None and by_domain.hash == app.hash
        assert await directory.resolve(RouteKey(hostname="nope.example.com")) is None

        ded = await directory.by_hash(dedicated.hash)
        assert ded.mode == "v1_dedicated" and ded.rate_limit_per_minute == 6000
        assert ded.upstream == "http://127.0.0.1:54021"
    finally:
        await directory.aclose()


async def test_cache_until_evicted(catalog) -> None:
    app = catalog.add_project("cached")
    directory = Directory(catalog.conninfo, ttl=300, negative_ttl=300)
    try:
        assert (await directory.by_hash(app.hash)).maintenance is False
        catalog.execute(
            "UPDATE projects SET maintenance = true, slug = 'renamed' WHERE hash = %s", (app.hash,)
        )
        assert (await directory.by_hash(app.hash)).maintenance is False  # cached
        directory.evict(hash=app.hash)
        route = await directory.by_hash(app.hash)
        assert route.maintenance is True and route.slug == "renamed"

        assert await directory.resolve(RouteKey(hostname="late.example.com")) is None
        catalog.execute(
            "INSERT INTO domains (hostname, tenant_id) VALUES ('late.example.com', %s)",
            (app.tenant_id,),
        )
        assert await directory.resolve(RouteKey(hostname="late.example.com")) is None  # negative
        directory.evict(hostname="Late.Example.com.")
        assert (await directory.resolve(RouteKey(hostname="late.example.com"))).hash == app.hash

        catalog.execute("DELETE FROM projects WHERE hash = %s", (app.hash,))
        directory.evict()
        assert await directory.by_hash(app.hash) is None
    finally:
        await directory.aclose()


async def test_short_ttl_refreshes(catalog) -> None:
    app = catalog.add_project("ttl")
    directory = Directory(catalog.conninfo, ttl=0.0)
    try:
        await directory.by_hash(app.hash)
        catalog.execute("UPDATE projects SET status = 'suspended' WHERE hash = %s", (app.hash,))
        assert (await directory.by_hash(app.hash)).status == "suspended"
    finally:
        await directory.aclose()


async def test_unreachable_catalog_is_an_error_value() -> None:
    directory = Directory("host=127.0.0.1 port=1 dbname=x", catalog_timeout=0.5)
    try:
        with pytest.raises(CatalogUnavailable) as info:
            await directory.by_hash("abc1234")
        assert info.value.status == 503
    finally:
        await directory.aclose()


async def test_redis_shared_cache_and_outage(catalog, redis_server) -> None:
    app = catalog.add_project("shared")
    first = Directory(
        catalog.conninfo, redis_url=redis_server.url, redis_secret=POOL_SECRET, ttl=0.0
    )
    second = Directory(
        catalog.conninfo, redis_url=redis_server.url, redis_secret=POOL_SECRET, ttl=0.0
    )
    try:
        assert (await first.by_hash(app.hash)).slug == "shared"
        catalog.execute("UPDATE projects SET slug = 'moved' WHERE hash = %s", (app.hash,))
        assert (await second.by_hash(app.hash)).slug == "shared"  # served from Redis
        first.evict(hash=app.hash)  # clears Redis for everyone
        await first.drain()
        assert (await second.by_hash(app.hash)).slug == "moved"

        redis_server.stop()
        catalog.execute("UPDATE projects SET slug = 'after' WHERE hash = %s", (app.hash,))
        assert (await second.by_hash(app.hash)).slug == "after"  # catalog fallback
    finally:
        await first.aclose()
        await second.aclose()


async def test_routes_in_redis_are_sealed(catalog, redis_server) -> None:
    app = catalog.add_project("sealed")
    [(secret,)] = catalog.execute("SELECT jwt_secret FROM projects WHERE hash = %s", (app.hash,))
    shared = redis.Redis.from_url(redis_server.url)
    writer = Directory(catalog.conninfo, redis_url=redis_server.url, redis_secret=POOL_SECRET)
    foreign = Directory(catalog.conninfo, redis_url=redis_server.url, redis_secret="other-" * 8)
    try:
        assert (await writer.by_hash(app.hash)).jwt_secret == secret
        key = f"flux:gw:route:{app.hash}"
        stored = shared.get(key).decode()
        assert secret not in stored and app.slug not in stored and app.tenant_id not in stored
        # another deployment's key cannot open it: a miss, answered from the catalog
        catalog.execute("UPDATE projects SET slug = 'fresh' WHERE hash = %s", (app.hash,))
        assert (await foreign.by_hash(app.hash)).slug == "fresh"
        # an entry copied under another key, or tampered with, does not open either
        other = catalog.add_project("other")
        shared.set(f"flux:gw:route:{other.hash}", stored)
        assert (await writer.by_hash(other.hash)).slug == "other"
        writer.evict(hash=app.hash)
        await writer.drain()
        shared.set(key, stored[:-4] + "AAAA")
        assert (await writer.by_hash(app.hash)).slug == "fresh"
    finally:
        shared.close()
        await writer.aclose()
        await foreign.aclose()


def test_redis_without_a_sealing_secret_is_refused(catalog) -> None:
    with pytest.raises(ValueError, match="redis_secret"):
        Directory(catalog.conninfo, redis_url="redis://127.0.0.1:1")


async def test_evict_from_a_control_plane_thread(catalog, redis_server) -> None:
    app = catalog.add_project("threaded")
    directory = Directory(
        catalog.conninfo, redis_url=redis_server.url, redis_secret=POOL_SECRET, ttl=300
    )
    other = Directory(
        catalog.conninfo, redis_url=redis_server.url, redis_secret=POOL_SECRET, ttl=0.0
    )
    try:
        assert (await directory.by_hash(app.hash)).slug == "threaded"
        catalog.execute("UPDATE projects SET slug = 'renamed' WHERE hash = %s", (app.hash,))
        await asyncio.to_thread(directory.evict, hash=app.hash)  # sync hook, other thread
        assert (await directory.by_hash(app.hash)).slug == "renamed"
        assert (await other.by_hash(app.hash)).slug == "renamed"  # Redis holds the fresh copy
    finally:
        await directory.aclose()
        await other.aclose()


async def test_catalog_outage_serves_stale_routes_and_fails_unknown_ones(catalog) -> None:
    app = catalog.add_project("steady")
    directory = Directory(catalog.conninfo, ttl=0.0, catalog_timeout=1.0)
    dbname = psycopg.conninfo.conninfo_to_dict(catalog.conninfo)["dbname"]
    admin = psycopg.conninfo.make_conninfo(catalog.conninfo, dbname="postgres")
    try:
        assert (await directory.by_hash(app.hash)).slug == "steady"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (dbname,),
            )
        assert (await directory.by_hash(app.hash)).slug == "steady"  # stale, not an error
        with pytest.raises(CatalogUnavailable):
            await directory.by_hash("0000000")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        await directory.aclose()


class GatedDirectory(Directory):
    """Holds each (real) catalog answer until `gate` opens, to line up an eviction race."""

    def __init__(self, conninfo: str) -> None:
        super().__init__(conninfo, ttl=300)
        self.gate = asyncio.Event()

    async def _route(self, hash_: str):
        route = await super()._route(hash_)
        await self.gate.wait()
        return route


async def test_eviction_during_a_load_is_not_undone(catalog) -> None:
    app = catalog.add_project("before")
    directory = GatedDirectory(catalog.conninfo)
    try:
        early = asyncio.create_task(directory.by_hash(app.hash))
        await asyncio.sleep(0.3)  # the early load has read the old row and waits at the gate
        catalog.execute("UPDATE projects SET slug = 'after' WHERE hash = %s", (app.hash,))
        directory.evict(hash=app.hash)
        directory.gate.set()
        assert (await early).slug == "before"
        assert (await directory.by_hash(app.hash)).slug == "after"  # the old row was not cached
    finally:
        await directory.aclose()


async def test_lookup_after_eviction_does_not_join_an_older_load(catalog) -> None:
    app = catalog.add_project("before")
    directory = GatedDirectory(catalog.conninfo)
    try:
        early = asyncio.create_task(directory.by_hash(app.hash))
        await asyncio.sleep(0.3)
        catalog.execute("UPDATE projects SET slug = 'after' WHERE hash = %s", (app.hash,))
        directory.evict(hash=app.hash)
        late = asyncio.create_task(directory.by_hash(app.hash))
        await asyncio.sleep(0.3)
        directory.gate.set()
        assert (await early).slug == "before"
        assert (await late).slug == "after"
    finally:
        await directory.aclose()
