"""Tenant resolution: route key → `ProjectRoute`, read from the `flux_system` catalog.

Read-only. Results are cached in process (TTL, explicit `evict`), optionally shared through
Redis (`flux:gw:route:<hash>`, `flux:gw:dom:<hostname>`). Routes hold the project's JWT secret,
so they are sealed (`flux.gateway.sealing`) before they reach Redis. Redis is never
authoritative: any Redis error, or an entry that does not open, falls back to the catalog.
Concurrent misses for the same key share one catalog query, and a stale entry is served when
the catalog is briefly unreachable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from flux.errors import FluxError
from flux.gateway.hosts import RouteKey
from flux.gateway.redislink import RedisLink
from flux.gateway.sealing import Sealer
from flux.naming import shortid, tenant_role, tenant_schema
from flux.rest.limits import RequestLimits

log = logging.getLogger("flux.gateway.directory")

_COLUMNS = """
    SELECT p.tenant_id::text, p.slug, p.hash, p.mode, p.jwt_secret,
           COALESCE(p.rate_limit_per_minute, pl.rate_limit_per_minute),
           p.maintenance, p.status, p.lifecycle_state, p.runner_data->>'api_port',
           (EXTRACT(EPOCH FROM pl.statement_timeout) * 1000)::int, pl.max_rows,
           pl.connection_limit
      FROM projects p JOIN plans pl ON pl.name = p.plan
"""
_BY_HASH = _COLUMNS + " WHERE p.hash = %s"
_HASH_OF_DOMAIN = (
    "SELECT p.hash FROM domains d JOIN projects p ON p.tenant_id = d.tenant_id"
    " WHERE d.hostname = %s"
)
_ROUTE_PREFIX = "flux:gw:route:"
_DOMAIN_PREFIX = "flux:gw:dom:"
_WARN_INTERVAL = 30.0  # seconds between "catalog lookup failed" log lines


class CatalogUnavailable(FluxError):
    def __init__(self) -> None:
        super().__init__("catalog unavailable", code="catalog_unavailable", status=503)


@dataclass(frozen=True, slots=True)
class ProjectRoute:
    """What the gateway needs to serve one project; `jwt_secret` is excluded from repr."""

    tenant_id: str
    slug: str
    hash: str
    mode: str  # "v2_shared" | "v1_dedicated"
    jwt_secret: str = field(repr=False)
    rate_limit_per_minute: int
    maintenance: bool
    status: str
    lifecycle_state: str
    upstream: str | None  # v1: http://127.0.0.1:<api_port>
    # the plan's limits, applied by the REST pool to every v2 request (see flux.rest.limits)
    statement_timeout_ms: int | None = None
    max_rows: int | None = None
    connection_limit: int | None = None

    @property
    def shortid(self) -> str:
        return shortid(self.tenant_id)

    @property
    def role(self) -> str:
        return tenant_role(self.shortid)

    @property
    def schema(self) -> str:
        return tenant_schema(self.shortid)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> ProjectRoute:
        (tenant_id, slug, hash_, mode, secret, rate, maintenance, status, lifecycle, port) = row[
            :10
        ]
        upstream = f"http://127.0.0.1:{int(port)}" if port and str(port).isdigit() else None
        return cls(
            tenant_id,
            slug,
            hash_,
            mode,
            secret,
            rate,
            maintenance,
            status,
            lifecycle,
            upstream,
            *row[10:13],
        )

    @property
    def limits(self) -> RequestLimits:
        return RequestLimits(
            self.statement_timeout_ms or None, self.max_rows, self.connection_limit
        )


@dataclass(slots=True)
class _Entry:
    value: Any
    expires: float


class Directory:
    """Catalog-backed project lookup with an in-process TTL cache (and Redis when given)."""

    def __init__(
        self,
        conninfo: str,
        *,
        redis_url: str | None = None,
        redis_secret: str | None = None,
        ttl: float = 10.0,
        negative_ttl: float = 2.0,
        redis_ttl: int = 60,
        pool_size: int = 4,
        catalog_timeout: float = 5.0,
    ) -> None:
        self._conninfo = conninfo
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._redis_ttl = redis_ttl
        self._pool_size = pool_size
        self._catalog_timeout = catalog_timeout
        if redis_url and not redis_secret:
            raise ValueError("redis_secret is required with redis_url (routes are sealed)")
        self._redis = RedisLink(redis_url) if redis_url else None
        self._sealer = Sealer(redis_secret) if redis_url and redis_secret else None
        self._pool: AsyncConnectionPool | None = None
        self._pool_lock: asyncio.Lock | None = None
        self._routes: dict[str, _Entry] = {}  # hash -> ProjectRoute | None
        self._domains: dict[str, _Entry] = {}  # hostname -> hash | None
        self._pending: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None  # where Redis calls run
        self._bypass: set[str] = set()  # Redis keys to skip until re-read from the catalog
        self._bypass_all = False
        self._background: set[asyncio.Task[Any]] = set()
        self._last_warned = float("-inf")
        self._generation = 0  # bumped by evict(): loads started earlier are not cached

    async def resolve(self, key: RouteKey) -> ProjectRoute | None:
        """The project a route key names, or None (unknown host, wrong slug for the hash)."""
        if key.hostname is not None:
            hash_ = await self._cached(self._domains, "d", key.hostname, self._domain_hash)
            return await self.by_hash(hash_) if hash_ else None
        if key.hash is None:
            return None
        route = await self.by_hash(key.hash)
        if route is None or (key.slug is not None and key.slug != route.slug):
            return None
        return route

    async def by_hash(self, hash_: str) -> ProjectRoute | None:
        return await self._cached(self._routes, "h", hash_, self._route)

    def evict(self, hash: str | None = None, hostname: str | None = None) -> None:
        """Forget cached routing for a project hash and/or a custom hostname (None, None: all).

        The control plane calls this after changing a project (secret, slug, plan, mode,
        status, maintenance, deletion) or a domain. Synchronous and safe from any thread: the
        local cache is cleared at once, the next lookup of an evicted key reads the catalog
        (bypassing Redis), and the shared Redis entries are deleted in the background.
        """
        self._generation += 1
        self._pending.clear()  # loads already running may have read the old row
        if hash is None and hostname is None:
            self._routes.clear()
            self._domains.clear()
            self._bypass_all = self._in_background(_delete_prefixed, self._end_bypass_all)
            return
        keys = []
        if hash is not None:
            self._routes.pop(hash, None)
            keys.append(_ROUTE_PREFIX + hash)
        if hostname is not None:
            hostname = hostname.lower().rstrip(".")
            self._domains.pop(hostname, None)
            keys.append(_DOMAIN_PREFIX + hostname)
        self._bypass.update(keys)
        self._in_background(lambda client: client.delete(*keys))

    def _in_background(
        self, call: Callable[[Any], Awaitable[Any]], done: Callable[[Any], None] | None = None
    ) -> bool:
        """Run a Redis call on the directory's loop without waiting; False when there is none."""
        redis, loop = self._redis, self._loop
        if redis is None or loop is None or loop.is_closed():
            return False
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task = loop.create_task(redis.run(call))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            if done is not None:
                task.add_done_callback(done)
        else:
            future = asyncio.run_coroutine_threadsafe(redis.run(call), loop)
            if done is not None:
                future.add_done_callback(done)
        return True

    def _end_bypass_all(self, _: Any) -> None:
        self._bypass_all = False

    async def drain(self) -> None:
        """Wait for background Redis evictions started from this loop."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def aclose(self) -> None:
        await self.drain()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._redis is not None:
            await self._redis.aclose()

    async def _cached(
        self,
        table: dict[str, _Entry],
        kind: str,
        name: str,
        load: Callable[[str], Awaitable[Any]],
    ) -> Any:
        entry = table.get(name)
        if entry is not None and entry.expires > time.monotonic():
            return entry.value
        key = (kind, name)
        pending = self._pending.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request was cancelled, not the shared load
        generation = self._generation
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            try:
                value = await load(name)
            except CatalogUnavailable:
                if entry is None:
                    raise
                value = entry.value  # stale but better than failing while the catalog blips
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # waiters re-raise it; mark it retrieved for the loop
            raise
        except BaseException:
            future.cancel()  # waiters load for themselves
            raise
        finally:
            if self._pending.get(key) is future:
                del self._pending[key]
        if generation == self._generation:  # an eviction during the load makes it suspect
            ttl = self._ttl if value is not None else self._negative_ttl
            table[name] = _Entry(value, time.monotonic() + ttl)
        future.set_result(value)
        return value

    async def _route(self, hash_: str) -> ProjectRoute | None:
        key = _ROUTE_PREFIX + hash_
        cached = await self._redis_get(key)
        opened = self._sealer.open(key, cached) if cached is not None and self._sealer else None
        if opened is not None:
            try:
                return ProjectRoute(**json.loads(opened))
            except (ValueError, TypeError):
                pass  # written by another version of the gateway: read the catalog
        row = await self._query(_BY_HASH, hash_)
        route = ProjectRoute.from_row(row) if row else None
        sealed = (
            self._sealer.seal(key, json.dumps(asdict(route))) if route and self._sealer else None
        )
        await self._redis_set(key, sealed)
        return route

    async def _domain_hash(self, hostname: str) -> str | None:
        cached = await self._redis_get(_DOMAIN_PREFIX + hostname)
        if cached is not None:
            return cached
        row = await self._query(_HASH_OF_DOMAIN, hostname)
        await self._redis_set(_DOMAIN_PREFIX + hostname, row[0] if row else None)
        return row[0] if row else None

    async def _redis_get(self, key: str) -> str | None:
        if self._redis is None:
            return None
        self._loop = asyncio.get_running_loop()
        if self._bypass_all or key in self._bypass:
            return None
        value = await self._redis.run(lambda client: client.get(key))
        return value.decode() if isinstance(value, bytes) else value

    async def _redis_set(self, key: str, value: str | None) -> None:
        """Share a fresh catalog answer (unknown keys are not shared: they stay local)."""
        self._bypass.discard(key)
        if self._redis is not None and value is not None:
            await self._redis.run(lambda client: client.set(key, value, ex=self._redis_ttl))

    async def _query(self, sql: str, param: str) -> tuple[Any, ...] | None:
        try:
            pool = await self._open_pool()
            async with pool.connection() as conn:
                cur = await conn.execute(sql, (param,))
                return await cur.fetchone()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            now = time.monotonic()
            if now - self._last_warned >= _WARN_INTERVAL:
                self._last_warned = now
                log.warning("catalog lookup failed: %s", type(exc).__name__)
            raise CatalogUnavailable() from exc

    async def _open_pool(self) -> AsyncConnectionPool:
        if self._pool is not None:
            return self._pool
        if self._pool_lock is None:
            self._pool_lock = asyncio.Lock()
        async with self._pool_lock:
            if self._pool is None:
                pool = AsyncConnectionPool(
                    self._conninfo,
                    min_size=1,
                    max_size=self._pool_size,
                    kwargs={"autocommit": True},
                    timeout=self._catalog_timeout,
                    open=False,
                )
                await pool.open()
                self._pool = pool
        return self._pool


async def _delete_prefixed(client: Any) -> None:
    for prefix in (_ROUTE_PREFIX, _DOMAIN_PREFIX):
        async for key in client.scan_iter(match=prefix + "*", count=500):
            await client.delete(key)
