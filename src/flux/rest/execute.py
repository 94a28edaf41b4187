"""Running a request's statements: the bounded pool and the one-round-trip transaction.

`Database.run()` pipelines BEGIN, the transaction-local settings (role, search_path,
request.jwt.claims, request.method/path/headers/cookies, app.settings.*), the optional
db-pre-request call, the request's statements and COMMIT/ROLLBACK, and sends them with a
single sync: one network round trip when nothing fails. Connection failures become 503
PGRST001 (fast while the database is known to be down), acquisition timeouts 504 PGRST003.
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

from flux.rest.errors import ApiError, connection_error, from_pg_error, pool_timeout
from flux.rest.sql import Statement

_SETTINGS_SQL = (
    "SELECT set_config('role', %s, true), set_config('search_path', %s, true), "
    "set_config('request.jwt.claims', %s, true), set_config('request.method', %s, true), "
    "set_config('request.path', %s, true), set_config('request.headers', %s, true), "
    "set_config('request.cookies', %s, true)"
)


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
    ) -> None:
        self._timeout = acquisition_timeout
        self._conninfo = conninfo
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "prepare_threshold": 5 if prepared_statements else None,
        }
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
        await self.pool.close()

    @property
    def is_down(self) -> bool:
        return self._down

    def stats(self) -> dict[str, int]:
        return self.pool.get_stats()

    # ------------------------------------------------------------- availability
    def _mark_down(self) -> None:
        if self._down:
            return
        self._down = True
        self._probe = asyncio.ensure_future(self._wait_until_up())

    async def _wait_until_up(self) -> None:
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, connect_timeout=2)
            except psycopg.Error:
                await asyncio.sleep(0.25)
                continue
            await conn.close()
            break
        await self.pool.check()  # drop connections that died with the old server
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
            conn = await psycopg.AsyncConnection.connect(self._conninfo, connect_timeout=2)
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
            settings_sql += ", set_config(%s, %s, true)"
            params += [f"app.settings.{key}", value]
        if tx.timezone is not None:
            settings_sql += ", set_config('timezone', %s, true)"
            params.append(tx.timezone)
        begin = (
            "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
            if tx.read_only
            else "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
        )
        end = "COMMIT" if tx.commit else "ROLLBACK"
        async with self.connection() as conn:
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
                        await conn.execute(end)
                results = [
                    await (cur.fetchall() if st.all_rows else cur.fetchone())
                    for cur, st in zip(cursors, statements, strict=True)
                ]
                if check is not None:
                    try:
                        check(results)
                    except ApiError:
                        await conn.execute("ROLLBACK")
                        raise
                    await conn.execute(end)
                return results
            except psycopg.Error as exc:
                broken = conn.closed or conn.pgconn.status == pq.ConnStatus.BAD
                if not broken and exc.sqlstate is None and isinstance(exc, psycopg.DataError):
                    # a parameter psycopg refused to send (a NUL character): the client's fault
                    if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                        await conn.execute("ROLLBACK")
                    raise ApiError(
                        400, "22021", 'invalid byte sequence for encoding "UTF8": 0x00', str(exc)
                    ) from None
                if broken or exc.sqlstate is None or exc.sqlstate == "57P01":
                    if broken:
                        self._mark_down()
                    raise connection_error(str(exc).strip() or None) from None
                if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                    await conn.execute("ROLLBACK")
                raise from_pg_error(exc, tx.authenticated) from None
