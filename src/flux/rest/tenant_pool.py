"""Pool mode's connections: per-tenant logins multiplexed under one global bound.

Every connection belongs to one tenant (it logged in as that tenant's runtime role, see
tenant_login.py), so nothing a tenant's SQL leaves on a connection can ever be seen by another
tenant. The pool never holds more than `size` server connections whatever the number of
tenants: a tenant reuses its own idle connections first; when the pool is full, the idle
connection unused the longest (of any tenant) is closed to make room; idle connections are
closed after `idle_timeout`, so idle tenants hold none. One tenant holds at most its
`cap` connections at once (its plan's limit, bounded by `max_per_tenant`), so a tenant that
floods slow queries waits on its own connections while the others keep theirs.

Waiting is bounded by the acquisition timeout (`PoolTimeout`). A connection handed back as
not reusable (after an error, a cancel, a timeout) is closed, never lent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import pq
from psycopg_pool import PoolTimeout

from flux.rest.connect import connect

_IDLE_SWEEP_SECONDS = 5.0

# Everything a request can leave on its session, cleared after each request in the same round
# trip: settings made at session level (RESET ALL restores the login role's defaults),
# cursors, LISTEN, advisory locks, temporary tables, sequence state, and prepared statements
# other than the driver's own (`_pg3_*`; a tenant that drops those breaks only its own
# connection, which is then discarded). Created in each shared database by the v2 engine.
RESET_SESSION_SCHEMA = "flux_pool"
RESET_SESSION_SQL = "SELECT flux_pool.reset_session()"
RESET_SESSION_DDL = """
CREATE SCHEMA IF NOT EXISTS flux_pool;
REVOKE ALL ON SCHEMA flux_pool FROM PUBLIC;
CREATE OR REPLACE FUNCTION flux_pool.reset_session() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
DECLARE
  leftover text;
BEGIN
  RESET ALL;
  EXECUTE 'CLOSE ALL';
  UNLISTEN *;
  PERFORM pg_catalog.pg_advisory_unlock_all();
  DISCARD TEMP;
  DISCARD SEQUENCES;
  FOR leftover IN
    SELECT name FROM pg_catalog.pg_prepared_statements
    WHERE NOT pg_catalog.starts_with(name, '_pg3_')
  LOOP
    EXECUTE pg_catalog.format('DEALLOCATE %I', leftover);
  END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION flux_pool.reset_session() FROM PUBLIC;
"""


class TenantPool:
    """A bounded set of connections, each logged in as one tenant.

    The books (`_idle`, `_open`, `_total`, `_waiters`) change only between awaits, so no lock
    is needed. A connection given back goes straight to the first request of the same tenant
    that waits for one; a freed slot wakes the first waiter that may use it: one wake-up per
    event, never a herd.
    """

    def __init__(
        self,
        conninfo_for: Callable[[str], str],
        *,
        size: int,
        max_per_tenant: int,
        acquisition_timeout: float,
        idle_timeout: float = 60.0,
        connect_timeout: float = 5.0,
        connection_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._conninfo_for = conninfo_for
        self.size = size
        self.max_per_tenant = max(1, max_per_tenant)
        self._timeout = acquisition_timeout
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout
        self._kwargs = connection_kwargs or {}
        self._idle: OrderedDict[psycopg.AsyncConnection, tuple[str, float]] = OrderedDict()
        self._open: dict[str, int] = {}  # per tenant: idle + lent + being opened
        self._total = 0
        # waiting requests in arrival order: future → (tenant, its limit); the future gets a
        # connection handed over, or None ("look again")
        self._waiters: OrderedDict[asyncio.Future[Any], tuple[str, int]] = OrderedDict()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    # ------------------------------------------------------------- lending
    async def acquire(self, tenant: str, cap: int | None = None) -> psycopg.AsyncConnection:
        limit = min(cap or self.max_per_tenant, self.max_per_tenant)
        deadline = time.monotonic() + self._timeout
        self._start_sweeper()
        while True:
            conn, victim = await self._idle_or_slot(tenant, limit, deadline)
            if conn is not None:
                return conn
            if victim is not None:
                await _close_quietly(victim)
            try:
                return await connect(
                    self._conninfo_for(tenant),
                    connect_timeout=self._connect_timeout,
                    **self._kwargs,
                )
            except psycopg.OperationalError as exc:
                self._release_slot(tenant)
                if not _role_limit_reached(exc) or time.monotonic() >= deadline:
                    raise
                # The tenant's connection limit on the server is reached (other pool workers
                # hold the rest): wait for one of its own connections, or retry shortly.
                limit = max(1, min(limit, self.open_for(tenant)))
                if self.open_for(tenant) == 0:
                    await asyncio.sleep(0.05)
            except BaseException:
                self._release_slot(tenant)
                raise

    async def _idle_or_slot(
        self, tenant: str, limit: int, deadline: float
    ) -> tuple[psycopg.AsyncConnection | None, psycopg.AsyncConnection | None]:
        """The tenant's connection (idle or handed over), or a reserved slot for a new one
        (with the idle connection of another tenant to close first, when the pool is full)."""
        while True:
            conn = self._take_idle(tenant)
            if conn is not None:
                return conn, None
            if self._open.get(tenant, 0) < limit:
                victim = self._oldest_idle() if self._total >= self.size else None
                if self._total < self.size or victim is not None:
                    if victim is not None:
                        self._forget(victim)
                    self._total += 1
                    self._open[tenant] = self._open.get(tenant, 0) + 1
                    return None, victim
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PoolTimeout(f"no connection for {tenant} within {self._timeout}s")
            handed = await self._wait(tenant, limit, remaining)
            if handed is not None:
                return handed, None

    async def _wait(
        self, tenant: str, limit: int, timeout: float
    ) -> psycopg.AsyncConnection | None:
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[waiter] = (tenant, limit)
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        except BaseException:
            # cancelled just as a connection was handed over: pass it on, do not lose it
            if waiter.done() and not waiter.cancelled() and waiter.result() is not None:
                self._pass_on(tenant, waiter.result())
            raise
        finally:
            self._waiters.pop(waiter, None)

    async def give_back(
        self, tenant: str, conn: psycopg.AsyncConnection, *, reusable: bool
    ) -> None:
        clean = (
            reusable
            and not self._closed
            and not conn.closed
            and conn.pgconn.status == pq.ConnStatus.OK
            and conn.pgconn.transaction_status == pq.TransactionStatus.IDLE
        )
        if clean:
            self._pass_on(tenant, conn)
            return
        self._release_slot(tenant)
        await _close_quietly(conn)

    def _pass_on(self, tenant: str, conn: psycopg.AsyncConnection) -> None:
        """Hand `conn` to the tenant's first waiter, or keep it idle and wake a waiter that
        may take its place."""
        for waiter, (waiting_for, _) in self._waiters.items():
            if waiting_for == tenant and not waiter.done():
                waiter.set_result(conn)
                return
        self._idle[conn] = (tenant, time.monotonic())
        self._wake_one()

    def _wake_one(self) -> None:
        """Wake the first waiter that may open a connection (the pool has a free slot, or an
        idle connection of another tenant to close)."""
        for waiter, (tenant, limit) in self._waiters.items():
            if not waiter.done() and self._open.get(tenant, 0) < limit:
                waiter.set_result(None)
                return

    # ------------------------------------------------------------- bookkeeping
    def _take_idle(self, tenant: str) -> psycopg.AsyncConnection | None:
        """The tenant's most recently used idle connection, if any."""
        for conn in reversed(self._idle):
            if self._idle[conn][0] == tenant:
                del self._idle[conn]
                return conn
        return None

    def _oldest_idle(self) -> psycopg.AsyncConnection | None:
        return next(iter(self._idle), None)

    def _forget(self, conn: psycopg.AsyncConnection) -> None:
        """Drop an idle connection from the books; the caller closes it."""
        tenant, _ = self._idle.pop(conn)
        self._release_slot(tenant)

    def _release_slot(self, tenant: str) -> None:
        self._total -= 1
        left = self._open.get(tenant, 1) - 1
        if left > 0:
            self._open[tenant] = left
        else:
            self._open.pop(tenant, None)
        self._wake_one()

    def _start_sweeper(self) -> None:
        if self._sweeper is None and not self._closed:
            self._sweeper = asyncio.ensure_future(self._sweep())

    async def _sweep(self) -> None:
        """Close connections idle longer than the idle timeout, so idle tenants hold none."""
        while True:
            await asyncio.sleep(_IDLE_SWEEP_SECONDS)
            await self.close_idle(older_than=self._idle_timeout)

    async def close_idle(self, older_than: float = 0.0) -> int:
        """Close idle connections unused for `older_than` seconds; how many were closed."""
        cutoff = time.monotonic() - older_than
        stale = [c for c, (_, since) in self._idle.items() if since <= cutoff]
        for conn in stale:
            self._forget(conn)
        for conn in stale:
            await _close_quietly(conn)
        return len(stale)

    def stats(self) -> dict[str, int]:
        return {
            "pool_size": self._total,
            "pool_available": len(self._idle),
            "requests_waiting": len(self._waiters),
            "tenants_connected": len(self._open),
        }

    def open_for(self, tenant: str) -> int:
        return self._open.get(tenant, 0)

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self.close_idle()


def _role_limit_reached(exc: psycopg.OperationalError) -> bool:
    """A login refused by the role's CONNECTION LIMIT (libpq reports no SQLSTATE for errors
    during connection start-up, only the server's message)."""
    return exc.sqlstate == "53300" or "too many connections for role" in str(exc)


def login_refused(exc: psycopg.OperationalError) -> bool:
    """The server answered but refused this login (bad password, connection limit): the
    database is up."""
    sqlstate = exc.sqlstate or ""
    return (
        sqlstate.startswith(("28", "53"))
        or _role_limit_reached(exc)
        or "password authentication failed" in str(exc)
    )


async def _close_quietly(conn: psycopg.AsyncConnection) -> None:
    with contextlib.suppress(psycopg.Error, OSError):
        await conn.close()
