"""Connection handling for the catalog database `flux_system` (a bounded psycopg pool).

The catalog's server can die and be restarted by the platform supervisor (`flux up`). Every
checkout therefore checks that the pooled connection is alive (an empty query); a dead one
makes the catalog probe the server directly: when the probe works the pool drops its dead
connections and the checkout is retried, otherwise `CatalogUnavailable` (503) is raised at
once and, until a later probe works, further checkouts fail fast instead of waiting for the
pool's timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from flux.availability import Breaker, is_disconnect
from flux.catalog.migrate import migrate
from flux.errors import FluxError

PROBE_CONNECT_TIMEOUT = 1  # seconds; a local server answers at once or not at all


class CatalogUnavailable(FluxError):
    """The catalog database cannot be reached (or has no free connection) right now."""

    def __init__(self) -> None:
        super().__init__(
            "the platform database is unavailable",
            code="catalog_unavailable",
            hint="it is being restarted or is overloaded; retry in a few seconds",
            status=503,
        )


class Catalog:
    """The catalog: a small pool plus the typed query modules' entry point."""

    def __init__(self, conninfo: str, *, max_size: int = 8, timeout: float = 10.0) -> None:
        self.conninfo = conninfo
        self.pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            timeout=timeout,
            kwargs={"row_factory": dict_row},
            open=True,
        )
        self._breaker = Breaker()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        conn = self._checkout()
        try:
            with conn:  # commits on success, rolls back on error (a pooled one stays open)
                yield conn
        except psycopg.OperationalError as exc:
            if not is_disconnect(exc):
                raise
            self._breaker.trip()
            raise CatalogUnavailable() from exc
        finally:
            self.pool.putconn(conn)  # a broken connection is discarded by the pool

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        with self.connection() as conn, conn.transaction():
            yield conn

    def _checkout(self) -> psycopg.Connection:
        if self._breaker.down and not self._probe():
            raise CatalogUnavailable()
        for _ in range(2):
            try:
                conn = self.pool.getconn()
            except PoolTimeout:
                self._probe()  # busy, or down: either way the caller gets a 503 now
                raise CatalogUnavailable() from None
            try:
                ConnectionPool.check_connection(conn)
            except psycopg.Error:
                self.pool.putconn(conn)
                if not self._probe():
                    raise CatalogUnavailable() from None
                continue  # the server is back (restarted): the pool dropped its dead ones
            return conn
        raise CatalogUnavailable()

    def _probe(self) -> bool:
        """Connect directly; on success drop the pool's dead connections and reset."""
        if not self._breaker.claim_probe():
            return False
        try:
            psycopg.connect(self.conninfo, connect_timeout=PROBE_CONNECT_TIMEOUT).close()
        except psycopg.Error:
            self._breaker.trip()
            return False
        self.pool.check()
        self._breaker.reset()
        return True

    def migrate(self) -> list[str]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return migrate(conn)

    def close(self) -> None:
        self.pool.close()
