"""ASGI wiring: the REST engine (single mode and pool mode) and its admin endpoints.

`build_app(config)` returns a Starlette app whose every request runs the pipeline
request → auth → plan → SQL → execute → response. `app.state.engine` is the `RestEngine`
(its `reload_schema(schema=None)` is the control plane's hook). The engine starts lazily on
first use too, so the gateway may call the ASGI app in-process without running lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flux.rest.auth import Authenticator, AuthResult, PoolAuthenticator
from flux.rest.call_plan import CallPlan, plan_call, scalar_media
from flux.rest.config import RestConfig
from flux.rest.errors import (
    ApiError,
    invalid_preferences,
    invalid_resource_path,
    invalid_rpc_method,
    max_affected_rpc_violation,
    max_affected_violation,
    media_type_error,
    openapi_disabled,
    schema_cache_unavailable,
    singularity_error,
    table_not_found,
    unacceptable_schema,
    unsupported_method,
)
from flux.rest.execute import Check, Database, TxSettings
from flux.rest.media import Media, negotiate
from flux.rest.metrics import Metrics
from flux.rest.mutate_plan import MutatePlan, plan_mutate, put_mismatch
from flux.rest.openapi import document, readable_relations_statement
from flux.rest.payload import Payload, body_too_large, parse_payload
from flux.rest.plan import ReadPlan, plan_read
from flux.rest.request import ApiRequest, build_request
from flux.rest.response import (
    ReadResult,
    WriteResult,
    content_range,
    error_response,
    finish,
    plan_response,
    preference_applied,
    read_response,
    write_response,
)
from flux.rest.schema_cache import SchemaCache, SchemaSnapshot
from flux.rest.shapes import BuiltRead, ShapeCache, placeholder_request, shape_of, template
from flux.rest.sql import (
    Statement,
    call_statement,
    mutate_statement,
    planned_count_statement,
    read_statement,
)

log = logging.getLogger("flux.rest")
_ARRIVED: contextvars.ContextVar[float] = contextvars.ContextVar("arrived")  # time.monotonic()

_READ_METHODS = ("GET", "HEAD")
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class RestEngine:
    """Everything one REST server holds: pool, schema cache, authenticator, metrics."""

    def __init__(self, config: RestConfig) -> None:
        self.config = config
        self.pool_pids: set[int] = set()
        self.db = Database(
            config.db_uri,
            size=config.db_pool,
            acquisition_timeout=config.db_pool_acquisition_timeout,
            prepared_statements=config.db_prepared_statements,
            configure=self._remember_pid,
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
                conn = await psycopg.AsyncConnection.connect(self.config.db_uri, autocommit=True)
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

    async def _snapshot(self, schema: str, refresh: bool = False) -> SchemaSnapshot:
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
    def _tx_allowed(self) -> bool:
        return self.config.db_tx_end.endswith("allow-override")

    def _tx(
        self,
        api: ApiRequest,
        auth: AuthResult,
        schema: str,
        *,
        read_only: bool,
        timezone: str | None = None,
        force_rollback: bool = False,
    ) -> TxSettings:
        end = self.config.db_tx_end
        commit = end.startswith("commit")
        if self._tx_allowed and api.preferences.tx in ("commit", "rollback"):
            commit = api.preferences.tx == "commit"
        return TxSettings(
            role=auth.role,
            search_path=(schema, *self.config.db_extra_search_path),
            claims_json=auth.claims_json,
            method=api.method,
            path=api.path,
            headers_json=api.headers_json(),
            cookies_json=api.cookies_json(),
            read_only=read_only,
            commit=commit and not force_rollback,
            authenticated=auth.authenticated,
            app_settings=self.config.app_settings,
            pre_request=self.config.db_pre_request,
            timezone=timezone,
        )

    async def _facts(self) -> tuple[frozenset[str], bool]:
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
        names, _ = await self._facts()
        return wanted if wanted in names else None

    async def _negotiate(self, api: ApiRequest, scalar: Any = None) -> Media:
        wants_geo = any(m.subtype == "geo+json" for m in api.accept)
        geojson = wants_geo and (await self._facts())[1]
        return negotiate(
            api.accept, plan_enabled=self.config.db_plan_enabled, geojson=geojson, scalar=scalar
        )

    async def _read_body(self, request: Request) -> bytes:
        limit = self.config.server_max_body_size
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise body_too_large(limit)
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise body_too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _handle(self, request: Request, timings: dict[str, float]) -> Response:
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
        mark = _lap(timings, "jwt", mark)

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
        mark = _lap(timings, "parse", mark)

        if method == "OPTIONS":
            return await self._options(schema, resource, is_rpc)
        if is_rpc:
            if method not in ("GET", "HEAD", "POST"):
                raise invalid_rpc_method(method)
            return await self._call(request, api, auth, schema, timezone, timings, mark)
        if resource is None:
            if method in _WRITE_METHODS:
                raise unsupported_method(method)
            return await self._openapi(api, auth, schema, request, timings, mark)
        if method in _WRITE_METHODS:
            return await self._write(request, api, auth, schema, timezone, timings, mark)
        return await self._read(api, auth, schema, timezone, timings, mark)

    async def _options(self, schema: str, resource: str | None, is_rpc: bool) -> Response:
        allow = "OPTIONS,GET,HEAD"
        if is_rpc and resource is not None:
            snapshot = await self._snapshot(schema)
            routines = snapshot.routines.get(resource) or (
                await self._snapshot(schema, refresh=True)
            ).routines.get(resource)
            if not routines:
                raise invalid_resource_path()
            volatile = any(r.volatility == "v" for r in routines)
            allow = "OPTIONS,POST" if volatile else "OPTIONS,GET,HEAD,POST"
        elif resource is not None:
            snapshot = await self._snapshot(schema)
            rel = snapshot.relations.get(resource)
            if rel is None:
                snapshot = await self._snapshot(schema, refresh=True)
                rel = snapshot.relations.get(resource)
            if rel is None:
                raise table_not_found(schema, resource, snapshot.suggest_table(resource))
            if not rel.is_view:
                allow = "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"
        return Response(status_code=200, headers={"Allow": allow})

    def _media(self, api: ApiRequest) -> None:
        """The root endpoint answers OpenAPI (or JSON / anything); 406 otherwise."""
        for media in api.accept:
            kind = (media.type, media.subtype)
            if kind in (
                ("application", "json"),
                ("*", "*"),
                ("application", "*"),
                ("application", "openapi+json"),
            ):
                return
        raise media_type_error([f"{m.type}/{m.subtype}" for m in api.accept])

    def _profile_headers(self, schema: str) -> dict[str, str]:
        if len(self.config.db_schemas) > 1 and not self.config.pool_mode:
            return {"Content-Profile": schema}
        return {}

    async def _planned(self, schema: str, plan_fn: Any, retry_codes: tuple[str, ...]) -> Any:
        """Plan against the cached snapshot; a lookup miss refreshes it once and retries."""
        try:
            return plan_fn(await self._snapshot(schema))
        except ApiError as err:
            if err.code not in retry_codes:
                raise
            return plan_fn(await self._snapshot(schema, refresh=True))

    async def _read(
        self,
        api: ApiRequest,
        auth: AuthResult,
        schema: str,
        timezone: str | None,
        timings: dict[str, float],
        mark: float,
    ) -> Response:
        plan, media, statements = await self._read_statements(api, schema)
        applied = preference_applied(
            api.preferences, tx_allowed=self._tx_allowed, timezone=timezone
        )
        tx = self._tx(api, auth, schema, read_only=True, timezone=timezone)
        mark = _lap(timings, "plan", mark)

        rows = await self.db.run(tx, statements)
        mark = _lap(timings, "transaction", mark)
        if media.kind == "plan":
            return plan_response(rows[-1], media)

        total, page_total, body, guc_h, guc_s = rows[-1]
        if plan.count in ("planned", "estimated"):
            planned = int(rows[0][0][0]["Plan"]["Plan Rows"])
            if plan.count == "planned" or total is None or total > (plan.max_rows or 0):
                total = planned
        response = read_response(
            ReadResult(total, page_total, body, guc_h, guc_s),
            lower=plan.root.offset,
            head=api.method == "HEAD",
            media=media,
            preference_applied=applied,
            extra_headers=self._profile_headers(schema),
        )
        _lap(timings, "response", mark)
        return response

    def _plan_read(self, api: ApiRequest, snapshot: SchemaSnapshot) -> ReadPlan:
        plan = plan_read(
            api,
            snapshot,
            aggregates_enabled=self.config.db_aggregates_enabled,
            max_rows=self.config.db_max_rows,
        )
        if plan.count == "estimated" and plan.max_rows is None:
            plan.count = "exact"
        return plan

    @staticmethod
    def _read_sql(plan: ReadPlan, media: Media) -> list[Statement]:
        statements = []
        if plan.count in ("planned", "estimated") and media.kind != "plan":
            statements.append(planned_count_statement(plan))
        statements.append(read_statement(plan, media))
        return statements

    async def _read_statements(
        self, api: ApiRequest, schema: str
    ) -> tuple[ReadPlan, Media, list[Statement]]:
        """Plan, media and SQL of a read: from the shape cache, else built (and remembered)."""
        snapshot = await self._snapshot(schema)
        shape = shape_of(api, snapshot.serial)
        cached = self.shapes.get(shape) if shape is not None else None
        if isinstance(cached, BuiltRead):
            assert shape is not None
            return cached.plan, cached.media, cached.statements_for(shape.values)
        media = await self._negotiate(api)
        plan = await self._planned(
            schema, lambda snap: self._plan_read(api, snap), ("PGRST200", "PGRST205")
        )
        statements = self._read_sql(plan, media)
        if shape is not None and cached is None:
            try:
                shaped = self._plan_read(placeholder_request(api, shape), snapshot)
                built = template(shaped, media, self._read_sql(shaped, media), len(shape.values))
            except ApiError:
                built = None
            self.shapes.put(shape, built)
        return plan, media, statements

    async def _write(
        self,
        request: Request,
        api: ApiRequest,
        auth: AuthResult,
        schema: str,
        timezone: str | None,
        timings: dict[str, float],
        mark: float,
    ) -> Response:
        prefs = api.preferences
        media = await self._negotiate(api)
        payload: Payload | None = None
        if api.method != "DELETE":
            payload = parse_payload(
                request.headers.get("content-type"),
                await self._read_body(request),
                api.query.columns,
                rpc=False,
                ragged=prefs.missing == "default",
            )
        plan: MutatePlan = await self._planned(
            schema,
            lambda snap: plan_mutate(
                api, snap, payload, aggregates_enabled=self.config.db_aggregates_enabled
            ),
            ("PGRST200", "PGRST204", "PGRST205"),
        )
        kind = "put" if plan.put else plan.kind
        representation = plan.return_ == "representation"
        checks: list[Check] = []
        if media.singular and representation:
            checks.append(_singular_check)
        if (
            prefs.handling == "strict"
            and prefs.max_affected is not None
            and plan.kind != "insert"
            and media.kind != "plan"
        ):
            checks.append(_max_affected_check(prefs.max_affected))
        tx = self._tx(
            api,
            auth,
            schema,
            read_only=False,
            timezone=timezone,
            force_rollback=media.kind == "plan",
        )
        statement = mutate_statement(plan, media)
        mark = _lap(timings, "plan", mark)

        rows = await self.db.run(tx, [statement], _combine(checks))
        mark = _lap(timings, "transaction", mark)
        if media.kind == "plan":
            return plan_response(rows[0], media)
        _, page_total, body, guc_h, guc_s, location, inserted = rows[0]
        if plan.put and page_total != 1:
            raise put_mismatch()
        pk_or_conflict = bool(plan.relation.pk) or api.query.on_conflict is not None
        applied = preference_applied(
            prefs,
            tx_allowed=self._tx_allowed,
            timezone=timezone,
            resolution=kind == "insert" and pk_or_conflict,
            missing=kind in ("insert", "update"),
            return_=True,
            max_affected=kind in ("update", "delete"),
        )
        response = write_response(
            WriteResult(page_total, body, guc_h, guc_s, location or [], inserted),
            kind=kind,
            table=plan.relation.name,
            representation=representation,
            count=prefs.count in ("exact", "estimated"),
            upsert_merge=plan.counts_inserts,
            media=media,
            preference_applied=applied,
            extra_headers=self._profile_headers(schema),
        )
        _lap(timings, "response", mark)
        return response

    async def _call(
        self,
        request: Request,
        api: ApiRequest,
        auth: AuthResult,
        schema: str,
        timezone: str | None,
        timings: dict[str, float],
        mark: float,
    ) -> Response:
        prefs = api.preferences
        payload: Payload | None = None
        if api.method == "POST":
            payload = parse_payload(
                request.headers.get("content-type"), await self._read_body(request), None, rpc=True
            )
        plan: CallPlan = await self._planned(
            schema,
            lambda snap: plan_call(
                api,
                snap,
                payload,
                aggregates_enabled=self.config.db_aggregates_enabled,
                max_rows=self.config.db_max_rows,
            ),
            ("PGRST200", "PGRST202"),
        )
        media = await self._negotiate(api, scalar_media(plan.routine))
        checks: list[Check] = []
        if media.singular:
            checks.append(_singular_check)
        if prefs.handling == "strict" and prefs.max_affected is not None and media.kind != "plan":
            if not plan.routine.returns_set:
                raise max_affected_rpc_violation()
            checks.append(_max_affected_check(prefs.max_affected))
        tx = self._tx(
            api,
            auth,
            schema,
            read_only=plan.read_only,
            timezone=timezone,
            force_rollback=media.kind == "plan" and not plan.read_only,
        )
        statement = call_statement(plan, media)
        mark = _lap(timings, "plan", mark)

        rows = await self.db.run(tx, [statement], _combine(checks))
        mark = _lap(timings, "transaction", mark)
        if media.kind == "plan":
            return plan_response(rows[0], media)
        total, page_total, body, guc_h, guc_s = rows[0]
        applied = preference_applied(
            prefs, tx_allowed=self._tx_allowed, timezone=timezone, max_affected=True
        )
        result = ReadResult(total, page_total, body, guc_h, guc_s)
        if plan.returns_void:
            headers = {"Content-Range": content_range(plan.read.offset, page_total, total)}
            if applied:
                headers["Preference-Applied"] = ", ".join(applied)
            response = finish(b"", 204, headers, media=None, guc_h=guc_h, guc_s=guc_s)
        else:
            response = read_response(
                result,
                lower=plan.read.offset,
                head=api.method == "HEAD",
                media=media,
                preference_applied=applied,
                extra_headers=self._profile_headers(schema),
            )
        _lap(timings, "response", mark)
        return response

    async def _openapi(
        self,
        api: ApiRequest,
        auth: AuthResult,
        schema: str,
        request: Request,
        timings: dict[str, float],
        mark: float,
    ) -> Response:
        if self.config.openapi_mode == "disabled":
            raise openapi_disabled()
        self._media(api)
        snapshot = await self._snapshot(schema)
        statement = readable_relations_statement(
            schema, self.config.openapi_mode == "follow-privileges"
        )
        tx = self._tx(api, auth, schema, read_only=True)
        mark = _lap(timings, "plan", mark)
        (row,) = await self.db.run(tx, [statement])
        mark = _lap(timings, "transaction", mark)
        doc = document(snapshot, json.loads(row[0]), request.headers.get("host", ""))
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        response = Response(b"" if api.method == "HEAD" else body, status_code=200, media_type=None)
        response.headers["Content-Type"] = "application/openapi+json; charset=utf-8"
        _lap(timings, "response", mark)
        return response


def _singular_check(results: list[Any]) -> None:
    page_total = results[-1][1]
    if page_total != 1:
        raise singularity_error(page_total)


def _max_affected_check(limit: int) -> Check:
    def check(results: list[Any]) -> None:
        page_total = results[-1][1]
        if page_total > limit:
            raise max_affected_violation(page_total)

    return check


def _combine(checks: list[Check]) -> Check | None:
    if not checks:
        return None

    def check(results: list[Any]) -> None:
        for one in checks:
            one(results)

    return check


def _lap(timings: dict[str, float], name: str, mark: float) -> float:
    now = time.perf_counter()
    timings[name] = (now - mark) * 1000
    return now


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
    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)], lifespan=lifespan)
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
