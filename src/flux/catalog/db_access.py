"""Typed catalog access: temporary database logins handed out by `flux db` (v2). Never holds
a password; the role name, its tenant, its access and its expiry."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import psycopg

_COLUMNS = "role_name, tenant_id, access, user_id, created_at, expires_at, revoked_at"


@dataclass
class AccessRole:
    role_name: str
    tenant_id: uuid.UUID
    access: str  # read-only | read-write
    user_id: int | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @property
    def read_write(self) -> bool:
        return self.access == "read-write"


def insert(
    conn: psycopg.Connection,
    *,
    role_name: str,
    tenant_id: uuid.UUID,
    cluster_id: str | None,
    access: str,
    user_id: int,
    expires_at: datetime,
) -> AccessRole:
    row = conn.execute(
        "INSERT INTO db_access_roles (role_name, tenant_id, cluster_id, access, user_id,"
        f" expires_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (role_name, tenant_id, cluster_id, access, user_id, expires_at),
    ).fetchone()
    return AccessRole(**row)


def for_tenant(
    conn: psycopg.Connection, tenant_id: uuid.UUID, limit: int = 100
) -> list[AccessRole]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM db_access_roles WHERE tenant_id = %s"
        " ORDER BY created_at DESC LIMIT %s",
        (tenant_id, limit),
    ).fetchall()
    return [AccessRole(**row) for row in rows]


def live_for_tenant(conn: psycopg.Connection, tenant_id: uuid.UUID) -> list[AccessRole]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM db_access_roles WHERE tenant_id = %s AND revoked_at IS NULL",
        (tenant_id,),
    ).fetchall()
    return [AccessRole(**row) for row in rows]


def due(conn: psycopg.Connection, limit: int = 500) -> list[AccessRole]:
    """Roles past their expiry and not yet dropped."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM db_access_roles WHERE revoked_at IS NULL"
        " AND expires_at <= now() ORDER BY expires_at LIMIT %s",
        (limit,),
    ).fetchall()
    return [AccessRole(**row) for row in rows]


def mark_revoked(conn: psycopg.Connection, role_name: str) -> None:
    conn.execute(
        "UPDATE db_access_roles SET revoked_at = now() WHERE role_name = %s AND revoked_at IS NULL",
        (role_name,),
    )
