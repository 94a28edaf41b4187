"""Connection handling for the catalog database `flux_system` (a bounded psycopg pool)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from flux.catalog.migrate import migrate


class Catalog:
    """The catalog: a small pool plus the typed query modules' entry point."""

    def __init__(self, conninfo: str, *, max_size: int = 8) -> None:
        self.conninfo = conninfo
        self.pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_size,
            timeout=10,
            kwargs={"row_factory": dict_row},
            open=True,
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    def migrate(self) -> list[str]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return migrate(conn)

    def close(self) -> None:
        self.pool.close()
