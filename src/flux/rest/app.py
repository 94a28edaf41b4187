"""ASGI wiring: the REST engine (single mode and pool mode) and its admin endpoints.

`build_app(config)` returns a Starlette app whose every request runs the pipeline
request → auth → plan → SQL → execute → response. `app.state.engine` is the `RestEngine`
(its `reload_schema(schema=None)` is the control plane's hook). The engine starts lazily on
first use too, so the gateway may call the ASGI app in-process without running lifespan.
The engine owns the lifecycle (pool, schema cache, NOTIFY listener), authentication, schema
selection and dispatch; each request kind is answered by its `handlers_*` module through an
`Exchange` (see exchange.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial

import psycopg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flux.rest.auth import Authenticator, AuthResult, PoolAuthenticator
from flux.rest.config import RestConfig
from flux.rest.connect import connect
from flux.rest.cors import Cors
from flux.rest.errors import (
    ApiError,
    invalid_preferences,
    invalid_resource_path,
    invalid_rpc_method,
    query_param_error,
    schema_cache_unavailable,
    unacceptable_schema,
    unsupported_method,
)
from flux.rest.exchange import Exchange, lap
from flux.rest.execute import Database
from flux.rest.handlers_call import call
from flux.rest.handlers_openapi import openapi
from flux.rest.handlers_options import options
from flux.rest.handlers_read import read
from flux.rest.handlers_write import write
from flux.rest.metrics import Metrics
from flux.rest.request import ApiRequest, build_request, parse_query
from flux.rest.response import error_response
from flux.rest.schema_cache import SchemaCache, SchemaSnapshot
from flux.rest.shapes import ShapeCache
from flux.rest.tenant_login import tenant_conninfo

log = logging.getLogger("flux.rest")
_ARRIVED: contextvars.ContextVar[float] = contextvars.ContextVar("arrived")  # time.monotonic()

_READ_METHODS = ("GET", "HEAD")
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class RestEngine:
    """Everything one REST server holds: pool, schema cache, authenticator, metrics."""

    def __init__(self, config: RestConfig) -> None:
        self.config = config
        self.pool_pids: set[int] = set()
        tenant_login = None
        if config.pool_mode:
            assert config.pool_jwt_secret
            tenant_login = partial(tenant_conninfo, config.db_uri, config.pool_jwt_secret)
        self.db = Database(
            config.db_uri,
            size=config.db_pool,
            acquisition_timeout=config.db_pool_acquisition_timeout,
            prepared_statements=config.db_prepared_statements,
            configure=self._remember_pid,
            tenant_conninfo=tenant_login,
        )
        self.metrics = Metrics(self.db.stats)
        self.cache = SchemaCache(
            self.db.connection,
            max_schemas=config.pool_schema_cache_size,
            on_load=self.metrics.observe_schema_load,
        )
        self.auth: Authenticator | PoolAuthenticator
        if config.pool_mode:
            assert config.pool_jwt_secret
            self.auth = PoolAuthenticator(config.pool_jwt_secret)
        else:
            self.auth = Authenticator(
                config.jwt_secret,
                is_base64=config.jwt_secret_is_base64,
                audience=config.jwt_aud,
                role_claim_key=config.jwt_role_claim_key,
                anon_role=config.db_anon_role,
            )
        self._started = False
        self._start_lock = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self.shapes = ShapeCache()
        self._timezones: frozenset[str] | None = None
        self._postgis: bool | None = None

    @property
    def started(self) -> bool:
        return self._started

    async def _remember_pid(self, conn: psycopg.AsyncConnection) -> None:
        self.pool_pids.add(conn.info.backend_pid)

    # ------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            await self.db.open()
            if self.config.db_channel_enabled:
                self._listener = asyncio.ensure_future(self._listen())
            self._started = True

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await self.cache.aclose()
        await self.db.close()
        self._started = False

    def reload_schema(self, schema: str | None = None) -> None:
        """Reload one schema (or every cached one) in the background; stale data serves meanwhile."""
        self.cache.reload(schema)

    async def ready(self) -> bool:
        if not self._started or self.db.is_down or not await self.db.ping():
            return False
        if self.config.pool_mode:
            return True
        return (
            all(self.cache.cached(s) is not None for s in self.config.db_schemas)
            or await self._warm()
        )

    async def _warm(self) -> bool:
        try:
            for schema in self.config.db_schemas:
                await self.cache.get(schema)
        except (ApiError, psycopg.Error):
            return False
        return True

    # ------------------------------------------------------------- NOTIFY pgrst
    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                conn = await connect(self.config.db_uri, autocommit=True)
                async with conn:
                    await conn.execute(f'LISTEN "{self.config.db_channel.replace(chr(34), "")}"')
                    delay = 0.5
                    async for note in conn.notifies():
                        await self._on_notify(note.payload, note.pid)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _on_notify(self, payload: str, pid: int) -> None:
        words = payload.strip().split()
        if words[:2] != ["reload", "schema"] and words:
            return
        if self.config.pool_mode and not await self._trusted_sender(pid):
            log.warning("ignored NOTIFY from untrusted backend %s", pid)
            return
        self.reload_schema(words[2] if len(words) > 2 else None)

    async def _trusted_sender(self, pid: int) -> bool:
        """Pool mode: only superuser or database-owner sessions outside our own pool."""
        if pid in self.pool_pids:
            return False
        try:
            async with self.db.connection() as conn:
                cur = await conn.execute(
                    "SELECT r.rolsuper OR r.oid = d.datdba FROM pg_stat_activity a "
                    "JOIN pg_roles r ON r.rolname = a.usename "
                    "JOIN pg_database d ON d.datname = current_database() WHERE a.pid = %s",
                    [pid],
                )
                row = await cur.fetchone()
        except (ApiError, psycopg.Error):
            return False
        return bool(row and row[0])

    # ------------------------------------------------------------- request pipeline
    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        _ARRIVED.set(time.monotonic())
        timings: dict[str, float] = {}
        head = request.method == "HEAD"
        try:
            if not self._started:
                await self.start()
            response = await self._handle(request, timings)
        except ApiError as err:
            response = error_response(err, self.config.client_error_verbosity, head)
        if self.config.server_timing_enabled:
            response.headers["Server-Timing"] = ", ".join(
                f"{name};dur={ms:.1f}" for name, ms in timings.items()
            )
        self.metrics.observe_request(response.status_code, time.perf_counter() - started)
        return response

    async def snapshot(self, schema: str, refresh: bool = False) -> SchemaSnapshot:
        try:
            if refresh:
                return await self.cache.refresh(schema, _ARRIVED.get(time.monotonic()))
            return await self.cache.get(schema)
        except ApiError as err:
            if err.code in ("PGRST001", "PGRST003"):
                raise schema_cache_unavailable() from None
            raise
        except psycopg.Error:
            raise schema_cache_unavailable() from None

    def _schema_for(self, api: ApiRequest, auth: AuthResult) -> str:
        if auth.schema is not None:
            if api.profile is not None and api.profile != auth.schema:
                raise unacceptable_schema(api.profile, (auth.schema,))
            return auth.schema
        if api.profile is None:
            return self.config.db_schemas[0]
        if api.profile not in self.config.db_schemas:
            raise unacceptable_schema(api.profile, self.config.db_schemas)
        return api.profile

    @property
    def tx_allowed(self) -> bool:
        """Whether `Prefer: tx=commit|rollback` may override the configured transaction end."""
        return self.config.db_tx_end.endswith("allow-override")

    async def facts(self) -> tuple[frozenset[str], bool]:
        """Database facts loaded once: timezone names and whether PostGIS is installed."""
        if self._timezones is None or self._postgis is None:
            async with self.db.connection() as conn:
                cur = await conn.execute(
                    "SELECT array(SELECT name FROM pg_timezone_names), "
                    "EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'st_asgeojson')"
                )
                row = await cur.fetchone()
            assert row is not None
            self._timezones, self._postgis = frozenset(row[0]), bool(row[1])
        return self._timezones, self._postgis

    async def _timezone(self, api: ApiRequest) -> str | None:
        """The `Prefer: timezone=` value when PostgreSQL knows it (else it is invalid)."""
        wanted = api.preferences.timezone
        if wanted is None:
            return None
        names, _ = await self.facts()
        return wanted if wanted in names else None

    async def _handle(self, request: Request, timings: dict[str, float]) -> Response:
        if not _is_utf8(request.scope.get("query_string", b"")):
            raise query_param_error("The query string is not valid UTF-8")
        path = request.url.path
        segments = [s for s in path.split("/") if s]
        method = request.method
        is_rpc = bool(segments) and segments[0] == "rpc"
        if (is_rpc and len(segments) != 2) or (not is_rpc and len(segments) > 1):
            raise invalid_resource_path()
        if method not in _READ_METHODS + _WRITE_METHODS + ("OPTIONS",):
            raise unsupported_method(method)

        mark = time.perf_counter()
        auth = self.auth.authenticate(request.headers.get("authorization"))
        mark = lap(timings, "jwt", mark)

        resource = segments[-1] if segments else None
        api = build_request(
            method, path, resource, request.query_params.multi_items(), request.headers.items()
        )
        timezone = await self._timezone(api)
        invalid = list(api.preferences.invalid)
        if api.preferences.timezone is not None and timezone is None:
            invalid.append(f"timezone={api.preferences.timezone}")
        if api.preferences.handling == "strict" and invalid:
            raise invalid_preferences(invalid)
        schema = self._schema_for(api, auth)
        mark = lap(timings, "parse", mark)

        if method == "OPTIONS":
            response = await options(self, schema, api)
            lap(timings, "response", mark)
            return response
        root_spec = self.config.db_root_spec
        if resource is None and root_spec and method in _READ_METHODS:
            resource, is_rpc = root_spec, True
            api = replace(api, resource=root_spec, is_rpc=True, query=parse_query(api.pairs, True))
        ex = Exchange(self, request, api, auth, schema, timezone, timings, mark)
        if is_rpc:
            if method not in ("GET", "HEAD", "POST"):
                raise invalid_rpc_method(method)
            return await call(ex)
        if resource is None:
            if method in _WRITE_METHODS:
                raise unsupported_method(method)
            return await openapi(replace(ex, timezone=None))
        if method in _WRITE_METHODS:
            return await write(ex)
        return await read(ex)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


def build_app(config: RestConfig) -> Starlette:
    """The REST server as an ASGI app; `app.state.engine.reload_schema()` reloads the cache."""
    engine = RestEngine(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    async def endpoint(request: Request) -> Response:
        return await engine.handle(request)

    methods = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT"]
    # Pool mode answers the gateway, which applies the Service URLs' own CORS policy.
    middleware = [] if config.pool_mode else [Middleware(Cors, config.server_cors_allowed_origins)]
    app = Starlette(
        routes=[Route("/{path:path}", endpoint, methods=methods)],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.reload_schema = engine.reload_schema
    return app


def build_admin_app(engine: RestEngine) -> Starlette:
    """`/live`, `/ready` (pool reachable + schema cache loaded) and `/metrics`."""

    async def live(request: Request) -> Response:
        return Response(status_code=200 if engine.started else 503)

    async def ready(request: Request) -> Response:
        return Response(status_code=200 if await engine.ready() else 503)

    async def metrics(request: Request) -> Response:
        return Response(
            engine.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    return Starlette(
        routes=[
            Route("/live", live, methods=["GET", "HEAD"]),
            Route("/ready", ready, methods=["GET", "HEAD"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
