"""Running a request's statements: the bounded pool and the one-round-trip transaction.

`Database.run()` pipelines BEGIN, the transaction-local settings (role, search_path,
request.jwt.claims, request.method/path/headers/cookies, app.settings.*), the optional
db-pre-request call, the request's statements and COMMIT/ROLLBACK, and sends them with a
single sync: one network round trip when nothing fails. Connection failures become 503
PGRST001 (fast while the database is known to be down), acquisition timeouts 504 PGRST003.

Pool mode (many tenants, hostile SQL) runs each request on a connection that logged in as
the tenant's own role (`TenantPool`), appends the session reset to the same round trip, and
never lends a connection again after an error, cancel or timeout. The plan's statement
timeout is set for the transaction and also enforced from outside by a watchdog that cancels
the backend: tenant SQL can lower its own timeout setting, never the watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from flux.rest.connect import connect
from flux.rest.errors import ApiError, connection_error, from_pg_error, pool_timeout
from flux.rest.sql import Statement
from flux.rest.tenant_pool import RESET_SESSION_SQL, TenantPool, login_refused

# Qualified with pg_catalog: the session's search_path is not ours until this statement ran.
_SETTINGS_SQL = (
    "SELECT pg_catalog.set_config('role', %s, true), "
    "pg_catalog.set_config('search_path', %s, true), "
    "pg_catalog.set_config('request.jwt.claims', %s, true), "
    "pg_catalog.set_config('request.method', %s, true), "
    "pg_catalog.set_config('request.path', %s, true), "
    "pg_catalog.set_config('request.headers', %s, true), "
    "pg_catalog.set_config('request.cookies', %s, true)"
)
# The statements ending a transaction (pipelined with the rest).
_COMMIT = ("COMMIT",)
_ROLLBACK = ("ROLLBACK",)
_CHECKED_ROLLBACK = ("SET CONSTRAINTS ALL IMMEDIATE", "ROLLBACK")
# How long past its statement timeout a pool-mode request may run before the watchdog
# cancels it (server-side timeouts normally fire first).
WATCHDOG_GRACE_SECONDS = 1.0
RETRY_AFTER = {"Retry-After": "1"}


def search_path_value(schemas: tuple[str, ...]) -> str:
    return ", ".join('"' + s.replace('"', '""') + '"' for s in schemas)


def function_call_sql(name: str) -> str:
    """`schema.fn` or `fn` (config value) → `SELECT "schema"."fn"()`."""
    parts = name.split(".", 1)
    quoted = ".".join('"' + p.replace('"', '""').replace("%", "%%") + '"' for p in parts)
    return f"SELECT {quoted}()"


@dataclass(slots=True)
class TxSettings:
    role: str
    search_path: tuple[str, ...]
    claims_json: str
    method: str
    path: str
    headers_json: str
    cookies_json: str
    read_only: bool
    commit: bool
    authenticated: bool
    app_settings: dict[str, str] = field(default_factory=dict)
    pre_request: str | None = None
    timezone: str | None = None
    statement_timeout_ms: int | None = None
    connections: int | None = None  # pool mode: connections this tenant may hold at once


Check = Callable[[list[Any]], None]


class Database:
    """The connection pool and the transaction shape every request uses."""

    def __init__(
        self,
        conninfo: str,
        *,
        size: int,
        acquisition_timeout: float,
        prepared_statements: bool = True,
        configure: Callable[[psycopg.AsyncConnection], Awaitable[None]] | None = None,
        tenant_conninfo: Callable[[str], str] | None = None,
    ) -> None:
        """`size` connections in all. With `tenant_conninfo` (pool mode: role → conninfo of
        that tenant's login), most of them are per-tenant request connections and a few are
        the platform's own, for catalog reads."""
        self._timeout = acquisition_timeout
        self._conninfo = conninfo
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "prepare_threshold": 5 if prepared_statements else None,
        }
        self.tenants: TenantPool | None = None
        if tenant_conninfo is not None:
            # a few platform connections for the schema cache; of the rest, one tenant holds
            # at most a fifth, so several noisy tenants still leave room for the others
            catalog_size = max(1, min(2, size // 10))
            request_size = max(1, size - catalog_size)
            self.tenants = TenantPool(
                tenant_conninfo,
                size=request_size,
                max_per_tenant=min(request_size, max(2, request_size // 5)),
                acquisition_timeout=acquisition_timeout,
                connection_kwargs=kwargs,
            )
            size = catalog_size
        self.pool = AsyncConnectionPool(
            conninfo,
            min_size=size,
            max_size=size,
            kwargs=kwargs,
            open=False,
            timeout=acquisition_timeout,
            reconnect_timeout=5.0,
            name="flux-rest",
            configure=configure,
        )
        self._down = False
        self._probe: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        if self.tenants is not None:
            await self.tenants.close()
        await self.pool.close()

    @property
    def is_down(self) -> bool:
        return self._down

    def stats(self) -> dict[str, int]:
        return self.pool.get_stats() if self.tenants is None else self.tenants.stats()

    # ------------------------------------------------------------- availability
    def _mark_down(self) -> None:
        if self._down:
            return
        self._down = True
        self._probe = asyncio.ensure_future(self._wait_until_up())

    async def _wait_until_up(self) -> None:
        while True:
            try:
                conn = await connect(self._conninfo, connect_timeout=2)
            except psycopg.Error:
                await asyncio.sleep(0.25)
                continue
            await conn.close()
            break
        await self.pool.check()  # drop connections that died with the old server
        if self.tenants is not None:
            await self.tenants.close_idle()
        self._down = False

    async def ping(self) -> bool:
        try:
            async with self.connection() as conn:
                await conn.execute("SELECT 1")
            return True
        except (ApiError, psycopg.Error):
            return False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection for catalog work (schema cache, OpenAPI privileges)."""
        if self._down:
            raise connection_error("the database is unreachable")
        try:
            async with self.pool.connection(timeout=self._timeout) as conn:
                yield conn
        except PoolTimeout:
            raise await self._timeout_error() from None
        except psycopg.OperationalError as exc:
            if exc.sqlstate is None or exc.sqlstate.startswith("08") or exc.sqlstate == "57P01":
                self._mark_down()
                raise connection_error(str(exc).strip() or None) from None
            raise

    async def _timeout_error(self) -> ApiError:
        try:
            conn = await connect(self._conninfo, connect_timeout=2)
        except psycopg.Error as exc:
            self._mark_down()
            return connection_error(str(exc).strip() or None)
        await conn.close()
        return pool_timeout()

    # ------------------------------------------------------------- the request transaction
    async def run(
        self, tx: TxSettings, statements: list[Statement], check: Check | None = None
    ) -> list[Any]:
        """One transaction, pipelined; returns the first row of each statement.

        Statements marked `all_rows` give all their rows, every column as text. With a
        `check`, the transaction end waits for the results: `check(results)` raising an
        ApiError rolls back (one extra round trip, for max-affected and singular writes).
        """
        if self.tenants is None:
            async with self.connection() as conn:
                return await self._transaction(conn, tx, statements, check, pooled=False)
        conn = await self._tenant_connection(tx)
        clean = False
        try:
            timeout = tx.statement_timeout_ms
            deadline = None if timeout is None else timeout / 1000 + WATCHDOG_GRACE_SECONDS
            try:
                async with asyncio.timeout(deadline):
                    results = await self._transaction(conn, tx, statements, check, pooled=True)
            except TimeoutError:
                with contextlib.suppress(psycopg.Error, OSError):
                    await conn.cancel_safe(timeout=2.0)
                raise statement_timeout() from None
            clean = True
            return results
        except ApiError as err:
            if err.code == "57014":  # the plan's statement timeout: the tenant's own 504
                raise statement_timeout() from None
            raise
        finally:
            await self.tenants.give_back(tx.role, conn, reusable=clean)

    async def _tenant_connection(self, tx: TxSettings) -> psycopg.AsyncConnection:
        assert self.tenants is not None
        if self._down:
            raise connection_error("the database is unreachable")
        try:
            return await self.tenants.acquire(tx.role, tx.connections)
        except PoolTimeout:
            # the tenant waited on its own busy connections: that is its cap, not an outage
            own_busy = self.tenants.open_for(tx.role) > 0
            err = pool_timeout() if own_busy else await self._timeout_error()
            err.headers.update(RETRY_AFTER)
            raise err from None
        except psycopg.OperationalError as exc:
            if login_refused(exc):  # this tenant's login, not an outage of the database
                raise ApiError(
                    503,
                    "PGRST001",
                    "Database client error. Retrying the connection.",
                    None,
                    None,
                    dict(RETRY_AFTER),
                ) from None
            self._mark_down()
            raise connection_error(str(exc).strip() or None) from None

    async def _transaction(
        self,
        conn: psycopg.AsyncConnection,
        tx: TxSettings,
        statements: list[Statement],
        check: Check | None,
        *,
        pooled: bool,
    ) -> list[Any]:
        """The pipelined transaction on `conn`; `pooled` (pool mode) appends the session
        reset and leaves a failed connection as is (the caller discards it)."""
        params = [
            tx.role,
            search_path_value(tx.search_path),
            tx.claims_json,
            tx.method,
            tx.path,
            tx.headers_json,
            tx.cookies_json,
        ]
        settings_sql = _SETTINGS_SQL
        for key, value in tx.app_settings.items():
            settings_sql += ", pg_catalog.set_config(%s, %s, true)"
            params += [f"app.settings.{key}", value]
        if tx.timezone is not None:
            settings_sql += ", pg_catalog.set_config('timezone', %s, true)"
            params.append(tx.timezone)
        if tx.statement_timeout_ms is not None:
            settings_sql += ", pg_catalog.set_config('statement_timeout', %s, true)"
            params.append(str(tx.statement_timeout_ms))
        begin = (
            "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
            if tx.read_only
            else "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
        )
        # a rollback the client asked for (or the config forces) still reports deferred
        # constraint violations, as PostgREST does; a failed check rolls back without it
        end = _COMMIT if tx.commit else _ROLLBACK if tx.read_only else _CHECKED_ROLLBACK
        try:
            async with conn.pipeline():
                await conn.execute(begin)
                await conn.execute(settings_sql, params)
                if tx.pre_request:
                    await conn.execute(function_call_sql(tx.pre_request))
                cursors = []
                for st in statements:
                    cur = conn.cursor()
                    if st.all_rows:
                        cur.adapters.register_loader("json", TextLoader)
                        cur.adapters.register_loader("jsonb", TextLoader)
                    cursors.append(await cur.execute(st.sql, st.params))
                if check is None:
                    await self._end(conn, end, pooled)
            results = [
                await (cur.fetchall() if st.all_rows else cur.fetchone())
                for cur, st in zip(cursors, statements, strict=True)
            ]
            if check is not None:
                try:
                    check(results)
                except ApiError:
                    end = _ROLLBACK
                    raise
                finally:
                    async with conn.pipeline():
                        await self._end(conn, end, pooled)
            return results
        except psycopg.Error as exc:
            broken = conn.closed or conn.pgconn.status == pq.ConnStatus.BAD
            in_tx = not broken and conn.pgconn.transaction_status != pq.TransactionStatus.IDLE
            if not broken and exc.sqlstate is None and isinstance(exc, psycopg.DataError):
                # a parameter psycopg refused to send (a NUL character): the client's fault
                if in_tx and not pooled:
                    await conn.execute("ROLLBACK")
                raise ApiError(
                    400, "22021", 'invalid byte sequence for encoding "UTF8": 0x00', str(exc)
                ) from None
            if broken or exc.sqlstate is None or exc.sqlstate == "57P01":
                # Pooled, one tenant's connection can break by that tenant's own doing
                # (pg_terminate_backend of its backend): only failed logins say the database
                # is down, never a single lost connection.
                if broken and not pooled:
                    self._mark_down()
                raise connection_error(str(exc).strip() or None) from None
            if in_tx and not pooled:
                await conn.execute("ROLLBACK")
            raise from_pg_error(exc, tx.authenticated) from None

    @staticmethod
    async def _end(conn: psycopg.AsyncConnection, end: tuple[str, ...], pooled: bool) -> None:
        """End the transaction; pooled, also clear what the request left on the session.

        Never prepared: psycopg counts a statement queued behind an error in an aborted
        pipeline as prepared when it reaches the threshold, and the next request using it then
        fails with "prepared statement does not exist"."""
        for sql in end:
            await conn.execute(sql, prepare=False)
        if pooled:
            await conn.execute(RESET_SESSION_SQL)


def statement_timeout() -> ApiError:
    """The plan's statement timeout ran out (pool mode): the tenant's own 504."""
    return ApiError(
        504,
        "57014",
        "canceling statement due to statement timeout",
        None,
        "The project's plan limits how long one request may run.",
        dict(RETRY_AFTER),
    )
