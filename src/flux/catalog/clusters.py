"""Typed catalog access: shared clusters (the dsn is a secret: never logged or returned)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class ClusterRecord:
    id: str
    dsn: str
    role: str
    capacity: int
    status: str

    def __repr__(self) -> str:  # keep the dsn out of logs and tracebacks
        return f"ClusterRecord(id={self.id!r}, role={self.role!r}, status={self.status!r})"


def register_cluster(conn: psycopg.Connection, cluster_id: str, dsn: str) -> None:
    conn.execute(
        "INSERT INTO clusters (id, dsn) VALUES (%s, %s)"
        " ON CONFLICT (id) DO UPDATE SET dsn = EXCLUDED.dsn",
        (cluster_id, dsn),
    )


def get_cluster(conn: psycopg.Connection, cluster_id: str) -> ClusterRecord | None:
    row = conn.execute(
        "SELECT id, dsn, role, capacity, status FROM clusters WHERE id = %s", (cluster_id,)
    ).fetchone()
    return ClusterRecord(**row) if row else None


def pick_shared_cluster(conn: psycopg.Connection) -> ClusterRecord | None:
    """The active shared cluster with the most free capacity."""
    row = conn.execute(
        "SELECT c.id, c.dsn, c.role, c.capacity, c.status FROM clusters c"
        " LEFT JOIN projects p ON p.cluster_id = c.id"
        " WHERE c.status = 'active' AND c.role = 'shared'"
        " GROUP BY c.id HAVING count(p.tenant_id) < c.capacity"
        " ORDER BY c.capacity - count(p.tenant_id) DESC, c.id LIMIT 1"
    ).fetchone()
    return ClusterRecord(**row) if row else None
